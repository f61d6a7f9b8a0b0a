"""Sharing the monitor with real QEMU: the TUI as a guest on each monitor (brief sessions), `check`
beside it, `--hold`, hot-plug from the screens through the watcher, VMs appearing on a glob."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from textual.widgets import Input

from qnetinspect.config import Config
from qnetinspect.live import VmState
from qnetinspect.service import watch
from qnetinspect.tui.app import QNetInspectApp
from qnetinspect.tui.model import NodeRef
from qnetinspect.tui.screens.hotplug import (
    AddNetdevScreen,
    ConfirmChangeScreen,
    LinkToggleScreen,
    RemoveNicScreen,
)
from qnetinspect.tui.widgets.vm_tree import VmTree
from qnetinspect.vmrunner import QemuProcess

from .conftest import wait_until

StartVm = Callable[..., QemuProcess]
CLEAN = ["-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,id=nic0"]
USB = ["-device", "qemu-xhci", "-netdev", "user,id=ub", "-device", "usb-net,netdev=ub,id=usbn"]


def _check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qnetinspect", "check", *args],
                          capture_output=True, text=True, timeout=60)


async def _info(path: Path) -> str:
    """`info network` as an independent client reads it (one brief session of its own)."""
    from qnetinspect.qmp.address import QmpAddress
    from qnetinspect.qmp.transport import open_session

    session = await open_session(QmpAddress(path=str(path)), target=str(path), timeout=10)
    try:
        return await session.hmp("info network")
    finally:
        await session.close()


def _app(specs: list[str], *, hold: bool = False, interval: float = 0.3,
         allow_changes: bool = False) -> QNetInspectApp:
    source = watch(specs, config=Config(), interval=interval, hold=hold)
    return QNetInspectApp(source, allow_changes=allow_changes)


@pytest.mark.qemu
async def test_check_reads_a_vm_the_tui_watches_five_times_in_a_row(start_vm: StartVm) -> None:
    """The TUI open on a real VM (default, brief sessions): `check` on the same socket five times
    in a row reads it every time, never no-greeting or busy."""
    vm = start_vm(CLEAN, name="watched", vm_name="watched")
    app = _app([str(vm.qmp_path)], interval=0.2)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_until(pilot, lambda: app.model.vms[str(vm.qmp_path)].state
                         is VmState.CONNECTED)
        assert "brief sessions" in app.sub_title
        results = []
        for _ in range(5):
            # in a thread: the app's loop keeps refreshing the VM meanwhile
            results.append(await anyio.to_thread.run_sync(_check, "--timeout", "5",
                                                          str(vm.qmp_path)))
    for out in results:
        assert out.returncode == 0, out.stdout + out.stderr
        assert out.stdout.startswith("QNETINSPECT OK - 1 VM: no problems"), out.stdout
        assert "no-greeting" not in out.stdout and "busy" not in out.stdout


@pytest.mark.qemu
async def test_check_reports_busy_within_its_timeout_while_the_tui_holds(
    start_vm: StartVm,
) -> None:
    """With `--hold` the TUI keeps the monitor: `check --timeout 1` says busy (after retrying)
    and names the target, and the TUI header says it holds the monitors."""
    vm = start_vm(CLEAN, name="held", vm_name="held")
    app = _app([str(vm.qmp_path)], hold=True, interval=0.3)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_until(pilot, lambda: app.model.vms[str(vm.qmp_path)].state
                         is VmState.CONNECTED)
        assert "holding monitors (--hold)" in app.sub_title
        out = await anyio.to_thread.run_sync(_check, "--timeout", "1", str(vm.qmp_path))
    assert out.returncode == 1, out.stdout + out.stderr  # unreachable counts as warning
    status, *details = out.stdout.splitlines()
    assert f"{vm.qmp_path}: busy" in status
    assert any(d.startswith(f"UNREACHABLE {vm.qmp_path}: busy: another client holds the "
                            "monitor") for d in details)


async def _select(pilot: Any, app: QNetInspectApp, ref: NodeRef) -> None:
    tree = app.screen.query_one("#tree", VmTree)
    tree.select_ref(ref)
    await wait_until(pilot, lambda: app.selected == ref or (
        app.selected is not None and app.selected.target == ref.target
        and app.selected.client == ref.client))


@pytest.mark.qemu
@pytest.mark.parametrize("hold", [False, True], ids=["brief", "hold"])
async def test_hotplug_from_the_tui_screens_on_a_watched_vm(
    start_vm: StartVm, hold: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`tui --allow-changes` on a real VM it watches: add (user + virtio-net-pci), link down and
    remove complete from the screens (in the watcher's slot: no second session beside it);
    an independent client sees the changes in info network afterwards."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    # the NIC model cache is per QEMU version: shared by the tests of this run
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path.parent / "hotplug-cache"))
    vm = start_vm(USB, name="hp", vm_name="hp")
    target = str(vm.qmp_path)
    app = _app([target], hold=hold, interval=0.3, allow_changes=True)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_until(pilot, lambda: app.model.vms[target].state is VmState.CONNECTED)

        # add: user backend + virtio-net-pci NIC
        await _select(pilot, app, NodeRef(target, "vm"))
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, AddNetdevScreen))
        add = app.screen
        assert isinstance(add, AddNetdevScreen)
        # the first run reads QEMU's ~450 device models (then cached): allow for a slow host
        await wait_until(pilot, lambda: "checked against the live QEMU" in str(
            add.query_one("#status").render()), timeout=120)
        add.query_one("#netdev-id", Input).value = "tuiadd"
        await pilot.pause()
        await pilot.click("#review")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmChangeScreen))
        await pilot.click("#apply")
        await wait_until(pilot, lambda: not isinstance(app.screen, (AddNetdevScreen,
                                                                   ConfirmChangeScreen)))
        if not hold:  # brief sessions: another client can read between our refreshes
            info = await _info(vm.qmp_path)
            assert "tuiadd-nic: index=0,type=nic,model=virtio-net-pci" in info, info
            assert "tuiadd: index=0,type=user" in info, info

        # link down on the new NIC, once the watcher has read it
        def has_nic() -> bool:
            snap = app.model.vms[target].snapshot
            return snap is not None and snap.topology is not None and any(
                c.name == "tuiadd-nic" for c in snap.topology.nics())

        await wait_until(pilot, has_nic)
        await _select(pilot, app, NodeRef(target, "pair", client="tuiadd-nic"))
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(app.screen, LinkToggleScreen))
        await pilot.click("#down")
        await wait_until(pilot, lambda: not isinstance(app.screen, LinkToggleScreen))
        # QEMU 7.2's info network does not print the link state: QEMU's answer to set_link,
        # as the audit log recorded it, is the evidence
        entry = json.loads((tmp_path / "state" / "qnetinspect" / "audit.jsonl").read_text()
                           .splitlines()[-1])
        assert entry["commands"] == [
            {"execute": "set_link", "arguments": {"name": "tuiadd-nic", "up": False}}]
        assert entry["result"] == "ok"

        # remove the usb-net NIC (unplugs at once even in a paused guest) and its backend
        await _select(pilot, app, NodeRef(target, "pair", client="usbn"))
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, RemoveNicScreen))
        await pilot.click("#remove")
        await wait_until(pilot, lambda: not isinstance(app.screen, RemoveNicScreen))
        assert app.model.vms[target].state is not VmState.UNREACHABLE
    # with --hold the monitor is free only now that the TUI has gone
    info = await _info(vm.qmp_path)
    assert "usbn" not in info and "ub:" not in info, info
    assert "tuiadd-nic: index=0,type=nic,model=virtio-net-pci" in info, info
    assert "tuiadd: index=0,type=user" in info, info


@pytest.mark.qemu
async def test_a_vm_started_after_the_tui_opened_on_a_glob_appears(
    start_vm: StartVm, qemu_dir: Path,
) -> None:
    """The TUI re-expands its glob every interval: a VM started later appears and is read."""
    first = start_vm(CLEAN, name="g1", vm_name="g1")
    app = _app([str(qemu_dir / "*.qmp")], interval=0.3)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_until(pilot, lambda: app.model.vms[str(first.qmp_path)].state
                         is VmState.CONNECTED)
        later = start_vm(CLEAN, name="g2", vm_name="g2")
        # the wait is for the condition (no timing assertion); it comes within two intervals
        await wait_until(pilot, lambda: str(later.qmp_path) in app.model.vms
                         and app.model.vms[str(later.qmp_path)].state is VmState.CONNECTED)
        tree = app.screen.query_one("#tree", VmTree)
        await wait_until(pilot, lambda: tree.has_vm(str(later.qmp_path)))
        later.stop()
        # QEMU removes its socket when it exits on SIGTERM; if it had to be SIGKILLed on a
        # loaded machine the file stays behind: remove it, so the glob no longer finds the VM
        later.qmp_path.unlink(missing_ok=True)
        await wait_until(pilot, lambda: app.model.vms[str(later.qmp_path)].state
                         is VmState.GONE)
        await pilot.press("d")
        await wait_until(pilot, lambda: str(later.qmp_path) not in app.model.vms)
        assert not tree.has_vm(str(later.qmp_path))


def _link(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qnetinspect", "link", *args],
                          capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.qemu
async def test_cli_hotplug_waits_its_turn_then_reports_busy(
    start_vm: StartVm, tmp_path: Path,
) -> None:
    """`qnetinspect link` on a monitor another client holds for a moment waits and succeeds;
    held for longer than its --timeout, it fails with one line saying busy."""
    import os

    from qnetinspect.qmp.session import QmpSession

    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"),
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    vm = start_vm(CLEAN, name="lk")
    args = (str(vm.qmp_path), "nic0", "down", "--yes", "--timeout")
    async with anyio.create_task_group() as tg:
        holding = anyio.Event()

        async def hold_briefly() -> None:
            async with QmpSession(str(vm.qmp_path)):
                holding.set()
                await anyio.sleep(1.0)  # the CLI connects meanwhile and waits in the queue

        tg.start_soon(hold_briefly)
        await holding.wait()
        waited = await anyio.to_thread.run_sync(lambda: _link(*args, "10", env=env))
    assert waited.returncode == 0, waited.stdout + waited.stderr

    async with QmpSession(str(vm.qmp_path)):  # held for the whole run of the command
        refused = await anyio.to_thread.run_sync(lambda: _link(*args, "1", env=env))
    assert refused.returncode != 0
    assert refused.stderr.count("\n") == 1 and "busy: another client holds the monitor" in (
        refused.stderr), refused.stderr
