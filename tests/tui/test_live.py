"""The live watcher: diffing, event-driven refresh, pause, backoff (replay server, no QEMU)."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from qnetinspect.live import (
    Change,
    FleetUpdate,
    StaticSource,
    VmState,
    VmUpdate,
    Watcher,
    default_reader,
    diff,
)
from qnetinspect.models import Snapshot
from qnetinspect.qmp.address import QmpAddress
from qnetinspect.qmp.replay import ReplayServer
from qnetinspect.qmp.session import QmpSession
from qnetinspect.targets import Target

from .conftest import CAPTURES


@pytest.fixture
async def replay() -> AsyncIterator[ReplayServer]:
    with tempfile.TemporaryDirectory(prefix="qni-") as d:
        server = ReplayServer(CAPTURES / "legacy_seed_user_socket_listen.json", Path(d) / "r.qmp",
                              vm_name="web")
        async with server:
            yield server


class Recorder:
    """A sink that keeps what it got, and a reader that counts reads."""

    def __init__(self) -> None:
        self.updates: list[VmUpdate | FleetUpdate] = []
        self.reads = 0

    def sink(self, update: VmUpdate | FleetUpdate) -> None:
        self.updates.append(update)

    async def reader(self, session: Any, target: Target) -> Snapshot:
        self.reads += 1
        return await default_reader(session, target)

    def vm_updates(self) -> list[VmUpdate]:
        return [u for u in self.updates if isinstance(u, VmUpdate)]


async def _until(cond: Any, timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not cond():
            await anyio.sleep(0.01)


def test_diff_names_what_appeared_and_disappeared(fleet: list[Snapshot]) -> None:
    """diff lists removed hubs, ports and clients with '-' and new findings with '+'."""
    web = fleet[0]
    assert web.topology is not None
    no_hub = dataclasses.replace(web.topology, hubs=())
    changes = diff(web.target, web.topology, no_hub)
    text = [str(c) for c in changes]
    assert "- hub hub 0" in text
    assert any(t.startswith("- port hub 0 port hub0port2 -> user") for t in text)
    assert all(c.kind == "disappeared" for c in changes)
    assert diff(web.target, web.topology, web.topology) == ()
    back = diff(web.target, no_hub, web.topology)
    assert {c.kind for c in back} == {"appeared"}


async def test_static_source_publishes_each_snapshot_then_fleet(fleet: list[Snapshot]) -> None:
    """A static source publishes each VM, then cross-VM findings; first sight logs no hubs."""
    rec = Recorder()
    source = StaticSource(fleet)
    async with anyio.create_task_group() as tg:
        tg.start_soon(source.run, rec.sink)
        await _until(lambda: any(isinstance(u, FleetUpdate) for u in rec.updates))
        tg.cancel_scope.cancel()
    states = [u.state for u in rec.vm_updates()]
    assert states == [VmState.CONNECTED] * 3 + [VmState.UNREACHABLE]
    first = rec.vm_updates()[0]
    assert first.changes and all(c.what in ("vm", "finding") for c in first.changes)
    assert any(f.rule == "nat-external-hub" for f in first.findings)


async def test_qmp_event_triggers_an_immediate_refresh(replay: ReplayServer) -> None:
    """With --hold, a NIC_RX_FILTER_CHANGED event makes the watcher read that VM again at once."""
    rec = Recorder()
    watcher = Watcher([str(replay.socket_path)], interval=3600, reader=rec.reader, hold=True)
    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher.run, rec.sink)
        await _until(lambda: rec.reads == 1 and replay.connections == 1)
        await _until(lambda: bool(rec.vm_updates()))
        assert rec.vm_updates()[0].state is VmState.CONNECTED
        await anyio.sleep(0.05)  # let the listener settle before the event
        assert await replay.emit("NIC_RX_FILTER_CHANGED", {"path": "/x"}) == 1
        await _until(lambda: rec.reads == 2)
        tg.cancel_scope.cancel()
    assert replay.connections == 1  # the same persistent session


async def test_topology_change_is_logged_as_a_change(replay: ReplayServer) -> None:
    """When the VM's info network changes, the next update carries what disappeared."""
    rec = Recorder()
    watcher = Watcher([str(replay.socket_path)], interval=3600, reader=rec.reader)
    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher.run, rec.sink)
        await _until(lambda: bool(rec.vm_updates()))
        replay.info_network = "e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\r\n"
        watcher.refresh_now()
        await _until(lambda: len(rec.vm_updates()) == 2)
        tg.cancel_scope.cancel()
    last = rec.vm_updates()[-1]
    text = [str(c) for c in last.changes]
    assert "- hub hub 0" in text
    assert any(t.startswith("- finding CRITICAL nat-external-hub") for t in text)
    assert last.topology_changed


