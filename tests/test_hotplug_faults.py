"""Hot-plug faults on real QEMU (issue 14, item 7): a QEMU stopped or a connection killed
between the commands leaves nothing half-applied without naming it, and every step is
audited (intent, each command, the outcome)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import StartQemu

from qnetinspect.cli import main
from qnetinspect.errors import TargetError
from qnetinspect.hotplug import (
    AddRequest,
    ApplyFailed,
    apply_plan,
    plan_add,
    read_context,
    read_snapshot,
)
from qnetinspect.parse import parse_info_network
from qnetinspect.qmp.session import QmpSession
from qnetinspect.vmrunner import QemuProcess

pytestmark = pytest.mark.qemu


@pytest.fixture(autouse=True)
def audit_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path.parent / "hotplug-cache"))
    yield tmp_path / "state" / "qnetinspect" / "audit.jsonl"


def _entries(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


async def _names(vm: QemuProcess) -> set[str]:
    async with QmpSession(str(vm.qmp_path)) as s:
        topo = parse_info_network(await s.hmp("info network"))
    return {c.name for c in topo.iter_clients()}


def _after(monkeypatch: pytest.MonkeyPatch, command: str,
           fault: Callable[[QmpSession], None], *, drop: bool) -> None:
    """Run ``fault`` once, right after QEMU answered ``command``; ``drop``: then the reply is
    lost with the connection (the command was applied, we never hear it)."""
    real = QmpSession.execute
    fired: list[bool] = []

    async def execute(self: QmpSession, cmd: str, arguments: Any = None, *,
                      timeout: float | None = None) -> object:
        result = await real(self, cmd, arguments, timeout=timeout)
        if cmd == command and not fired:
            fired.append(True)
            fault(self)
            if drop:
                raise TargetError(self.target, "disconnected", f"{cmd}: connection lost")
        return result

    monkeypatch.setattr(QmpSession, "execute", execute)


def _kill_connection(session: QmpSession) -> None:
    writer = session._client._writer  # the socket under qemu.qmp: cut it as a crash would
    assert writer is not None
    writer.transport.abort()


async def _plan(vm: QemuProcess, netdev: str) -> Any:
    async with QmpSession(str(vm.qmp_path)) as s:
        snap = await read_snapshot(s, "vm")
        return plan_add(snap, AddRequest("user", id=netdev), await read_context(s, snap))


async def test_qemu_stopped_between_netdev_add_and_device_add_is_named(
    start_vm: StartQemu, monkeypatch: pytest.MonkeyPatch, audit_log: Path
) -> None:
    """SIGSTOP right after netdev_add: device_add times out, the VM cannot be read again, and
    the error names the netdev left in QEMU, the NIC that may exist, and how to undo; each
    step is audited."""
    vm = start_vm(["-netdev", "user,id=keep", "-device", "e1000,netdev=keep,id=k0"])
    plan = await _plan(vm, "hs")
    _after(monkeypatch, "netdev_add", lambda s: os.kill(vm.pid, signal.SIGSTOP), drop=False)
    try:
        async with QmpSession(str(vm.qmp_path), timeout=1) as s:
            with pytest.raises(ApplyFailed) as err:
                await apply_plan(s, plan)
    finally:
        os.kill(vm.pid, signal.SIGCONT)
    message = str(err.value)
    assert "the session broke (timeout" in message and "during device_add hs-nic" in message
    assert "cannot be read again (no-greeting)" in message
    assert "Left in QEMU: hs; hs-nic may exist too" in message
    assert "To undo: QMP netdev_del hs" in message
    assert "hs" in await _names(vm)  # what the message says is left, is left
    results = [(e["result"], (e.get("step") or {}).get("execute")) for e in _entries(audit_log)]
    assert results == [("intent", None), ("sending", "netdev_add"), ("sent", "netdev_add"),
                       ("sending", "device_add"), ("broken", "device_add"), ("broken", None)]
    assert _entries(audit_log)[-1]["error"] == message


async def test_connection_killed_after_netdev_add_is_rolled_back(
    start_vm: StartQemu, monkeypatch: pytest.MonkeyPatch, audit_log: Path
) -> None:
    """The connection dies after netdev_add: a new session deletes the netdev again, the error
    says nothing is left, and the VM is as before."""
    vm = start_vm(["-netdev", "user,id=keep", "-device", "e1000,netdev=keep,id=k0"])
    before = await _names(vm)
    plan = await _plan(vm, "hk")
    _after(monkeypatch, "netdev_add", _kill_connection, drop=True)
    async with QmpSession(str(vm.qmp_path), timeout=2) as s:
        with pytest.raises(ApplyFailed) as err:
            await apply_plan(s, plan)
    message = str(err.value)
    assert "during device_add hk-nic" not in message  # netdev_add was the step that broke
    assert "a new session sent: netdev_del hk. Nothing of it is left in QEMU" in message
    assert await _names(vm) == before
    last = _entries(audit_log)[-1]
    assert last["result"] == "broken" and last["rollback"] == [
        {"execute": "netdev_del", "arguments": {"id": "hk"}}]


async def test_connection_killed_after_device_add_is_confirmed_and_audited(
    start_vm: StartQemu, monkeypatch: pytest.MonkeyPatch, audit_log: Path
) -> None:
    """The connection dies right after device_add went through: a new session sees the change
    and it is reported (and audited) as applied, not as failed."""
    vm = start_vm([])
    plan = await _plan(vm, "hd")
    _after(monkeypatch, "device_add", _kill_connection, drop=True)
    async with QmpSession(str(vm.qmp_path), timeout=2) as s:
        result = await apply_plan(s, plan)
    assert result.topology is not None
    assert {"hd", "hd-nic"} <= await _names(vm)
    last = _entries(audit_log)[-1]
    assert last["result"] == "ok" and "a new session confirmed the change" in last["error"]


@pytest.mark.parametrize(("argv", "option"), [
    (["remove", "{sock}", "n0", "--unplug-timeout", "nan", "--yes"], "--unplug-timeout"),
    (["remove", "{sock}", "n0", "--timeout", "-1", "--yes"], "--timeout"),
    (["add", "{sock}", "user", "--timeout", "0", "--yes"], "--timeout"),
    (["link", "{sock}", "n0", "down", "--timeout", "nan", "--yes"], "--timeout"),
])
def test_bad_timeouts_are_usage_errors_and_send_nothing(
    start_vm: StartQemu, capsys: pytest.CaptureFixture[str], audit_log: Path,
    argv: list[str], option: str,
) -> None:
    """nan, -1 and 0 as a hot-plug timeout: exit 2 with one line naming the option, no
    traceback, nothing sent or audited."""
    vm = start_vm(["-netdev", "user,id=u0", "-device", "e1000,netdev=u0,id=n0"])
    before = anyio.run(_names, vm)
    with pytest.raises(SystemExit) as exc:
        main([a.format(sock=vm.qmp_path) for a in argv])
    _, err = capsys.readouterr()
    assert exc.value.code == 2 and option in err and "seconds > 0" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert anyio.run(_names, vm) == before and not audit_log.exists()


async def test_connection_killed_after_device_del_is_finished_by_a_new_session(
    start_vm: StartQemu, monkeypatch: pytest.MonkeyPatch, audit_log: Path
) -> None:
    """remove: the connection dies right after device_del of a usb-net (released at once); a new
    session sees the NIC gone and finishes the plan with netdev_del: nothing is left."""
    from qnetinspect.hotplug import plan_remove

    vm = start_vm(["-device", "qemu-xhci", "-netdev", "user,id=ub",
                   "-device", "usb-net,netdev=ub,id=usbn"])
    async with QmpSession(str(vm.qmp_path)) as s:
        snap = await read_snapshot(s, "vm")
        plan = plan_remove(snap, "usbn", context=await read_context(s, snap))
    _after(monkeypatch, "device_del", _kill_connection, drop=True)
    async with QmpSession(str(vm.qmp_path), timeout=2) as s:
        result = await apply_plan(s, plan)
    assert not result.pending
    assert not {"ub", "usbn"} & await _names(vm)
    last = _entries(audit_log)[-1]
    assert last["result"] == "ok" and "a new session finished it" in last["error"]
    assert last["rollback"] == [{"execute": "netdev_del", "arguments": {"id": "ub"}}]
