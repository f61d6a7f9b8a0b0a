"""Inventory: one Snapshot per target from real QEMUs, files, stdin and broken targets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from collections.abc import Callable, Mapping
from pathlib import Path

import anyio
import pytest
from fakepeers import dead_socket, fake_peer

from qnetinspect.errors import CommandFailed
from qnetinspect.inventory import gather, inspect_target, read_snapshot
from qnetinspect.qmp.address import QmpAddress
from qnetinspect.qmp.session import QmpSession
from qnetinspect.targets import Target, expand_targets
from qnetinspect.vmrunner import QemuProcess, free_loopback_port
from tests.conftest import leak_args

StartVm = Callable[..., QemuProcess]
REPO_CAPTURES = Path(__file__).resolve().parent.parent / "fixtures" / "captures" / "qemu-7.2.22"


def _capture(name: str) -> Path:
    path = REPO_CAPTURES / name
    assert path.exists(), f"fixture {path} is missing"
    return path


class CountingSession(QmpSession):
    """Counts round trips (execute_many batches) and fails chosen commands like an old QEMU."""

    def __init__(self, *args: object, refuse: frozenset[str] = frozenset(),
                 **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.batches = 0
        self.refuse = refuse

    async def execute_many(self, commands, *, timeout=None):  # type: ignore[no-untyped-def]
        self.batches += 1
        return await super().execute_many(commands, timeout=timeout)

    async def _execute_raw(self, command: str,
                           arguments: Mapping[str, object] | None) -> object:
        if command in self.refuse:
            raise CommandFailed(self.target, command, "CommandNotFound", "not in this QEMU")
        return await super()._execute_raw(command, arguments)


@pytest.mark.qemu
async def test_read_snapshot_of_real_leaking_vm(start_vm: StartVm) -> None:
    """A real QEMU: name, version (from the greeting), status, pid, hub 0 topology, QOM NICs,
    hostfwd, all in two round trips."""
    fwd = free_loopback_port()
    vm = start_vm([
        *leak_args(),
        "-netdev", f"user,id=u1,hostfwd=tcp:127.0.0.1:{fwd}-:22",
        "-device", "virtio-net-pci,netdev=u1,id=vn1,mac=52:54:00:aa:bb:01",
    ], vm_name="guest=leaky,debug-threads=on")
    async with CountingSession(str(vm.qmp_path), timeout=5) as qmp:
        snap = await read_snapshot(qmp, "leaky-target")
        assert qmp.batches == 2
    assert snap.error is None and snap.live
    assert (snap.vm.name, snap.vm.status, snap.vm.pid) == ("leaky", "prelaunch", vm.pid)
    assert snap.vm.qemu_version and snap.vm.qemu_version[0].isdigit()
    assert snap.topology is not None
    (hub,) = snap.topology.hubs
    assert hub.id == 0
    assert sorted(c.type for c in hub.peers) == ["nic", "nic", "socket", "user"]
    assert [(n.id, n.type, n.netdev, n.mac) for n in snap.qom_nics] == [
        ("vn1", "virtio-net-pci", "u1", "52:54:00:aa:bb:01")
    ]
    assert [(u.netdev, u.src_addr, u.src_port) for u in snap.usernet] == [
        ("u1", "127.0.0.1", fwd)
    ]
    assert snap.info_network_raw is not None and snap.info_network_raw.startswith("hub 0")


class LoggingSession(CountingSession):
    """Records every qom-get path it sends."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.qom_gets: list[str] = []

    async def _execute_raw(self, command: str,
                           arguments: Mapping[str, object] | None) -> object:
        if command == "qom-get" and arguments:
            self.qom_gets.append(str(arguments["path"]))
        return await super()._execute_raw(command, arguments)


