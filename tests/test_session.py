"""QmpSession: error kinds at the edge, pipelining, cleanup (real QEMU + fake peers for faults)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from fakepeers import dead_socket, fake_peer

from qnetinspect.errors import CommandFailed, TargetError
from qnetinspect.qmp.session import QmpSession
from qnetinspect.vmrunner import QemuProcess

StartVm = Callable[..., QemuProcess]


async def _kind(path: Path | str, timeout: float = 1.0) -> str:
    try:
        async with QmpSession(str(path), timeout=timeout):
            return "ok"
    except TargetError as exc:
        return exc.kind


@pytest.mark.qemu
async def test_real_qemu_session_runs_commands(start_vm: StartVm) -> None:
    """A real QEMU: greeting version, execute, hmp text, and the listener's pid via SO_PEERCRED."""
    vm = start_vm(["-net", "nic", "-net", "user"])
    async with QmpSession(str(vm.qmp_path), timeout=5) as qmp:
        assert qmp.greeting_version is not None
        assert qmp.peer_pid == vm.pid
        status = await qmp.execute("query-status")
        assert isinstance(status, dict) and status["status"] == "prelaunch"
        text = await qmp.hmp("info network")
        assert text.startswith("hub 0\r\n")


@pytest.mark.qemu
async def test_execute_many_keeps_failures_in_place(start_vm: StartVm) -> None:
    """execute_many returns results in order, a rejected command as CommandFailed in its slot."""
    vm = start_vm([])
    async with QmpSession(str(vm.qmp_path), timeout=5) as qmp:
        name, bad, version = await qmp.execute_many(
            [("query-name", None), ("no-such-command", None), ("query-version", None)]
        )
    assert name == {}
    assert isinstance(bad, CommandFailed) and bad.error_class == "CommandNotFound"
    assert isinstance(version, dict) and "qemu" in version


async def test_missing_path_is_not_found(tmp_path: Path) -> None:
    """No file at the path: not-found."""
    assert await _kind(tmp_path / "none.qmp") == "not-found"


async def test_stale_socket_is_refused(tmp_path: Path) -> None:
    """A socket file nobody listens on (dead QEMU): refused."""
    with dead_socket(tmp_path / "dead.qmp") as p:
        assert await _kind(p) == "refused"


async def test_regular_file_is_not_qmp(tmp_path: Path) -> None:
    """A regular file where a socket was expected: connect fails, reported as refused/not-qmp."""
    p = tmp_path / "file.qmp"
    p.write_text("x")
    assert await _kind(p) in {"refused", "not-qmp"}


async def test_tcp_port_closed_is_refused() -> None:
    """A TCP port on 127.0.0.1 where nothing listens: refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert await _kind(f"tcp:127.0.0.1:{port}") == "refused"


async def test_garbage_speaker_is_not_qmp(tmp_path: Path) -> None:
    """A peer speaking another protocol: not-qmp."""
    with fake_peer(tmp_path / "g.sock", "garbage") as peer:
        assert await _kind(peer.path) == "not-qmp"


async def test_silent_peer_is_no_greeting(tmp_path: Path) -> None:
    """A peer that accepts and never greets: no-greeting, within the timeout."""
    with fake_peer(tmp_path / "s.sock", "silent") as peer:
        assert await _kind(peer.path, timeout=0.3) == "no-greeting"


async def test_reply_cut_is_disconnected(tmp_path: Path) -> None:
    """A reply cut mid-way (peer closes): the command fails with disconnected."""
    with fake_peer(tmp_path / "c.sock", "cut") as peer:
        async with QmpSession(str(peer.path), timeout=2) as qmp:
            with pytest.raises(TargetError) as err:
                await qmp.execute("query-status")
    assert err.value.kind == "disconnected"


async def test_rejected_command_is_command_failed(tmp_path: Path) -> None:
    """QEMU answering with an error: CommandFailed (kind command-failed) with QEMU's class."""
    with fake_peer(tmp_path / "f.sock", "fail") as peer:
        async with QmpSession(str(peer.path), timeout=2) as qmp:
            with pytest.raises(CommandFailed) as err:
                await qmp.hmp("info network")
    assert err.value.kind == "command-failed"
    assert err.value.error_class == "CommandNotFound"


