"""Every VM state has a style, a marker and a text (a new state cannot crash the tree)."""

from __future__ import annotations

import pytest

from qnetinspect.live import VmState
from qnetinspect.models import Snapshot, TargetFailure, VmInfo
from qnetinspect.tui import render
from qnetinspect.tui.model import FleetModel, VmView


@pytest.mark.parametrize("state", list(VmState))
def test_every_state_renders(state: VmState) -> None:
    """Each VmState maps to a style, and the label and state text draw without error."""
    assert state in render.STATE_STYLE
    vm = VmView("/run/x.qmp", state=state, error=TargetFailure("busy", "held"),
                snapshot=Snapshot(target="/run/x.qmp", vm=VmInfo(name="x")), read_at=100.0)
    assert render.vm_label(vm).plain
    assert render.state_text(vm, now=112.0).plain


def test_busy_and_gone_show_the_age_of_the_last_reading() -> None:
    """BUSY says who holds the monitor and how old the reading is; GONE keeps the age too."""
    busy = VmView("/run/x.qmp", state=VmState.BUSY, error=TargetFailure("busy", "held"),
                  retry_in=0.6, read_at=100.0)
    assert render.state_text(busy, now=112.0).plain == (
        "busy: another client holds the monitor, retry in 0.6s, last read 12s ago")
    assert render.vm_label(busy).plain.startswith(" BUSY ")
    gone = VmView("/run/x.qmp", state=VmState.GONE, read_at=None)
    assert render.state_text(gone).plain == "gone, never read"
    assert render.vm_label(gone).plain.startswith(" GONE ")
    assert render.reading_age(0.0, now=3 * 3600.0) == "last read 3h ago"


def test_summary_counts_busy_and_gone() -> None:
    """The header summary counts busy and gone VMs apart from unreachable ones."""
    model = FleetModel.for_targets(["a", "b", "c"])
    model.vms["a"].state = VmState.BUSY
    model.vms["b"].state = VmState.GONE
    assert model.summary() == "3 VMs · 1 busy · 1 gone (d drops)"
