"""``qnetinspect demo``: real VMs started and always stopped; the replay fallback without QEMU."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import types
from collections.abc import Sequence
from pathlib import Path

import pytest

from qnetinspect.cli import demo as demo_cli
from qnetinspect.demo import DEMO_VMS, bundled_captures, start_demo_vms
from qnetinspect.vmrunner import QemuProcess, qemu_fleet
from tests.conftest import PtyProcess

NAMES = [vm.name for vm in DEMO_VMS]
_PIDS = re.compile(r"\(pids ([\d ]+)\)")
_DIR = re.compile(r" in (\S+) \(")


def _demo(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "qnetinspect", "demo", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _alive(pid: int) -> bool:
    """True if the process exists and is not a zombie (a zombie holds no sockets or memory)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _read_until(proc: subprocess.Popen[str], marker: str) -> str:
    assert proc.stderr is not None
    seen = ""
    while marker not in seen:
        line = proc.stderr.readline()
        if not line:
            raise AssertionError(f"demo ended before {marker!r}: {seen}")
        seen += line
    return seen


def _pids(stderr: str) -> list[int]:
    match = _PIDS.search(stderr)
    assert match, stderr
    return [int(p) for p in match.group(1).split()]


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=30)


@pytest.mark.qemu
def test_demo_no_tui_shows_the_leak_and_stops_every_vm() -> None:
    """demo --no-tui starts five QEMUs, reports the NAT leak, stops them all, removes its dir."""
    proc = _demo("--no-tui")
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        _stop(proc)
    assert proc.returncode == 0, err
    pids = _pids(err)
    assert len(pids) == len(DEMO_VMS)
    assert not any(_alive(p) for p in pids)
    workdir = _DIR.search(err)
    assert workdir and not Path(workdir.group(1)).exists()
    for name in NAMES:
        assert f"== {name} (" in out
    leaky = out.split("== separated-hubs (")[0]
    assert "CRITICAL nat-external-hub" in leaky
    assert "nat-external-hub" not in out.split("== separated-hubs (")[1]
    # segment-a and segment-b share one socket segment with the same default MAC
    segment_a = out.split("== segment-a (")[1].split("== segment-b (")[0]
    assert "CRITICAL duplicate-mac" in segment_a and "segment-b/segnic" in segment_a
    # the critical names only the VMs on that segment; a NAT-only VM's MAC never meets theirs
    critical = next(line for line in segment_a.splitlines() if "CRITICAL duplicate-mac" in line)
    assert "leaky-legacy-hub" not in critical and "clean-pair" not in critical
    clean = out.split("== clean-pair (")[1].split("== segment-a (")[0]
    assert "duplicate-mac" not in clean


@pytest.mark.qemu
@pytest.mark.parametrize(
    ("signum", "code"),
    [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, 130), (signal.SIGHUP, 128 + 1)],
)
def test_demo_stops_every_vm_when_signalled(signum: int, code: int) -> None:
    """A held demo killed by SIGTERM, SIGINT or SIGHUP stops all its QEMUs and exits 128+N."""
    proc = _demo("--no-tui", "--hold")
    try:
        err = _read_until(proc, "ready")
        pids = _pids(err)
        assert all(_alive(p) for p in pids)
        proc.send_signal(signum)
        proc.wait(timeout=30)
    finally:
        _stop(proc)
    assert proc.returncode == code
    assert not any(_alive(p) for p in pids)


@pytest.mark.qemu
def test_demo_killed_by_sigkill_leaves_no_qemu() -> None:
    """Even SIGKILL of the demo takes its QEMUs down (PR_SET_PDEATHSIG)."""
    proc = _demo("--no-tui", "--hold")
    try:
        err = _read_until(proc, "ready")
        pids = _pids(err)
        proc.kill()
        proc.wait(timeout=30)
    finally:
        _stop(proc)
    workdir = _DIR.search(err)
    if workdir:  # a SIGKILLed demo cannot remove its directory
        shutil.rmtree(workdir.group(1), ignore_errors=True)
    for pid in pids:
        for _ in range(500):  # the kernel delivers the death signal asynchronously
            if not _alive(pid):
                break
            time.sleep(0.01)
        assert not _alive(pid), pid


