"""Hot-plug TUI screens in a tiny host App, driven with Pilot (real QEMU where they apply)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import StartQemu
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Button, Input, Select, Static

from qnetinspect.models import Snapshot, VmInfo
from qnetinspect.parse import parse_info_network
from qnetinspect.qmp.session import QmpSession
from qnetinspect.tui.screens.hotplug import (
    AddNetdevScreen,
    ConfirmChangeScreen,
    LinkToggleScreen,
    RemoveNicScreen,
)

LEGACY = (
    "hub 0\r\n"
    " \\ hub0port1: #net173: index=0,type=user,net=10.0.2.0,restrict=off\r\n"
    " \\ hub0port0: e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\r\n"
)
UNSET = object()


class Host(App[None]):
    """Pushes one screen and keeps what it dismissed with."""

    def __init__(self, screen: Screen[bool]) -> None:
        super().__init__()
        self.screen_under_test = screen
        self.result: object = UNSET

    def on_mount(self) -> None:
        self.push_screen(self.screen_under_test, callback=self._done)

    def _done(self, result: bool | None) -> None:
        self.result = result


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path.parent / "hotplug-cache"))
    return tmp_path / "state" / "qnetinspect" / "audit.jsonl"


async def _until(pilot: Pilot[None], cond: Callable[[], bool], timeout: float = 20.0) -> None:
    with anyio.move_on_after(timeout):
        while not cond():
            await pilot.pause(0.05)
    assert cond()


def _text(screen: Screen[Any], selector: str) -> str:
    return str(screen.query_one(selector, Static).content)


async def _snapshot(path: Path) -> Snapshot:
    from qnetinspect.hotplug import read_snapshot

    async with QmpSession(str(path)) as s:
        return await read_snapshot(s, str(path))


async def _info(path: Path) -> str:
    async with QmpSession(str(path)) as s:
        return await s.hmp("info network")


async def test_add_form_previews_topology_and_critical_finding() -> None:
    """The add form shows the predicted hub and the nat-external-hub finding as the user types,
    and a bad option as one error line (no VM needed: an unreachable target is reported)."""
    snap = Snapshot(
        target="/nonexistent/qni.qmp",
        topology=parse_info_network(LEGACY),
        vm=VmInfo(qemu_version="7.2.22"),
    )
    screen = AddNetdevScreen(snap.target, snap)
    app = Host(screen)
    async with app.run_test(size=(120, 50)) as pilot:
        await _until(pilot, lambda: "cannot read" in _text(screen, "#status"))
        screen.query_one("#backend", Select).value = "socket"
        screen.query_one("#netdev-id", Input).value = "leak"
        screen.query_one("#options", Input).value = "listen=127.0.0.1:4000"
        screen.query_one("#hub", Input).value = "0"
        await _until(pilot, lambda: "nat-external-hub" in _text(screen, "#findings"))
        assert "leak" in _text(screen, "#preview")
        assert screen.plan is not None and screen.plan.critical
        screen.query_one("#options", Input).value = "listen"
        await _until(pilot, lambda: "-o 'listen': expected KEY=VALUE" in _text(screen, "#error"))
        assert screen.plan is None


@pytest.mark.qemu
async def test_add_screen_applies_after_confirmation(start_vm: StartQemu, _state: Path) -> None:
    """Review shows the exact commands; Apply sends them in a worker and the NIC appears."""
    vm = start_vm([])
    snap = await _snapshot(vm.qmp_path)
    screen = AddNetdevScreen(str(vm.qmp_path), snap)
    app = Host(screen)
    async with app.run_test(size=(120, 50)) as pilot:
        # wait until the live NIC models were loaded into the select
        await _until(pilot, lambda: screen.context.nic_models is not None)
        screen.query_one("#netdev-id", Input).value = "tui1"
        await pilot.pause()
        await pilot.click("#review")
        await _until(pilot, lambda: isinstance(app.screen, ConfirmChangeScreen))
        shown = _text(app.screen, "#confirm-plan")
        assert '"execute": "netdev_add", "arguments": {"type": "user", "id": "tui1"}' in shown
        await pilot.click("#apply")
        await _until(pilot, lambda: app.result is not UNSET)
    assert app.result is True
    assert "tui1-nic" in await _info(vm.qmp_path)
    assert json.loads(_state.read_text().splitlines()[-1])["result"] == "ok"


@pytest.mark.qemu
async def test_remove_and_link_screens(start_vm: StartQemu, _state: Path) -> None:
    """The link screen sends set_link down; the remove screen unplugs usb-net and its backend."""
    vm = start_vm(
        ["-device", "qemu-xhci", "-netdev", "user,id=ub", "-device", "usb-net,netdev=ub,id=usbn"]
    )
    snap = await _snapshot(vm.qmp_path)
    link = LinkToggleScreen(str(vm.qmp_path), snap, "usbn")
    app = Host(link)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert '"set_link"' in _text(link, "#preview")
        await pilot.click("#down")
        await _until(pilot, lambda: app.result is not UNSET)
    assert app.result is True
    entry = json.loads(_state.read_text().splitlines()[-1])
    assert entry["commands"] == [
        {"execute": "set_link", "arguments": {"name": "usbn", "up": False}}
    ]

    remove = RemoveNicScreen(str(vm.qmp_path), snap, "usbn")
    app = Host(remove)
    async with app.run_test(size=(120, 40)) as pilot:
        await _until(pilot, lambda: not remove.query_one("#remove", Button).disabled)
        assert '"device_del"' in _text(remove, "#preview")
        await pilot.click("#remove")
        await _until(pilot, lambda: app.result is not UNSET)
    assert app.result is True
    assert await _info(vm.qmp_path) == ""


@pytest.mark.qemu
async def test_remove_screen_plans_a_legacy_nic_by_its_qom_path(start_vm: StartQemu) -> None:
    """For a -net nic NIC the remove screen waits for the VM's devices, then shows (and would
    send) device_del of its QOM path, saying the paused guest must acknowledge it."""
    vm = start_vm(["-net", "nic", "-net", "user"])
    snap = await _snapshot(vm.qmp_path)
    remove = RemoveNicScreen(str(vm.qmp_path), snap, "e1000.0")
    app = Host(remove)
    async with app.run_test(size=(120, 40)) as pilot:
        await _until(pilot, lambda: not remove.query_one("#remove", Button).disabled)
        preview = _text(remove, "#preview")
        assert '"device_del", "arguments": {"id": "/machine/unattached/device[' in preview
        assert "not running" in preview
        assert remove.plan is not None and remove.plan.wait_deleted == (
            remove.plan.commands[0].arguments["id"]
        )
