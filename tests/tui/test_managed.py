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
        assert any("managed by libvirt" in n and "virsh attach-interface web network" in n
                   for n in notes), notes


async def test_vms_of_several_hosts_are_grouped_by_host(fleet: list[Snapshot]) -> None:
    """With VMs from two libvirt hosts and this one, the tree's top level is the hosts."""
    fleet[0] = dataclasses.replace(fleet[0], target="libvirt:web@h1.example", manager="libvirt")
    fleet[1] = dataclasses.replace(fleet[1], target="libvirt:db@h2.example", manager="libvirt")
    app = QNetInspectApp(StaticSource(fleet))
    async with app.run_test(size=(180, 50)) as pilot:
        tree = app.query_one("#tree", VmTree)
        await wait_until(pilot, lambda: len(tree.root.children) == 3)
        hosts = [str(n.label) for n in tree.root.children]
        assert hosts == ["host h1.example", "host h2.example", "this host"]
        (web,) = tree.root.children[0].children
        assert "web" in str(web.label)


async def test_one_host_is_not_grouped(fleet: list[Snapshot]) -> None:
    """VMs of this host only: VMs at the top level, as before."""
    app = QNetInspectApp(StaticSource(fleet))
    async with app.run_test(size=(180, 50)) as pilot:
        tree = app.query_one("#tree", VmTree)
        await wait_until(pilot, lambda: len(tree.root.children) == len(fleet))
        assert not any(str(n.label).startswith(("host ", "this host"))
                       for n in tree.root.children)
