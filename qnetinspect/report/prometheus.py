"""Prometheus text exposition of a ``check`` run, through prometheus-client.

A fresh CollectorRegistry per run (never the process-global one), so the output holds exactly
this run's targets. ``check --output`` writes the rendered text with ``qnetinspect.outfile``
(atomic, O_EXCL|O_NOFOLLOW temporary file), never prometheus-client's ``write_to_textfile``,
whose temporary name is predictable.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from qnetinspect.models import Finding, Severity, Snapshot
from qnetinspect.report.escape import prometheus_label


def build_registry(
    snapshots: Sequence[Snapshot],
    findings: Sequence[Finding],
    *,
    state: int,
    duration: float,
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    up = Gauge("qnetinspect_up", "1 when the target's QMP monitor was read, else 0",
               ["target", "vm"], registry=registry)
    error = Gauge("qnetinspect_target_error", "1 for a target that could not be read, by kind",
                  ["target", "kind"], registry=registry)
    found = Gauge("qnetinspect_findings", "Findings per target, rule and severity",
                  ["target", "vm", "rule", "severity"], registry=registry)
    by_severity = Gauge("qnetinspect_findings_by_severity", "Findings over all targets",
                        ["severity"], registry=registry)
    Gauge("qnetinspect_targets", "Targets inspected in this run",
          registry=registry).set(len(snapshots))
    Gauge("qnetinspect_scrape_duration_seconds", "Wall time of the whole inspection",
          registry=registry).set(duration)
    Gauge("qnetinspect_check_status", "Overall state: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
          registry=registry).set(state)
    # label values from VMs are untrusted: no control character may reach the textfile
    esc = prometheus_label
    labels = {s.target: esc(s.vm.name or "") for s in snapshots}
    for s in snapshots:
        up.labels(target=esc(s.target), vm=labels[s.target]).set(0 if s.error else 1)
        if s.error is not None:
            error.labels(target=esc(s.target), kind=s.error.kind).set(1)
    counts = Counter((f.target, f.rule, f.severity.label) for f in findings)
    for (target, rule, severity), n in sorted(counts.items()):
        found.labels(target=esc(target), vm=labels.get(target, ""), rule=rule,
                     severity=severity).set(n)
    totals = Counter(f.severity.label for f in findings)
    for sev in Severity:
        by_severity.labels(severity=sev.label).set(totals.get(sev.label, 0))
    return registry


def render_prometheus(registry: CollectorRegistry) -> str:
    text: bytes = generate_latest(registry)
    return text.decode()
