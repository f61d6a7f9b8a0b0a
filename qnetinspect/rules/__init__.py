"""Rules registry and evaluation. (stub: being written)

Public API (stable): ``evaluate(snapshots, config=None) -> list[Finding]`` runs every rule on every
snapshot and the cross-VM rules across them; ``evaluate_topology(topology, target)`` for one text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qnetinspect.models import Finding, Snapshot, Topology


def evaluate(snapshots: Sequence[Snapshot], config: Any = None) -> list[Finding]:
    return []


def evaluate_topology(topology: Topology, target: str = "-", config: Any = None) -> list[Finding]:
    return evaluate([Snapshot(target=target, topology=topology, live=False)], config)
