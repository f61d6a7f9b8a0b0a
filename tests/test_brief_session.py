"""BriefSession, the lean read-only client of the watcher: the same answers and the same error
kinds as QmpSession, on real QEMU and on the fake peers for faults."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from fakepeers import dead_socket, fake_peer

from qnetinspect.errors import CommandFailed, TargetError
from qnetinspect.inventory import read_snapshot
from qnetinspect.qmp.address import QmpAddress
from qnetinspect.qmp.brief import BriefSession
from qnetinspect.qmp.session import QmpSession
from qnetinspect.vmrunner import QemuProcess

StartVm = Callable[..., QemuProcess]


async def _kind(cls: type[BriefSession] | type[QmpSession], path: Path, timeout: float) -> str:
    """Open, read `info network`, close: "ok" or the error kind."""
    try:
        if cls is BriefSession:
            async with BriefSession(QmpAddress(path=str(path)), timeout=timeout,
                                    target=str(path)) as brief:
                await brief.hmp("info network")
        else:
            async with QmpSession(str(path), timeout=timeout) as qmp:
                await qmp.hmp("info network")
        return "ok"
    except TargetError as exc:
        return exc.kind


@pytest.mark.parametrize(("script", "kind"), [
    ("garbage", "not-qmp"), ("silent", "no-greeting"), ("cut", "disconnected"),
    ("fail", "command-failed"), ("mute", "timeout"),
])
async def test_faults_give_the_same_kind_as_qmpsession(
    tmp_path: Path, script: str, kind: str
) -> None:
    """Each scripted fault maps to the same error kind in both clients."""
    with fake_peer(tmp_path / f"{script}.sock", script) as peer:  # type: ignore[arg-type]
        assert await _kind(BriefSession, peer.path, 0.5) == kind
        assert await _kind(QmpSession, peer.path, 0.5) == kind


async def test_missing_and_dead_sockets(tmp_path: Path) -> None:
    """No file: not-found; a stale socket nobody listens on: refused (as QmpSession)."""
    assert await _kind(BriefSession, tmp_path / "none.qmp", 1) == "not-found"
    with dead_socket(tmp_path / "dead.sock") as path:
        assert await _kind(BriefSession, path, 1) == "refused"


async def test_full_listen_queue_is_no_greeting_at_once(tmp_path: Path) -> None:
    """A listen queue already full: no-greeting without waiting (open_session retries it)."""
    path = tmp_path / "full.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen(0)
        waiting = [socket.socket(socket.AF_UNIX) for _ in range(2)]
        try:
            for w in waiting:
                w.setblocking(False)
                try:
                    w.connect(str(path))
                except BlockingIOError:
                    break
            assert await _kind(BriefSession, path, 5) == "no-greeting"
        finally:
            for w in waiting:
                w.close()


@pytest.mark.qemu
async def test_reads_the_same_snapshot_as_qmpsession(start_vm: StartVm) -> None:
    """On a real QEMU, read_snapshot over BriefSession equals the one over QmpSession."""
    vm = start_vm(["-net", "nic", "-net", "user", "-device", "qemu-xhci", "-netdev",
                   "user,id=ub", "-device", "usb-net,netdev=ub,id=usbn"], vm_name="same")
    address = QmpAddress(path=str(vm.qmp_path))
    async with BriefSession(address, timeout=5, target="t") as brief:
        assert brief.peer_pid == vm.pid and brief.greeting_version is not None
        lean = await read_snapshot(brief, "t")
        name, bad = await brief.execute_many([("query-name", None), ("no-such", None)])
        assert name == {"name": "same"}
        assert isinstance(bad, CommandFailed) and bad.error_class == "CommandNotFound"
        with pytest.raises(CommandFailed):
            await brief.execute("no-such")
    async with QmpSession(str(vm.qmp_path), timeout=5) as qmp:
        full = await read_snapshot(qmp, "t")
    assert lean == full
    assert lean.qom_nics and lean.topology is not None and lean.topology.hubs


@pytest.mark.qemu
async def test_monitor_held_by_another_client_is_no_greeting(start_vm: StartVm) -> None:
    """While another client holds a real monitor the brief session gets no greeting."""
    vm = start_vm([])
    async with QmpSession(str(vm.qmp_path), timeout=5):
        assert await _kind(BriefSession, vm.qmp_path, 0.5) == "no-greeting"
    assert await _kind(BriefSession, vm.qmp_path, 5) == "ok"