@pytest.mark.qemu
async def test_qom_pass_asks_only_devices_that_can_be_nics(start_vm: StartVm) -> None:
    """Disks, balloons and serial buses are not asked for netdev/mac; NICs (and every type the
    tool does not know) are, so each NIC's QOM netdev is still read."""
    vm = start_vm([
        "-netdev", "user,id=u1", "-netdev", "user,id=u2",
        "-device", "e1000,netdev=u1,id=nic1,mac=52:54:00:aa:00:01",
        "-device", "virtio-net-pci,netdev=u2,id=nic2,mac=52:54:00:aa:00:02",
        "-device", "virtio-balloon-pci,id=balloon0",
        "-device", "virtio-serial-pci,id=ser0",
        "-device", "pci-testdev,id=other0",
    ])
    async with LoggingSession(str(vm.qmp_path), timeout=5) as qmp:
        snap = await read_snapshot(qmp, "t")
        assert qmp.batches == 2
    asked = {p.rsplit("/", 1)[-1] for p in qmp.qom_gets}
    assert asked == {"nic1", "nic2", "other0"}  # pci-testdev: a type not known either way
    assert [(n.id, n.netdev, n.mac) for n in snap.qom_nics] == [
        ("nic1", "u1", "52:54:00:aa:00:01"), ("nic2", "u2", "52:54:00:aa:00:02"),
    ]


def test_may_be_nic() -> None:
    from qnetinspect.models import may_be_nic

    assert may_be_nic("e1000") and may_be_nic("usb-net") and may_be_nic("virtio-net")
    assert may_be_nic("some-future-nic")  # unknown: asked, never assumed away
    assert not may_be_nic("virtio-blk-pci") and not may_be_nic("usb-tablet")


@pytest.mark.qemu
async def test_failed_optional_commands_degrade(start_vm: StartVm) -> None:
    """QOM, usernet and query-name refused (old QEMU): the topology is still read."""
    vm = start_vm(leak_args())
    refuse = frozenset({"qom-list", "query-name", "query-status"})
    async with CountingSession(str(vm.qmp_path), timeout=5, refuse=refuse) as qmp:
        snap = await read_snapshot(qmp, "t")
    assert snap.error is None and snap.topology is not None and snap.topology.hubs
    assert (snap.qom_nics, snap.vm.name, snap.vm.status) == ((), None, None)


async def test_info_network_refused_is_command_failed(tmp_path: Path) -> None:
    """When `info network` itself is refused the snapshot carries command-failed."""
    with fake_peer(tmp_path / "f.sock", "fail") as peer:
        snap = await inspect_target(expand_targets([str(peer.path)])[0], timeout=2)
    assert snap.error is not None and snap.error.kind == "command-failed"
    assert snap.topology is None


@pytest.mark.qemu
async def test_gather_keeps_order_and_isolates_failures(
    start_vm: StartVm, tmp_path: Path
) -> None:
    """Broken targets each get their error kind; the good VMs around them are still read."""
    good1 = start_vm(leak_args(), name="g1")
    good2 = start_vm(["-nic", "user,model=virtio-net-pci"], name="g2")
    stopped = start_vm([], name="stopped")
    held = start_vm([], name="held")
    with fake_peer(tmp_path / "garbage.sock", "garbage"), \
            fake_peer(tmp_path / "silent.sock", "silent"), \
            fake_peer(tmp_path / "cut.sock", "cut"), \
            fake_peer(tmp_path / "fail.sock", "fail"), \
            dead_socket(tmp_path / "dead.sock"), \
            socket.socket(socket.AF_UNIX) as holder:
        holder.connect(str(held.qmp_path))
        os.kill(stopped.pid, signal.SIGSTOP)
        specs = [str(good1.qmp_path), str(tmp_path / "missing.qmp"), str(tmp_path / "dead.sock"),
                 str(tmp_path / "garbage.sock"), str(tmp_path / "silent.sock"),
                 str(tmp_path / "cut.sock"), str(tmp_path / "fail.sock"), str(stopped.qmp_path),
                 str(held.qmp_path), str(good2.qmp_path)]
        snaps = await gather(expand_targets(specs), timeout=1.0)
    assert [s.target for s in snaps] == specs
    kinds = [s.error.kind if s.error else "ok" for s in snaps]
    # a silent peer and a held monitor look alike (no greeting while the peer runs): busy;
    # a stopped QEMU is told apart: no-greeting
    assert kinds == ["ok", "not-found", "refused", "not-qmp", "busy", "disconnected",
                     "command-failed", "no-greeting", "busy", "ok"]
    assert snaps[0].topology is not None and snaps[0].topology.hubs
    assert snaps[-1].topology is not None and snaps[-1].topology.clients


