"""`qnetinspect show` (text, JSON, DOT, Mermaid), `discover`, and the text/graph renderers."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from qnetinspect.models import Hub, HubPort, NetClient, Snapshot, TargetFailure, Topology
from qnetinspect.report.dot import render_dot, render_mermaid
from qnetinspect.vmrunner import QemuProcess, free_loopback_port
from tests.conftest import run_cli

StartVm = Callable[..., QemuProcess]
CAPTURES = Path(__file__).resolve().parent.parent / "fixtures" / "captures" / "qemu-7.2.22"
SEED = CAPTURES / "legacy_seed_user_socket_listen.json"


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


@pytest.mark.qemu
def test_show_text_of_real_leak(start_vm: StartVm, capsys: pytest.CaptureFixture[str]) -> None:
    """show on a real leaking VM: its name, QEMU facts, the hub diagram and the finding."""
    vm = start_vm(["-net", "nic", "-net", "user", "-net", "nic",
                   "-net", f"socket,listen=127.0.0.1:{free_loopback_port()}"], vm_name="showme")
    code, out, err = run_cli(capsys, "show", str(vm.qmp_path))
    assert code == 0, err
    first, facts, *_ = out.splitlines()
    assert first.startswith(f"== showme ({vm.qmp_path})")
    assert facts.startswith("QEMU ") and f"pid {vm.pid}" in facts
    assert "hub0port3" in out
    assert "CRITICAL nat-external-hub [hub 0]: " in out
    assert "\x1b[" not in out  # no colour off a terminal


def test_show_unreachable_exits_1_and_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unreachable target is named with its error kind; show exits 1, others still shown."""
    code, out, _ = run_cli(capsys, "show", f"file:{SEED}", str(tmp_path / "gone.qmp"))
    assert code == 1
    assert f"== {tmp_path / 'gone.qmp'} ==\nUNREACHABLE not-found: " in out
    assert "nat-external-hub" in out


def test_show_json(capsys: pytest.CaptureFixture[str]) -> None:
    """show --format json: schema 1, the topology and the findings per target."""
    code, out, _ = run_cli(capsys, "show", "--format", "json", f"file:{SEED}")
    doc = json.loads(out)
    assert code == 0 and doc["schema"] == 1 and "status" not in doc
    (t,) = doc["targets"]
    assert [p["name"] for p in t["topology"]["hubs"][0]["ports"]] == [
        "hub0port0", "hub0port1", "hub0port2", "hub0port3"
    ]
    assert t["live"] is False
    assert any(f["rule"] == "nat-external-hub" for f in t["findings"])


def test_show_dot_and_mermaid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """show --format dot / mermaid draw hub 0 with its four peers and the unreachable VM."""
    code, dot, _ = run_cli(capsys, "show", "--format", "dot", f"file:{SEED}",
                            str(tmp_path / "gone.qmp"))
    assert code == 1 and dot.startswith("digraph qnetinspect {")
    assert dot.count("vm0_n0 -> ") == 4 and "unreachable: not-found" in dot
    if shutil.which("dot"):
        check = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True,
                               check=False)
        assert check.returncode == 0, check.stderr
    _, mermaid, _ = run_cli(capsys, "show", "--format", "mermaid", f"file:{SEED}")
    assert mermaid.startswith("flowchart LR\n")
    assert mermaid.count("vm0_n0 -->|") == 4 and "class vm0_n3 nat" in mermaid


