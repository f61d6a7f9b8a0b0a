"""The TUI driven by Pilot against fixed snapshots: layout, navigation, filter, keys."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input

from qnetinspect.live import StaticSource
from qnetinspect.models import Snapshot
from qnetinspect.tui.app import QNetInspectApp
from qnetinspect.tui.screens.help import HelpScreen
from qnetinspect.tui.widgets.panes import ChangeLog, DetailPane, FindingDetail, FindingsTable
from qnetinspect.tui.widgets.vm_tree import VmTree

from .conftest import DOWN, wait_until

SIZE = (180, 50)


def _labels(app: QNetInspectApp) -> list[str]:
    tree = app.query_one("#tree", VmTree)
    return [str(node.label) for node in tree.root.children]


async def _started(pilot: Any, app: QNetInspectApp) -> None:
    await wait_until(pilot, lambda: app.updates_seen >= 4 and bool(_labels(app)))
    await pilot.pause()


async def test_tree_lists_every_vm_with_state_and_leak_marker(fleet: list[Snapshot]) -> None:
    """Each VM is a tree node named by -name; the leak carries NAT+EXT, the down VM DOWN."""
    app = QNetInspectApp(StaticSource(fleet))
    async with app.run_test(size=SIZE) as pilot:
        await _started(pilot, app)
        labels = _labels(app)
        for label, name in zip(labels, ("web", "db", "lab"), strict=False):
            assert f"{name} (/run/qni/{name}.qmp)" in label
        assert labels[0].strip().startswith("NAT+EXT")
        assert "NAT+EXT" not in labels[1] + labels[2]
        assert "DOWN" in labels[3] and "unreachable: refused" in labels[3]
        assert "CRIT" in labels[0]


async def test_findings_table_marks_severity_in_text_and_explains(fleet: list[Snapshot]) -> None:
    """The NAT+external finding comes first, marked CRIT, explained with the rule doc and fix."""
    app = QNetInspectApp(StaticSource(fleet))
    async with app.run_test(size=SIZE) as pilot:
        await _started(pilot, app)
        table = app.query_one("#findings", FindingsTable)
        first = table.current()
        assert first is not None and first.rule == "nat-external-hub"
        assert str(table.get_row_at(0)[0]).strip() == "CRIT"
        explanation = app.query_one("#finding-detail", FindingDetail).shown_text
        assert "Why it matters" in explanation and "How to fix" in explanation


async def test_moving_in_the_tree_redraws_the_detail_pane(fleet: list[Snapshot]) -> None:
    """Moving the cursor to another VM draws that VM in the detail pane."""
    app = QNetInspectApp(StaticSource(fleet))
    async with app.run_test(size=SIZE) as pilot:
        await _started(pilot, app)
        tree = app.query_one("#tree", VmTree)
        tree.focus()
        lab = tree.root.children[2]
        tree.move_cursor(lab)
        await pilot.pause()
        assert app.selected is not None and app.selected.target == "/run/qni/lab.qmp"
        detail = app.query_one("#detail", DetailPane).shown_text
        assert detail.startswith("lab") and "hub 2" in detail
        await pilot.press("down")  # onto lab's hub 0
        await pilot.pause()
        assert app.selected.kind == "hub"


async def test_slash_filters_tree_and_findings_and_escape_clears(fleet: list[Snapshot]) -> None:
    """`/` opens the filter; typing narrows the tree and findings; escape brings all back."""
    app = QNetInspectApp(StaticSource(fleet))
    async with app.run_test(size=SIZE) as pilot:
        await _started(pilot, app)
        await pilot.press("slash")
        assert app.focused is app.query_one("#filter", Input)
        await pilot.press(*"nic2")
        await wait_until(pilot, lambda: app.model.filter_text == "nic2")
        labels = _labels(app)
        assert len(labels) == 1 and "lab" in labels[0]
        shown = app.query_one("#findings", FindingsTable).shown()
        assert shown and all(f.target == "/run/qni/lab.qmp" for f in shown)
        await pilot.press(*["backspace"] * 4, *"socket", "enter")
        assert app.model.filter_text == "socket"
        assert ["web" in x or "lab" in x for x in _labels(app)] == [True, True]
        await pilot.press("escape")
        await pilot.pause()
        assert len(_labels(app)) == 4
        assert app.model.filter_text == ""


async def test_refresh_pause_and_interval_keys_drive_the_source(fleet: list[Snapshot]) -> None:
    """`p` pauses, `+`/`-` step the interval, `r` refreshes all; the palette offers the same."""
    source = StaticSource(fleet, interval=2.0)
    app = QNetInspectApp(source)
    async with app.run_test(size=SIZE) as pilot:
        await _started(pilot, app)
        await pilot.press("p")
        assert source.paused and "PAUSED" in app.sub_title
        await pilot.press("p")
        assert not source.paused
        await pilot.press("plus")
        assert source.interval == 1.0
        await pilot.press("minus", "minus")
        assert source.interval == 5.0
        asked: list[str | None] = []
        refresh = source.refresh_now

        def counted(target: str | None = None) -> None:
            asked.append(target)
            refresh(target)

        source.refresh_now = counted
        await pilot.press("r")
        assert asked == [None]
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Refresh now", "Pause / resume", "Filter", "Help"} <= titles


async def test_help_screen_has_glossary_and_updates_go_on_behind_it(
    fleet: list[Snapshot],
) -> None:
    """`?` shows the glossary; updates arriving meanwhile reach the tree; escape, then `q` quits."""
    import dataclasses

    from qnetinspect.tui.screens.help import HELP

    source = StaticSource(fleet)
    app = QNetInspectApp(source)
    async with app.run_test(size=SIZE) as pilot:
        await _started(pilot, app)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert app.screen.query_one("#help-text").size.height > 20
        for word in ("hub", "port", "netdev", "NIC", "NAT backend", "external backend"):
            assert f"**{word}**" in HELP
        web = fleet[0]
        assert web.topology is not None
        no_hub = dataclasses.replace(web.topology, hubs=())
        source.replace(dataclasses.replace(web, topology=no_hub))
        await wait_until(pilot, lambda: "NAT+EXT" not in _labels(app)[0])
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("q")
    assert app.return_code == 0


async def test_read_only_hides_and_ignores_change_keys(fleet: list[Snapshot]) -> None:
    """Without --allow-changes, `a`, `x` and `l` are neither shown nor acted on; pressing one
    says why."""
    app = QNetInspectApp(StaticSource(fleet))
    async with app.run_test(size=SIZE) as pilot:
        await _started(pilot, app)
        shown = {b.binding.action for b in app.active_bindings.values() if b.enabled}
        assert not {"add", "remove", "link"} & shown
        screens = len(app.screen_stack)
        await pilot.press("a", "x", "l")
        await pilot.pause()
        assert len(app.screen_stack) == screens
        # ... but a press is not silent: it says how to allow changes
        said = [n.message for n in app._notifications]
        assert said and all("--allow-changes" in m for m in said)


async def test_allow_changes_opens_the_hotplug_screens(fleet: list[Snapshot]) -> None:
    """With allow_changes, `x` on a NIC opens RemoveNicScreen for it and `a` AddNetdevScreen."""
    from qnetinspect.tui.screens.hotplug import AddNetdevScreen, RemoveNicScreen

    app = QNetInspectApp(StaticSource(fleet), allow_changes=True)
    async with app.run_test(size=SIZE) as pilot:
        await _started(pilot, app)
        shown = {b.binding.action for b in app.active_bindings.values() if b.enabled}
        assert {"add", "remove", "link"} <= shown
        tree = app.query_one("#tree", VmTree)
        tree.focus()
        tree.move_cursor(tree.root.children[0].children[0].children[0])  # web, hub 0, e1000.0
        await pilot.pause()
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, RemoveNicScreen)
        assert (app.screen.target, app.screen.nic_name) == ("/run/qni/web.qmp", "e1000.0")
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, AddNetdevScreen)


async def test_enter_on_a_finding_jumps_to_its_hub(fleet: list[Snapshot]) -> None:
    """Enter on the NAT+external finding puts the tree cursor on that VM's hub."""
    app = QNetInspectApp(StaticSource(fleet))
    async with app.run_test(size=SIZE) as pilot:
        await _started(pilot, app)
        app.query_one("#findings", FindingsTable).focus()
        await pilot.press("enter")
        await pilot.pause()
        node = app.query_one("#tree", VmTree).cursor_node
        assert node is not None and node.data is not None
        assert (node.data.target, node.data.kind, node.data.hub) == ("/run/qni/web.qmp", "hub", 0)