@pytest.mark.qemu
async def test_monitor_held_by_other_client_is_no_greeting(start_vm: StartVm) -> None:
    """A real QEMU whose single QMP monitor another client holds: no-greeting."""
    vm = start_vm([])
    with socket.socket(socket.AF_UNIX) as holder:
        holder.connect(str(vm.qmp_path))
        assert holder.recv(4096).startswith(b'{"QMP"')
        assert await _kind(vm.qmp_path, timeout=0.5) == "no-greeting"


@pytest.mark.qemu
async def test_sigstopped_qemu_is_no_greeting(start_vm: StartVm) -> None:
    """A SIGSTOPped QEMU: the kernel accepts the connection, no greeting comes: no-greeting."""
    vm = start_vm([])
    os.kill(vm.pid, signal.SIGSTOP)
    try:
        assert await _kind(vm.qmp_path, timeout=0.5) == "no-greeting"
    finally:
        os.kill(vm.pid, signal.SIGCONT)


_DENIED_PROBE = """
import asyncio, sys
from qnetinspect.errors import TargetError
from qnetinspect.qmp.session import QmpSession
async def main():
    try:
        async with QmpSession(sys.argv[1], timeout=2):
            print("ok")
    except TargetError as exc:
        print(exc.kind)
asyncio.run(main())
"""


@pytest.mark.qemu
def test_socket_without_permission_is_permission_denied(start_vm: StartVm) -> None:
    """A socket we may not open: permission-denied (root made to obey modes by dropping
    CAP_DAC_OVERRIDE with setpriv, since chmod 000 alone does not stop root)."""
    vm = start_vm([])
    os.chmod(vm.qmp_path, 0)
    cmd = [sys.executable, "-c", _DENIED_PROBE, str(vm.qmp_path)]
    if os.geteuid() == 0:
        if not os.path.exists("/usr/bin/setpriv"):
            pytest.skip("root bypasses socket modes and setpriv is not installed")
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    assert out.stdout.strip() == "permission-denied", out.stderr


async def test_cancelled_open_leaves_no_socket(tmp_path: Path) -> None:
    """Cancelling a session stuck waiting for the greeting propagates and closes its socket."""
    with fake_peer(tmp_path / "s.sock", "silent") as peer:
        before = len(os.listdir("/proc/self/fd"))
        task = asyncio.ensure_future(_kind(peer.path, timeout=30))
        while peer.connections == 0:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await anyio.sleep(0.05)
        # the peer's own end of the connection is still open: count it out
        assert len(os.listdir("/proc/self/fd")) - before <= 1


async def test_full_listen_queue_is_no_greeting(tmp_path: Path) -> None:
    """A monitor whose listen queue is full (clients already waiting): no-greeting, at once."""
    path = tmp_path / "full.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen(0)  # never accepts
        waiting = [socket.socket(socket.AF_UNIX) for _ in range(2)]
        try:
            for w in waiting:
                w.setblocking(False)
                try:
                    w.connect(str(path))
                except BlockingIOError:
                    break
            assert await _kind(path, timeout=5) == "no-greeting"
        finally:
            for w in waiting:
                w.close()


async def test_tcp_connect_that_hangs_is_timeout() -> None:
    """A TCP connect that never completes (127.0.0.1 listener with a full accept queue): timeout."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)  # never accepts: once its queue is full, new SYNs are dropped
        port = server.getsockname()[1]
        fillers = [socket.socket() for _ in range(4)]
        try:
            for f in fillers:
                f.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    f.connect(("127.0.0.1", port))
            assert await _kind(f"tcp:127.0.0.1:{port}", timeout=0.3) == "timeout"
        finally:
            for f in fillers:
                f.close()
