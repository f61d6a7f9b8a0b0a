"""The rule contract: a ``Rule`` turns models into ``Finding``s, with no I/O.

A rule is a class with a ``slug`` (its stable id), a default ``severity`` and a docstring that is
its user documentation, laid out as::

    One-line summary.

    Why it matters: ...

    How to fix: ... (the ``-netdev``/``-device`` form)

Per-VM rules implement ``check(snapshot, topology)``; cross-VM rules set ``cross_vm = True`` and
implement ``check_all(snapshots)``. The engine (``qnetinspect.rules.evaluate``) only hands them
snapshots that were read (no ``error``, a ``topology``).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from qnetinspect.models import Finding, Severity, Snapshot, Topology

__all__ = ["Finding", "Rule", "RuleDoc", "Severity"]

_SECTION = re.compile(r"^(Why it matters|How to fix):\s*", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class RuleDoc:
    """A rule docstring split into its three parts (empty string when a part is missing)."""

    summary: str
    why: str
    fix: str


class Rule:
    """Base of every rule; subclasses set the class attributes and one of the check methods."""

    slug: ClassVar[str]
    severity: ClassVar[Severity]
    cross_vm: ClassVar[bool] = False
    #: how the docs describe the severity when a rule uses more than its default
    severity_doc: ClassVar[str | None] = None

    def check(self, snapshot: Snapshot, topology: Topology) -> Iterable[Finding]:
        """Findings for one VM (per-VM rules)."""
        return ()

    def check_all(self, snapshots: Sequence[Snapshot]) -> Iterable[Finding]:
        """Findings across every readable VM (cross-VM rules)."""
        return ()

    def fixed(self, topology: Topology, finding: Finding) -> Topology | None:
        """``topology`` with ``finding``'s fix applied, for rules whose fix rewires the VM
        (the registry re-runs the rules on it before the fix is offered); None: not such a
        fix."""
        return None

    def finding(
        self,
        target: str,
        message: str,
        *,
        hub: int | None = None,
        clients: Iterable[str] = (),
        fix: str = "",
        severity: Severity | None = None,
    ) -> Finding:
        return Finding(
            rule=self.slug,
            severity=self.severity if severity is None else severity,
            message=message,
            target=target,
            hub=hub,
            clients=tuple(clients),
            fix=fix,
        )

    @classmethod
    def doc(cls) -> RuleDoc:
        """The docstring split into summary, why it matters and how to fix."""
        text = inspect.cleandoc(cls.__doc__ or "")
        summary, _, rest = text.partition("\n\n")
        parts: dict[str, str] = {}
        pieces = _SECTION.split(rest)
        # pieces: [before, name1, body1, name2, body2, ...]
        for name, body in zip(pieces[1::2], pieces[2::2], strict=True):
            parts[name] = " ".join(body.split())
        return RuleDoc(
            summary=" ".join(summary.split()),
            why=parts.get("Why it matters", ""),
            fix=parts.get("How to fix", ""),
        )