async def test_replaced_snapshot_updates_tree_and_change_log(fleet: list[Snapshot]) -> None:
    """A VM whose hub disappears is redrawn in place and the change log says what went away."""
    import dataclasses

    source = StaticSource(fleet)
    app = QNetInspectApp(source)
    async with app.run_test(size=SIZE) as pilot:
        await _started(pilot, app)
        web = fleet[0]
        assert web.topology is not None
        no_hub = dataclasses.replace(web.topology, hubs=())
        source.replace(dataclasses.replace(web, topology=no_hub))
        await wait_until(pilot, lambda: "NAT+EXT" not in _labels(app)[0])
        log_text = "\n".join(str(line.text) for line in app.query_one("#changes", ChangeLog).lines)
        assert "- hub hub 0" in log_text
        assert "- finding CRITICAL nat-external-hub" in log_text
        assert DOWN in app.model.vms


async def test_diagram_pane_keeps_room_at_80x24(fleet: list[Snapshot]) -> None:
    """On an 80x24 terminal the detail (diagram) pane shows at least 8 lines, and the findings
    list still shows a few rows."""
    app = QNetInspectApp(StaticSource(fleet))
    async with app.run_test(size=(80, 24)) as pilot:
        await _started(pilot, app)
        detail = app.query_one("#detail", DetailPane)
        findings = app.query_one("#findings", FindingsTable)
        assert detail.content_region.height >= 8
        assert findings.content_region.height >= 3
