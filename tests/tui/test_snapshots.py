"""SVG snapshots of the TUI against fixed snapshots from real captures (no clock, fixed size).

Regenerate with ``pytest tests/tui/test_snapshots.py --snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from qnetinspect.live import StaticSource
from qnetinspect.models import Snapshot
from qnetinspect.tui.app import QNetInspectApp

from .conftest import wait_until

SIZE = (180, 50)


def _app(fleet: list[Snapshot]) -> QNetInspectApp:
    return QNetInspectApp(StaticSource(fleet), title="qnetinspect")


async def _settled(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, QNetInspectApp)
    await wait_until(pilot, lambda: app.updates_seen >= 5)  # 4 VMs + the cross-VM findings
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()


def test_main_screen(snap_compare: Any, fleet: list[Snapshot]) -> None:
    """The main screen: leak flagged red in the tree, the diagram, findings with CRIT/WARN/INFO."""
    assert snap_compare(_app(fleet), terminal_size=SIZE, run_before=_settled)


def test_filtered_screen(snap_compare: Any, fleet: list[Snapshot]) -> None:
    """After `/socket` + enter only the VMs and findings that mention a socket are left."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await _settled(pilot)
        await pilot.press("slash", *"socket", "enter")
        await pilot.pause()

    assert snap_compare(_app(fleet), terminal_size=SIZE, run_before=run_before)


def test_help_screen(snap_compare: Any, fleet: list[Snapshot]) -> None:
    """The help screen with keys and the glossary."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await _settled(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(_app(fleet), terminal_size=(120, 50), run_before=run_before)


