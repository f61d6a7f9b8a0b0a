"""Managed VMs (libvirt) in the TUI: shown as managed; hot-plug keys say why they are off."""

from __future__ import annotations

import dataclasses

from qnetinspect.live import StaticSource
from qnetinspect.models import Snapshot
from qnetinspect.tui.app import QNetInspectApp
from qnetinspect.tui.widgets.panes import DetailPane
from qnetinspect.tui.widgets.vm_tree import VmTree

from .conftest import wait_until


async def test_managed_vm_is_marked_and_refuses_hotplug(fleet: list[Snapshot]) -> None:
    """A libvirt guest's detail says 'managed by libvirt'; `a` opens no screen and the
    notification gives virsh's way."""
    fleet[0] = dataclasses.replace(fleet[0], target="libvirt:web", manager="libvirt")
    app = QNetInspectApp(StaticSource(fleet), allow_changes=True)
    notes: list[str] = []
    app.notify = lambda message, **kw: notes.append(str(message))  # type: ignore[method-assign]
    async with app.run_test(size=(180, 50)) as pilot:
        tree = app.query_one("#tree", VmTree)
        await wait_until(pilot, lambda: bool(tree.root.children))
        tree.focus()
        tree.move_cursor(tree.root.children[0])
        await pilot.pause()
        await wait_until(pilot, lambda: "managed by libvirt"
                         in app.query_one("#detail", DetailPane).shown_text)
        screens = len(app.screen_stack)
        await pilot.press("a")
        await pilot.pause()
        assert len(app.screen_stack) == screens
        assert any("managed by libvirt" in n and "virsh attach-interface web" in n
                   for n in notes), notes
