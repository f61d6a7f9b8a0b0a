"""Deterministic inputs for the TUI tests: snapshots built from real captures, with fixed names."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from textual.pilot import Pilot

from qnetinspect.inventory import gather
from qnetinspect.live import StaticSource
from qnetinspect.models import Snapshot, TargetFailure, VmInfo
from qnetinspect.targets import expand_targets

CAPTURES = Path(__file__).resolve().parents[2] / "fixtures" / "captures" / "qemu-7.2.22"

#: (target, -name, capture scenario): a leaking VM, two clean ones, then one that is down
FLEET = (
    ("/run/qni/web.qmp", "web", "legacy_seed_user_socket_listen"),
    ("/run/qni/db.qmp", "db", "netdev_user_virtio"),
    ("/run/qni/lab.qmp", "lab", "hubport_separated_hubs"),
)
DOWN = "/run/qni/gone.qmp"


def load_fleet() -> list[Snapshot]:
    files = [f"file:{CAPTURES / scenario}.json" for _, _, scenario in FLEET]
    read = anyio.run(gather, expand_targets(files))
    out = [
        dataclasses.replace(
            snap, target=target, vm=VmInfo(name=name, qemu_version="7.2.22"), live=True
        )
        for snap, (target, name, _) in zip(read, FLEET, strict=True)
    ]
    out.append(
        Snapshot(target=DOWN, error=TargetFailure("refused", "Connection refused"))
    )
    return out


@pytest.fixture
def fleet() -> list[Snapshot]:
    return load_fleet()


@pytest.fixture
def static_source(fleet: list[Snapshot]) -> StaticSource:
    return StaticSource(fleet)


async def wait_until(
    pilot: Pilot[Any], cond: Callable[[], bool], timeout: float = 20.0
) -> None:
    """Let the app run until ``cond()`` holds; fail (not hang) after ``timeout`` seconds."""
    with anyio.move_on_after(timeout):
        while not cond():
            await pilot.pause(0.05)
    assert cond(), "condition not reached"


WaitUntil = Callable[..., Awaitable[None]]