@pytest.mark.qemu
def test_demo_stops_every_vm_when_the_report_crashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception while presenting still stops every VM already started."""
    started: list[QemuProcess] = []

    def spy(workdir: Path, vms: list[QemuProcess], **kw: object) -> list[QemuProcess]:
        result = start_demo_vms(workdir, vms)
        started.extend(result)
        return result

    def crash(*args: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr("qnetinspect.demo.start_demo_vms", spy)
    monkeypatch.setattr(demo_cli, "_present", crash)
    args = argparse.Namespace(no_tui=True, hold=False, keep_dir=False, replay=False)
    with pytest.raises(RuntimeError, match="boom"):
        demo_cli.run(args)
    assert len(started) == len(DEMO_VMS)
    assert not any(vm.alive() for vm in started)


def test_demo_without_qemu_says_how_to_install_and_replays(tmp_path: Path) -> None:
    """With no qemu-system-x86_64 on PATH: one stderr line on installing it, then the replay."""
    env = {**os.environ, "PATH": str(tmp_path)}
    proc = _demo("--no-tui", "--keep-dir", env=env)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        _stop(proc)
    assert proc.returncode == 0, err
    install = [line for line in err.splitlines() if "not found" in line]
    assert len(install) == 1 and "apt-get install qemu-system-x86" in install[0]
    assert "CRITICAL nat-external-hub" in out.split("== separated-hubs (")[0]
    workdir = _DIR.search(err)
    assert workdir and Path(workdir.group(1)).is_dir()  # --keep-dir
    shutil.rmtree(workdir.group(1))


def test_demo_opens_the_tui_on_every_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --no-tui the demo hands all five live sockets and its title to run_tui."""
    calls: list[tuple[list[str], str]] = []

    def fake_run_tui(targets: Sequence[str], title: str = "") -> int:
        import socket

        for t in targets:  # the servers are up while the TUI runs
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(t)
        calls.append((list(targets), title))
        return 0

    fake = types.ModuleType("qnetinspect.tui.app")
    fake.run_tui = fake_run_tui  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "qnetinspect.tui.app", fake)
    args = argparse.Namespace(no_tui=False, hold=False, keep_dir=False, replay=True)
    assert demo_cli.run(args) == 0
    ((targets, title),) = calls
    assert [Path(t).stem for t in targets] == NAMES
    assert title == demo_cli.TITLE


def _normal(text: str) -> str:
    """Drop what differs between runs: #net auto names, TCP ports."""
    text = re.sub(r"#net\d+", "#net", text)
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)


@pytest.mark.qemu
def test_bundled_captures_match_the_live_demo_vms(qemu_dir: Path) -> None:
    """The recordings shipped for the replay fallback equal what the live demo VMs print."""
    from qnetinspect.qmp.session import QmpSession

    async def look(vm: QemuProcess) -> tuple[str, object]:
        async with QmpSession(str(vm.qmp_path)) as qmp:
            return await qmp.hmp("info network"), await qmp.execute("query-name")

    with qemu_fleet() as vms:
        start_demo_vms(qemu_dir, vms)
        for vm, (name, capture) in zip(vms, bundled_captures(), strict=True):
            live, vm_name = asyncio.run(look(vm))
            assert vm_name == {"name": name}
            assert _normal(live) == _normal(capture["info_network"]), name


# ----------------------------------------------------------------------------- documentation
def _subparsers() -> dict[str, argparse.ArgumentParser]:
    from qnetinspect.cli import build_parser

    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_cli_reference_documents_every_command_and_option() -> None:
    """docs/cli.md has a section for each registered subcommand naming each of its options."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text()
    missing = []
    for name, sub in _subparsers().items():
        if f"## qnetinspect {name}\n" not in doc:
            missing.append(f"section {name}")
        for action in sub._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help") and f"`{option}" not in doc:
                    missing.append(f"{name} {option}")
    assert not missing, missing


def test_docs_link_only_to_files_that_exist() -> None:
    """Relative links in README.md and docs/*.md point at files in the repository."""
    root = Path(__file__).resolve().parent.parent
    broken = []
    for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not (page.parent / target).exists():
                broken.append(f"{page.name} -> {target}")
    assert not broken, broken


@pytest.mark.qemu
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_demo_in_the_tui_stops_every_vm_when_signalled(signum: int) -> None:
    """With the TUI open on a terminal, SIGTERM or SIGHUP (terminal closed) stops every QEMU."""
    argv = [sys.executable, "-m", "qnetinspect", "demo"]
    with PtyProcess(argv) as demo:
        # the TUI drew a VM (the pids line printed before it names the VMs too)
        demo.read_until(lambda out: b"leaky-legacy-hub" in out.split(b"(pids", 1)[-1])
        pids = _pids(demo.output.decode(errors="replace"))
        assert all(_alive(p) for p in pids)
        # the watchdog acts after 10 s at most
        assert demo.signal_and_wait(signum, timeout=30) == 128 + signum
    assert not any(_alive(p) for p in pids)


_HANGING_DEMO = """
import argparse, sys, time
from qnetinspect.cli import demo
def present(targets, whats, args):
    try:  # "ready" inside the try: a signal right after it must meet the hanging finally
        print("demo: ready", file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)
    finally:
        while True:  # an unwinding that never ends, like a stuck UI task
            time.sleep(3600)
demo._present = present
demo._GRACE = 1.0
args = argparse.Namespace(no_tui=True, hold=True, keep_dir=False, replay=False)
sys.exit(demo.run(args))
"""


@pytest.mark.qemu
def test_demo_watchdog_stops_every_vm_when_unwinding_hangs() -> None:
    """If the cleanup after SIGTERM hangs, the watchdog stops the QEMUs and exits 143 anyway."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HANGING_DEMO],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        err = _read_until(proc, "ready")
        pids = _pids(err)
        assert all(_alive(p) for p in pids)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert proc.stderr is not None
        assert "forced it" in proc.stderr.read()
    finally:
        _stop(proc)
    assert proc.returncode == 128 + signal.SIGTERM
    assert not any(_alive(p) for p in pids)
    workdir = _DIR.search(err)
    assert workdir and not Path(workdir.group(1)).exists()