async def test_pause_holds_periodic_refresh_until_refresh_now(replay: ReplayServer) -> None:
    """Paused, the watcher does not refresh on its timer; refresh_now still reads once."""
    rec = Recorder()
    watcher = Watcher([str(replay.socket_path)], interval=0.2, reader=rec.reader)
    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher.run, rec.sink)
        await _until(lambda: rec.reads >= 1)
        watcher.set_paused(True)
        reads = rec.reads
        await anyio.sleep(1.0)  # five intervals
        assert rec.reads <= reads + 1  # at most a read that was already under way
        paused_reads = rec.reads
        watcher.refresh_now()
        await _until(lambda: rec.reads == paused_reads + 1)
        watcher.set_paused(False)
        await _until(lambda: rec.reads >= paused_reads + 3)
        tg.cancel_scope.cancel()


async def test_unreachable_target_backs_off_exponentially_with_a_cap() -> None:
    """A missing socket is unreachable, retried with doubling capped delays, logged once."""
    rec = Recorder()
    with tempfile.TemporaryDirectory(prefix="qni-") as d:
        watcher = Watcher([f"{d}/none.qmp"], interval=1, backoff=(0.01, 0.04))
        async with anyio.create_task_group() as tg:
            tg.start_soon(watcher.run, rec.sink)
            await _until(
                lambda: sum(u.state is VmState.UNREACHABLE for u in rec.vm_updates()) >= 5
            )
            tg.cancel_scope.cancel()
    down = [u for u in rec.vm_updates() if u.state is VmState.UNREACHABLE]
    assert [u.retry_in for u in down[:5]] == [0.01, 0.02, 0.04, 0.04, 0.04]
    assert all(u.error is not None and u.error.kind == "not-found" for u in down)
    logged = [c for u in rec.vm_updates() for c in u.changes]
    assert logged == [Change(f"{d}/none.qmp", "state", "vm", "unreachable (not-found)")]


async def test_brief_sessions_leave_the_monitor_free_between_refreshes(
    replay: ReplayServer,
) -> None:
    """By default every refresh connects, reads and disconnects: another client gets the
    one-client monitor between two refreshes at once."""
    rec = Recorder()
    watcher = Watcher([str(replay.socket_path)], interval=0.2, reader=rec.reader)
    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher.run, rec.sink)
        await _until(lambda: rec.reads >= 3)
        for _ in range(5):  # like cron's check, while the watcher keeps refreshing
            async with QmpSession(str(replay.socket_path), timeout=5) as other:
                assert "hub0port0" in await other.hmp("info network")
        tg.cancel_scope.cancel()
    assert replay.connections >= 3 + 5  # a session per read
    assert replay.most_active == 1


