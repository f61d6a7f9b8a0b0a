"""`qnetinspect check`: monitoring-plugin exit codes, status line, JSON, Prometheus, --output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fakepeers import dead_socket, fake_peer

from qnetinspect.vmrunner import QemuProcess
from tests.conftest import leak_args, run_cli

StartVm = Callable[..., QemuProcess]
CAPTURES = Path(__file__).resolve().parent.parent / "fixtures" / "captures" / "qemu-7.2.22"
SEED = CAPTURES / "legacy_seed_user_socket_listen.json"
CLEAN = CAPTURES / "netdev_user_virtio.json"


def qni(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "qnetinspect", *args], capture_output=True,
                          text=True, input=stdin, timeout=60, env=env, check=False)


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # no config of the host


@pytest.mark.qemu
def test_leaking_vm_is_critical_and_broken_targets_are_named(
    start_vm: StartVm, tmp_path: Path
) -> None:
    """The seed leak makes check exit 2 naming nat-external-hub on hub 0; every broken target
    is named with its error kind, and the healthy VM is still inspected."""
    leak = start_vm(leak_args(), name="leak", vm_name="leaky")
    fine = start_vm(["-netdev", "user,id=u0", "-device",
                     "virtio-net-pci,netdev=u0,id=n0,mac=52:54:00:5e:00:01"], name="fine")
    with fake_peer(tmp_path / "garbage.sock", "garbage"), \
            fake_peer(tmp_path / "silent.sock", "silent"), \
            fake_peer(tmp_path / "cut.sock", "cut"), \
            fake_peer(tmp_path / "fail.sock", "fail"), \
            dead_socket(tmp_path / "dead.sock"):
        out = qni("check", "--timeout", "1", str(leak.qmp_path), str(fine.qmp_path),
                  str(tmp_path / "missing.qmp"), str(tmp_path / "dead.sock"),
                  str(tmp_path / "garbage.sock"), str(tmp_path / "silent.sock"),
                  str(tmp_path / "cut.sock"), str(tmp_path / "fail.sock"))
    assert out.returncode == 2, out.stdout + out.stderr
    status, *details = out.stdout.splitlines()
    assert status.startswith("QNETINSPECT CRITICAL - 8 VMs: 1 critical (nat-external-hub on "
                             "leaky hub 0)")
    assert "| 'vms'=8;;;0 'unreachable'=6;;;0 'critical'=1;;;0" in status
    for name, kind in [("missing.qmp", "not-found"), ("dead.sock", "refused"),
                       ("garbage.sock", "not-qmp"), ("silent.sock", "busy"),
                       ("cut.sock", "disconnected"), ("fail.sock", "command-failed")]:
        assert any(d.startswith(f"UNREACHABLE {tmp_path / name}: {kind}: ") for d in details)
        assert f"{tmp_path / name}: {kind}" in status
    assert any(d.startswith("CRITICAL nat-external-hub: leaky: hub 0") for d in details)
    assert out.stderr == ""


@pytest.mark.qemu
def test_clean_vm_is_ok(start_vm: StartVm) -> None:
    """A VM with one virtio NIC on its own user backend: exit 0, QNETINSPECT OK."""
    vm = start_vm(["-netdev", "user,id=u0", "-device",
                   "virtio-net-pci,netdev=u0,id=n0,mac=52:54:00:5e:00:02"])
    out = qni("check", str(vm.qmp_path))
    assert (out.returncode, out.stdout.split(" | ")[0]) == (
        0, "QNETINSPECT OK - 1 VM: no problems"
    ), out.stdout


@pytest.mark.parametrize(("mode", "code", "state"), [
    (None, 1, "WARNING"), ("ok", 0, "OK"), ("warning", 1, "WARNING"),
    ("critical", 2, "CRITICAL"), ("unknown", 3, "UNKNOWN"),
])
def test_unreachable_state_is_selectable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str | None, code: int, state: str
) -> None:
    """An unreachable target counts as --unreachable (default warning), always named."""
    opts = ["--unreachable", mode] if mode else []
    returncode, stdout, _ = run_cli(capsys, "check", *opts, str(tmp_path / "gone.qmp"))
    assert returncode == code
    assert stdout.startswith(f"QNETINSPECT {state} - 1 VM: 1 unreachable "
                                 f"({tmp_path / 'gone.qmp'}: not-found)")


def test_unknown_unreachable_never_hides_critical(tmp_path: Path) -> None:
    """--unreachable unknown with a critical finding elsewhere is still CRITICAL (exit 2)."""
    out = qni("check", "--unreachable", "unknown", f"file:{SEED}", str(tmp_path / "gone.qmp"))
    assert out.returncode == 2 and out.stdout.startswith("QNETINSPECT CRITICAL - 2 VMs")


@pytest.mark.parametrize("args", [
    ["--format", "xml", "x.qmp"],
    ["--bogus", "x.qmp"],
    ["--timeout", "-1", "x.qmp"],
    ["--timeout", "soon", "x.qmp"],
    ["/nonexistent-dir-qni/*.qmp"],
    ["tcp:127.0.0.1:notaport"],
    ["--config", "/nonexistent-qni.toml", "x.qmp"],
    [],
])
def test_usage_errors_are_unknown_with_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    """Bad usage of check exits 3 (UNKNOWN) with one line on stderr, nothing on stdout."""
    code, stdout, stderr = run_cli(capsys, "check", *args)
    assert code == 3, stderr
    assert stdout == ""
    assert len(stderr.strip().splitlines()) == 1, stderr


def test_json_contract(tmp_path: Path) -> None:
    """--format json: schema 1, status, per-target error/topology/findings, all findings."""
    out = qni("check", "--format", "json", f"file:{SEED}", str(tmp_path / "gone.qmp"))
    assert out.returncode == 2
    doc = json.loads(out.stdout)
    assert (doc["schema"], doc["status"]) == (1, "critical")
    seed, gone = doc["targets"]
    assert seed["error"] is None and seed["topology"]["hubs"][0]["id"] == 0
    assert gone["error"]["kind"] == "not-found" and gone["topology"] is None
    assert {"rule": "nat-external-hub", "hub": 0} .items() <= next(
        f for f in seed["findings"] if f["rule"] == "nat-external-hub").items()
    assert any(f["rule"] == "nat-external-hub" for f in doc["findings"])
    assert doc["summary"]["unreachable"] == 1


def test_prometheus_textfile_written_atomically(tmp_path: Path) -> None:
    """--format prometheus --output FILE: metrics in FILE, no temp file left, stdout empty."""
    dest = tmp_path / "prom" / "qnetinspect.prom"
    dest.parent.mkdir()
    out = qni("check", "--format", "prometheus", "--output", str(dest), f"file:{SEED}",
              str(tmp_path / "gone.qmp"))
    assert out.returncode == 2 and out.stdout == ""
    text = dest.read_text()
    assert f'qnetinspect_up{{target="file:{SEED}",vm=""}} 1.0' in text
    assert f'qnetinspect_up{{target="{tmp_path / "gone.qmp"}",vm=""}} 0.0' in text
    assert 'qnetinspect_findings{rule="nat-external-hub",severity="critical"' in text
    assert "qnetinspect_targets 2.0" in text and "qnetinspect_scrape_duration_seconds" in text
    assert os.listdir(dest.parent) == ["qnetinspect.prom"]


def test_nagios_output_file(tmp_path: Path) -> None:
    """--output FILE with the nagios format writes the report there, not to stdout."""
    dest = tmp_path / "status.txt"
    out = qni("check", "--output", str(dest), f"file:{CLEAN}")
    assert out.stdout == "" and dest.read_text().startswith("QNETINSPECT ")
    assert sorted(os.listdir(tmp_path)) == ["status.txt"]


def test_output_into_missing_dir_is_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An --output path that cannot be written is UNKNOWN (3) with one line."""
    code, _, stderr = run_cli(capsys, "check", "--output", str(tmp_path / "no" / "f.txt"),
                               f"file:{CLEAN}")
    assert code == 3 and "--output" in stderr and len(stderr.splitlines()) == 1


