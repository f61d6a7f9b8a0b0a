"""Rules registry and evaluation.

Public API (stable): ``evaluate(snapshots, config=None) -> list[Finding]`` runs every per-VM rule
on every readable snapshot and the cross-VM rules across them; ``evaluate_topology(topology,
target)`` does it for one parsed text. One rule = one module + one line in ``RULES`` + one case
file ``fixtures/rules/<slug>.json``.

Findings always have the target of one VM (a cross-VM finding is reported once per VM involved,
naming the others as ``label/client``), and are sorted by severity (worst first), target, hub
(none first), rule, message.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from qnetinspect.models import Finding, Snapshot, Topology
from qnetinspect.rules._verify import verify_fixes
from qnetinspect.rules.base import Rule
from qnetinspect.rules.bridged_externals import BridgedExternals
from qnetinspect.rules.dangling_backend import DanglingBackend
from qnetinspect.rules.default_mac import DefaultMac
from qnetinspect.rules.duplicate_mac import DuplicateMac
from qnetinspect.rules.emulated_nic import EmulatedNic
from qnetinspect.rules.hostfwd_all_addresses import HostfwdAllAddresses
from qnetinspect.rules.inconsistent_listing import InconsistentListing
from qnetinspect.rules.legacy_net import LegacyNet
from qnetinspect.rules.multi_nic_hub import MultiNicHub
from qnetinspect.rules.nat_external_hub import NatExternalHub
from qnetinspect.rules.nic_without_backend import NicWithoutBackend
from qnetinspect.rules.segments import GlobalSegment, global_segments
from qnetinspect.rules.socket_disconnected import SocketDisconnected
from qnetinspect.rules.unparsed_lines import UnparsedLines

if TYPE_CHECKING:
    from qnetinspect.config import Config

__all__ = [
    "RULES",
    "GlobalSegment",
    "Rule",
    "evaluate",
    "evaluate_topology",
    "global_segments",
    "rule_by_slug",
    "sort_findings",
]

RULES: tuple[Rule, ...] = (
    NatExternalHub(),
    BridgedExternals(),
    MultiNicHub(),
    NicWithoutBackend(),
    DanglingBackend(),
    DuplicateMac(),
    DefaultMac(),
    HostfwdAllAddresses(),
    SocketDisconnected(),
    EmulatedNic(),
    LegacyNet(),
    InconsistentListing(),
    UnparsedLines(),
)

_BY_SLUG = {r.slug: r for r in RULES}


def rule_by_slug(slug: str) -> Rule | None:
    return _BY_SLUG.get(slug)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Deterministic order: severity (worst first), target, hub (none first), rule, message."""
    return sorted(
        findings,
        key=lambda f: (
            -int(f.severity),
            f.target,
            f.hub is not None,
            f.hub if f.hub is not None else 0,
            f.rule,
            f.message,
        ),
    )


def evaluate(
    snapshots: Sequence[Snapshot], config: Config | None = None, *, check_fixes: bool = True
) -> list[Finding]:
    """Run the catalogue. Snapshots with ``error`` set or no topology are skipped. ``config``
    disables rules, overrides severities and drops suppressed findings. ``check_fixes``: each
    fix a rule can apply (``Rule.fixed``) is applied and re-checked before it is offered
    (off for outputs that print no fix: Nagios, Prometheus)."""
    readable = [s for s in snapshots if s.error is None and s.topology is not None]
    findings = _run(readable, config)
    if check_fixes:
        fixers = {r.slug: r.fixed for r in RULES if type(r).fixed is not Rule.fixed}
        findings = verify_fixes(
            findings, {s.target: s for s in readable}, fixers, lambda s: _run([s], None)
        )
    if config is not None:
        findings = list(_apply_config(findings, readable, config))
    return sort_findings(findings)


def _run(readable: Sequence[Snapshot], config: Config | None) -> list[Finding]:
    findings: list[Finding] = []
    for rule in RULES:
        if config is not None and not config.rule_enabled(rule.slug):
            continue
        if rule.cross_vm:
            findings.extend(rule.check_all(readable))
            continue
        for snap in readable:
            assert snap.topology is not None
            findings.extend(rule.check(snap, snap.topology))
    return findings


def _apply_config(
    findings: Iterable[Finding], snapshots: Sequence[Snapshot], config: Config
) -> Iterable[Finding]:
    labels = {s.target: s.label for s in snapshots}
    for f in findings:
        label = labels.get(f.target, f.target)
        if any(
            s.rule in (f.rule, "*")
            and (fnmatch.fnmatchcase(label, s.vm) or fnmatch.fnmatchcase(f.target, s.vm))
            and (s.hub is None or s.hub == f.hub)
            for s in config.suppress
        ):
            continue
        severity = config.severity_for(f.rule)
        yield f if severity is None else replace(f, severity=severity)


def evaluate_topology(
    topology: Topology, target: str = "-", config: Config | None = None
) -> list[Finding]:
    """Findings for one parsed ``info network`` text (not live: no ``info usernet``)."""
    return evaluate([Snapshot(target=target, topology=topology, live=False)], config)
