"""Brief sessions on a shared monitor (qmp/transport.py, live.Watcher), on the in-memory fake."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from qnetinspect.errors import TargetError
from qnetinspect.live import VmState, VmUpdate, Watcher
from qnetinspect.models import Snapshot, VmInfo
from qnetinspect.parse import parse_info_network
from qnetinspect.qmp.address import QmpAddress
from qnetinspect.qmp.transport import open_session, process_stopped
from qnetinspect.targets import Target
from tests.fakesession import FakeMonitor

ADDRESS = QmpAddress(path="/fake/vm.qmp")
TARGET = Target(spec="/fake/vm.qmp", kind="qmp", address=ADDRESS)
TEXT = "e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\r\n"


async def test_open_session_on_a_free_monitor_opens_at_once() -> None:
    """A free monitor: one session, open and usable."""
    monitor = FakeMonitor({"hmp:info network": TEXT})
    session = await open_session(ADDRESS, target="t", timeout=1, factory=monitor.factory)
    try:
        assert await session.hmp("info network") == TEXT
    finally:
        await session.close()
    assert monitor.opened == 1 and monitor.holders == 0


async def test_open_session_waits_while_another_client_holds_briefly() -> None:
    """Held for a moment (shorter than the timeout): the session waits and gets it."""
    monitor = FakeMonitor()
    async with anyio.create_task_group() as tg:
        held = anyio.Event()

        async def other() -> None:
            async with monitor.held():
                held.set()
                await anyio.sleep(0.2)

        tg.start_soon(other)
        await held.wait()
        session = await open_session(ADDRESS, target="t", timeout=5, factory=monitor.factory)
        await session.close()
    assert monitor.opened == 1


async def test_open_session_on_a_monitor_held_throughout_is_busy() -> None:
    """Held for the whole timeout: busy, naming the target and the timeout."""
    monitor = FakeMonitor()
    async with monitor.held():
        with pytest.raises(TargetError) as caught:
            await open_session(ADDRESS, target="t", timeout=0.3, factory=monitor.factory)
    assert caught.value.kind == "busy"
    assert caught.value.message == "another client holds the monitor (no QMP greeting within 0.3s)"


async def test_a_stopped_qemu_is_no_greeting_not_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the process behind the socket is stopped, waiting cannot help: no-greeting."""
    monitor = FakeMonitor(pid=4242)
    monkeypatch.setattr("qnetinspect.qmp.transport.process_stopped", lambda pid: pid == 4242)
    async with monitor.held():
        with pytest.raises(TargetError) as caught:
            await open_session(ADDRESS, target="t", timeout=0.2, factory=monitor.factory)
    assert caught.value.kind == "no-greeting" and "4242" in caught.value.message


def test_process_stopped_reads_proc_state() -> None:
    """Our own (running) process is not stopped; an unknown pid is not either."""
    import os

    assert process_stopped(os.getpid()) is False
    assert process_stopped(None) is False
    assert process_stopped(2**22 + 12345) is False


async def _reader(session: Any, target: Target) -> Snapshot:
    text = await session.hmp("info network")
    return Snapshot(target=target.spec, vm=VmInfo(name="fake"),
                    topology=parse_info_network(text), info_network_raw=text, live=True)


async def test_watcher_never_opens_a_second_session_beside_a_job() -> None:
    """Refreshes and run_exclusive jobs share the VM's slot: never two sessions at once."""
    monitor = FakeMonitor({"hmp:info network": TEXT, "query-status": {"status": "running"}})
    updates: list[Any] = []
    watcher = Watcher([TARGET], interval=0.2, reader=_reader, session_factory=monitor.factory)
    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher.run, updates.append)
        with anyio.fail_after(10):
            while monitor.opened < 2:
                await anyio.sleep(0.01)

        async def job(session: Any) -> object:
            await anyio.sleep(0.3)  # longer than an interval: refreshes must wait
            return await session.execute("query-status")

        results = [await watcher.run_exclusive(TARGET.spec, job) for _ in range(3)]
        tg.cancel_scope.cancel()
    assert results == [{"status": "running"}] * 3
    assert monitor.most_at_once == 1
    assert all(u.state is VmState.CONNECTED for u in updates if isinstance(u, VmUpdate))


async def test_watcher_marks_a_busy_monitor_busy_then_reads_it_again() -> None:
    """A monitor held by another client: BUSY (with the last reading), then read again."""
    monitor = FakeMonitor({"hmp:info network": TEXT})
    updates: list[Any] = []
    watcher = Watcher([TARGET], interval=0.2, timeout=0.2, reader=_reader,
                      session_factory=monitor.factory, backoff=(0.05, 0.1))

    def states() -> list[VmState]:
        return [u.state for u in updates if isinstance(u, VmUpdate)]

    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher.run, updates.append)
        with anyio.fail_after(10):
            while VmState.CONNECTED not in states():
                await anyio.sleep(0.01)
            async with monitor.held():
                while VmState.BUSY not in states():
                    await anyio.sleep(0.01)
            while states()[-1] is not VmState.CONNECTED:
                await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    busy = [u for u in updates if isinstance(u, VmUpdate) and u.state is VmState.BUSY]
    assert busy[0].snapshot is not None and busy[0].read_at is not None
    assert [str(c) for c in busy[0].changes] == ["~ vm busy (busy)"]


async def test_commands_get_their_full_time_however_long_the_wait_was() -> None:
    """A session that waited most of its time in the queue still gets command_timeout per
    command, not what was left of the wait."""
    monitor = FakeMonitor()
    async with anyio.create_task_group() as tg:
        held = anyio.Event()

        async def other() -> None:
            async with monitor.held():
                held.set()
                await anyio.sleep(0.4)

        tg.start_soon(other)
        await held.wait()
        session = await open_session(ADDRESS, target="t", timeout=0.5, factory=monitor.factory,
                                     command_timeout=7.0)
        await session.close()
    assert session.timeout == 7.0