def test_stdin_target() -> None:
    """check - reads info network text from stdin (as piped from virsh)."""
    text = json.loads(SEED.read_text())["info_network"]
    out = qni("check", "-", stdin=text)
    assert out.returncode == 2 and "nat-external-hub on - hub 0" in out.stdout


def test_check_imports_stay_light() -> None:
    """check imports neither textual nor rich (nor prometheus_client unless asked)."""
    probe = (
        "import sys\n"
        "from qnetinspect.cli import main\n"
        f"main(['check', 'file:{CLEAN}'])\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'textual', 'rich', 'prometheus_client'})\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60, check=False)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


@pytest.mark.qemu
def test_check_auto_inspects_discovered_vms(start_vm: StartVm) -> None:
    """check auto inspects the QEMUs discovery finds (ours checked by socket path)."""
    leak = start_vm(leak_args(), name="auto1", vm_name="guest=auto-leak,debug-threads=on")
    out = qni("check", "auto", "--format", "json", "--timeout", "2")
    doc = json.loads(out.stdout)
    mine = [t for t in doc["targets"] if t["target"] == str(leak.qmp_path)]
    assert len(mine) == 1
    (t,) = mine
    assert t["error"] is None and t["vm"]["name"] == "auto-leak" and t["vm"]["pid"] == leak.pid
    assert any(f["rule"] == "nat-external-hub" and f["hub"] == 0 for f in t["findings"])
    assert out.returncode == 2


def test_targets_and_timeout_from_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no TARGET, check inspects the config's targets (and --config names the file)."""
    config = tmp_path / "qni.toml"
    config.write_text(f'targets = ["file:{SEED}"]\ntimeout = 2.5\n')
    code, out, _ = run_cli(capsys, "check", "--config", str(config))
    assert code == 2 and out.startswith("QNETINSPECT CRITICAL - 1 VM: 1 critical")