async def test_busy_monitor_is_busy_with_the_last_reading_kept(replay: ReplayServer) -> None:
    """A monitor another client holds is BUSY (not unreachable), keeps its last snapshot and
    when it was read, retries with jitter, and is read again once the other client leaves."""
    rec = Recorder()
    watcher = Watcher([str(replay.socket_path)], interval=0.2, timeout=1.0, reader=rec.reader,
                      backoff=(0.05, 0.2))
    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher.run, rec.sink)
        await _until(lambda: rec.reads >= 1)
        async with QmpSession(str(replay.socket_path), timeout=5):
            await _until(lambda: any(u.state is VmState.BUSY for u in rec.vm_updates()))
            reads = rec.reads
        await _until(lambda: rec.reads > reads and rec.vm_updates()[-1].state
                     is VmState.CONNECTED)
        tg.cancel_scope.cancel()
    busy = [u for u in rec.vm_updates() if u.state is VmState.BUSY]
    assert all(u.error is not None and u.error.kind == "busy" for u in busy)
    assert all(u.snapshot is not None and u.read_at is not None for u in busy)
    assert all(u.retry_in is not None for u in busy)
    # a held monitor is never reported as unreachable (a loaded machine may time a read out,
    # which is unreachable: timeout, and not what this test is about)
    assert not any(u.state is VmState.UNREACHABLE and u.error is not None
                   and u.error.kind in ("busy", "no-greeting") for u in rec.vm_updates())


async def test_run_exclusive_runs_in_the_watchers_slot(replay: ReplayServer) -> None:
    """A job given to run_exclusive runs while the watcher keeps refreshing, never in a
    second session beside it, and the VM is read again right after."""
    rec = Recorder()
    watcher = Watcher([str(replay.socket_path)], interval=0.2, reader=rec.reader)
    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher.run, rec.sink)
        await _until(lambda: rec.reads >= 1)

        async def job(session: Any) -> str:
            return str(await session.hmp("info network"))

        for _ in range(3):
            assert "hub0port0" in await watcher.run_exclusive(str(replay.socket_path), job)
        reads = rec.reads
        await _until(lambda: rec.reads > reads)
        tg.cancel_scope.cancel()
    assert replay.most_active == 1


@pytest.mark.parametrize("hold", [False, True])
async def test_run_exclusive_with_hold_uses_the_held_session(
    replay: ReplayServer, hold: bool
) -> None:
    """With --hold, the job runs in the watcher's own session (no second connection)."""
    rec = Recorder()
    watcher = Watcher([str(replay.socket_path)], interval=3600, reader=rec.reader, hold=hold)
    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher.run, rec.sink)
        await _until(lambda: rec.reads >= 1)
        before = replay.connections

        async def job(session: Any) -> object:
            return await session.execute("query-status")

        await watcher.run_exclusive(str(replay.socket_path), job)
        await _until(lambda: rec.reads >= 2)
        tg.cancel_scope.cancel()
    assert replay.connections == (before if hold else before + 2)  # job + the re-read
    assert replay.most_active == 1


async def test_targets_are_re_expanded_new_appear_gone_are_marked(
    replay: ReplayServer,
) -> None:
    """expand() is asked again every interval: a new VM appears and is read, one no longer
    listed is marked GONE (its last reading kept) and can be dropped."""
    rec = Recorder()
    missing = Target(spec="/nonexistent/qni.qmp", kind="qmp",
                     address=QmpAddress(path="/nonexistent/qni.qmp"))
    listed = [missing]
    real = Target(spec=str(replay.socket_path), kind="qmp",
                  address=QmpAddress(path=str(replay.socket_path)))
    watcher = Watcher([missing], interval=0.2, reader=rec.reader, expand=lambda: list(listed))
    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher.run, rec.sink)
        await _until(lambda: any(u.target == missing.spec for u in rec.vm_updates()))
        listed.append(real)  # a VM started after the watcher
        await _until(lambda: rec.reads >= 1)
        assert real.spec in watcher.targets
        listed.remove(missing)
        await _until(lambda: any(u.target == missing.spec and u.state is VmState.GONE
                                 for u in rec.vm_updates()))
        watcher.drop(missing.spec)
        assert missing.spec not in watcher.targets
        tg.cancel_scope.cancel()
    appeared = [c for u in rec.vm_updates() for c in u.changes if c.target == real.spec]
    assert appeared[0] == Change(real.spec, "state", "vm", "appeared")
