"""SVG snapshots of the TUI against fixed snapshots from real captures (no clock, fixed size).

The texts other modules write (rule messages and docstrings, the diagram) are frozen here, so
these pictures change only when the TUI's own layout does. Regenerate with
``pytest tests/tui/test_snapshots.py --snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from textual.pilot import Pilot

from qnetinspect.live import StaticSource
from qnetinspect.models import Finding, Severity, Snapshot
from qnetinspect.rules.base import RuleDoc
from qnetinspect.tui import render
from qnetinspect.tui.app import QNetInspectApp

from .conftest import wait_until

SIZE = (180, 50)


FINDINGS = {
    "/run/qni/web.qmp": (
        Finding("nat-external-hub", Severity.CRITICAL, "web: hub 0 joins NAT #net218 with "
                "socket #net351", "/run/qni/web.qmp", hub=0, fix="split hub 0"),
        Finding("multi-nic-hub", Severity.WARNING, "web: hub 0 joins 2 NICs",
                "/run/qni/web.qmp", hub=0),
    ),
    "/run/qni/lab.qmp": (
        Finding("default-mac", Severity.WARNING, "lab: nic1 has a default MAC", "/run/qni/lab.qmp"),
        Finding("emulated-nic", Severity.INFO, "lab: nic0 is emulated", "/run/qni/lab.qmp"),
    ),
}


def _frozen_rules(snapshots: Sequence[Snapshot]) -> list[Finding]:
    return [f for s in snapshots for f in FINDINGS.get(s.target, ())]


@pytest.fixture(autouse=True)
def _frozen_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "diagram", render.fallback_diagram)
    monkeypatch.setattr(
        "qnetinspect.tui.app.rule_doc",
        lambda slug: RuleDoc(f"What {slug} means.", "Why it matters.", "How to fix it."),
    )


def _app(fleet: list[Snapshot]) -> QNetInspectApp:
    source = StaticSource(fleet, evaluator=_frozen_rules, fleet_evaluator=lambda s: [])
    return QNetInspectApp(source, title="qnetinspect")


async def _settled(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, QNetInspectApp)
    await wait_until(pilot, lambda: app.updates_seen >= 4)  # one per VM (no cross-VM findings)
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