async def test_hung_after_greeting_is_timeout(tmp_path: Path) -> None:
    """A monitor that greets but never answers a command: timeout (the whole read is bounded)."""
    with fake_peer(tmp_path / "m.sock", "mute") as peer:
        snap = await inspect_target(expand_targets([str(peer.path)])[0], timeout=0.3)
    assert snap.error is not None and snap.error.kind == "timeout"


async def test_concurrency_limit_is_respected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No more than `concurrency` sessions are open at once."""
    open_now = 0
    most_open = 0

    class CountingSession(QmpSession):
        # counted on our side: the peer sees a client leave only when it next reads
        async def open(self) -> None:
            nonlocal open_now, most_open
            open_now += 1
            most_open = max(most_open, open_now)
            try:
                await super().open()
            except BaseException:
                open_now -= 1
                raise

        async def close(self) -> None:
            nonlocal open_now
            if self._open:
                open_now -= 1
            await super().close()

    monkeypatch.setattr("qnetinspect.inventory.QmpSession", CountingSession)
    with fake_peer(tmp_path / "s.sock", "silent") as peer:
        targets = [Target(spec=f"s{i}", kind="qmp", address=QmpAddress(path=str(peer.path)))
                   for i in range(5)]
        snaps = await gather(targets, timeout=0.2, concurrency=2)
    assert [s.error.kind if s.error else "ok" for s in snaps] == ["busy"] * 5
    assert peer.connections == 5 and most_open == 2 and open_now == 0


async def test_gather_cancellation_propagates_and_closes_sockets(tmp_path: Path) -> None:
    """Cancelling gather mid-way raises cancellation (not swallowed) and leaves no socket."""
    with fake_peer(tmp_path / "s.sock", "silent") as peer:
        targets = [Target(spec=f"x{i}", kind="qmp", address=QmpAddress(path=str(peer.path)))
                    for i in range(4)]
        before = len(os.listdir("/proc/self/fd"))
        task = asyncio.ensure_future(gather(targets, timeout=30))
        while peer.active < 4:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        while peer.active:
            await asyncio.sleep(0.01)  # the peer saw every client go away
        assert len(os.listdir("/proc/self/fd")) <= before + 4  # only the peer's own ends


async def test_file_targets(tmp_path: Path) -> None:
    """file: with info network text, with a capture JSON, and a missing file (not-found)."""
    capture = _capture("user_hostfwd_all.json")
    text = tmp_path / "net.txt"
    text.write_text(json.loads(capture.read_text())["info_network"])
    snaps = await gather(expand_targets(
        [f"file:{text}", f"file:{capture}", f"file:{tmp_path}/none.txt"]))
    plain, cap, missing = snaps
    assert not plain.live and plain.topology is not None and plain.topology.clients
    assert cap.vm.qemu_version == "7.2.22" and not cap.live
    assert [(u.src_addr, u.dst_port) for u in cap.usernet] == [("*", 22)]
    assert [n.id for n in cap.qom_nics] == ["fwnic1"]
    assert missing.error is not None and missing.error.kind == "not-found"


async def test_stdin_target_uses_given_text() -> None:
    """'-' parses the text handed in (as piped from virsh) and is not live."""
    text = "hub 0\r\n \\ hub0port1: #net1: index=0,type=user,net=10.0.2.0,restrict=off\r\n" \
           " \\ hub0port0: e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\r\n"
    (snap,) = await gather(expand_targets(["-"]), stdin_text=text)
    assert snap.target == "-" and not snap.live
    assert snap.topology is not None and len(snap.topology.hubs[0].ports) == 2


@pytest.mark.qemu
async def test_discovered_name_fills_in_when_qemu_has_none(start_vm: StartVm) -> None:
    """A target's discovered name is used when query-name gives none."""
    vm = start_vm([])
    t = Target(spec=str(vm.qmp_path), kind="qmp", address=QmpAddress(path=str(vm.qmp_path)),
               pid=vm.pid, name="from-discovery")
    snap = await inspect_target(t, timeout=5)
    assert (snap.vm.name, snap.vm.pid) == ("from-discovery", vm.pid)
    assert snap.topology is not None and snap.topology.hubs == ()


def test_anyio_trio_not_required() -> None:
    """gather runs under anyio.run on asyncio without extra backends."""
    assert anyio.run(gather, []) == []