def test_dot_and_mermaid_mark_the_leaking_hub(capsys: pytest.CaptureFixture[str]) -> None:
    """The seed's hub 0 joins NAT and a socket: DOT and Mermaid draw it red, name the rule in
    its label and list the VM's findings in a legend; a clean VM gets neither."""
    _, dot, _ = run_cli(capsys, "show", "--format", "dot", f"file:{SEED}")
    hub = next(line for line in dot.splitlines() if "vm0_n0 [" in line)
    assert 'label="hub 0: nat-external-hub"' in hub and 'fillcolor="#ff6060"' in hub
    legend = next(line for line in dot.splitlines() if "vm0_legend [" in line)
    assert "CRITICAL nat-external-hub (hub 0): " in legend and "shape=note" in legend
    _, mermaid, _ = run_cli(capsys, "show", "--format", "mermaid", f"file:{SEED}")
    assert 'vm0_n0{"hub 0: nat-external-hub"}' in mermaid and "class vm0_n0 leak" in mermaid
    assert "classDef leak fill:#ff6060" in mermaid
    assert "CRITICAL nat-external-hub (hub 0)" in mermaid.split("vm0_legend[")[1]
    clean = Snapshot(target="ok", topology=Topology(
        hubs=(Hub(id=1, ports=(HubPort(name="p0", peer=None),)),)))
    assert "legend" not in render_dot([clean], []) and "#ff6060" not in render_dot([clean], [])


def test_graph_labels_are_escaped() -> None:
    """Names with quotes, # and backslashes only appear escaped inside labels."""
    odd = NetClient(name='we"ird\\#1', type="socket")
    nic = NetClient(name="e1000.0", type="nic", info={"model": "e1000"}, peer=odd)
    snap = Snapshot(target='t"1', topology=Topology(
        hubs=(Hub(id=3, ports=(HubPort(name="p0", peer=None),)),), clients=(nic,)))
    down = Snapshot(target="x", error=TargetFailure("refused", "no"))
    dot = render_dot([snap, down])
    assert 'label="we\\"ird\\\\#1 (socket)"' in dot and 'label="t\\"1"' in dot
    mermaid = render_mermaid([snap, down])
    assert '(["we#quot;ird\\#1 (socket)"])' in mermaid
    assert "unreachable: refused" in mermaid


def test_colour_only_on_a_terminal_without_no_color(tmp_path: Path) -> None:
    """On a terminal show colours severities; NO_COLOR turns it off."""

    def run_on_pty(env: dict[str, str]) -> bytes:
        leader, follower = pty.openpty()
        proc = subprocess.Popen([sys.executable, "-m", "qnetinspect", "show", f"file:{SEED}"],
                                stdout=follower, stderr=subprocess.DEVNULL, env=env)
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        proc.wait(60)
        os.close(leader)
        return b"".join(chunks)

    base = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    base.update({"TERM": "xterm-256color", "XDG_CONFIG_HOME": str(tmp_path)})
    coloured = run_on_pty(base)
    plain = run_on_pty({**base, "NO_COLOR": "1"})
    assert b"nat-external-hub" in coloured and b"\x1b[" in coloured
    assert b"nat-external-hub" in plain and b"\x1b[" not in plain


def test_show_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A bad format or a glob matching nothing: exit 2 with one line."""
    code, out, err = run_cli(capsys, "show", "--format", "svg", "x")
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    code, out, err = run_cli(capsys, "show", "/nonexistent-qni/*.qmp")
    assert code == 2 and out == "" and "glob matches no file" in err


@pytest.mark.qemu
def test_discover_command_lists_real_qemu(
    start_vm: StartVm, capsys: pytest.CaptureFixture[str]
) -> None:
    """discover lists a real QEMU (pid, name, socket, source) in text and JSON."""
    vm = start_vm([], vm_name="guest=disc-cli,debug-threads=on")
    code, out, _ = run_cli(capsys, "discover")
    line = next(ln for ln in out.splitlines() if str(vm.qmp_path) in ln)
    assert code == 0 and line.split()[:3] == [str(vm.pid), "disc-cli", str(vm.qmp_path)]
    assert "-qmp unix:" in line
    code, out, _ = run_cli(capsys, "discover", "--format", "json")
    doc = json.loads(out)
    (mine,) = [v for v in doc["found"] if v["address"] == str(vm.qmp_path)]
    assert (mine["pid"], mine["name"]) == (vm.pid, "disc-cli")
