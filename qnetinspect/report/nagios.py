"""The ``check`` verdict and its monitoring-plugins output (status line, perfdata, details).

States follow the monitoring-plugins convention (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
When states combine, CRITICAL > WARNING > UNKNOWN > OK (monitoring-plugins' ``max_state_alt``):
an unreachable VM counted as ``unknown`` never hides a critical finding on another VM.
Stdlib only, so ``check`` stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from qnetinspect.models import Finding, Severity, Snapshot
from qnetinspect.report.escape import nagios, sanitize_findings, sanitize_snapshots

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATE_NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
UNREACHABLE_STATES = {"ok": OK, "warning": WARNING, "critical": CRITICAL, "unknown": UNKNOWN}
_RANK = {OK: 0, UNKNOWN: 1, WARNING: 2, CRITICAL: 3}
_SEVERITY_STATE = {Severity.CRITICAL: CRITICAL, Severity.WARNING: WARNING, Severity.INFO: OK}
#: how many findings the status line names before "+N more"
_NAMED = 3


def worse(a: int, b: int) -> int:
    return a if _RANK[a] >= _RANK[b] else b


@dataclass(frozen=True, slots=True)
class Verdict:
    state: int
    vms: int
    unreachable: tuple[Snapshot, ...]
    counts: dict[str, int]  # severity label -> number of findings

    @property
    def name(self) -> str:
        return STATE_NAMES[self.state]


def verdict(
    snapshots: Sequence[Snapshot], findings: Sequence[Finding], *, unreachable: str = "warning"
) -> Verdict:
    """The overall state: the worst finding, and each unreachable target as ``unreachable``."""
    state = OK
    counts = {s.label: 0 for s in (Severity.CRITICAL, Severity.WARNING, Severity.INFO)}
    for f in findings:
        counts[f.severity.label] += 1
        state = worse(state, _SEVERITY_STATE[f.severity])
    down = tuple(s for s in snapshots if s.error is not None)
    for s in down:
        # text with nothing readable in it is the plugin's own failure to read (UNKNOWN),
        # whatever --unreachable says about VMs that are down: nothing read is never OK;
        # an internal failure (a bug of ours) is never OK either
        ours = s.error is not None and s.error.kind in ("unreadable", "internal")
        state = worse(state, UNKNOWN if ours else UNREACHABLE_STATES[unreachable])
    return Verdict(state=state, vms=len(snapshots), unreachable=down, counts=counts)


def _where(f: Finding, labels: dict[str, str]) -> str:
    label = labels.get(f.target, f.target)
    return f"{label} hub {f.hub}" if f.hub is not None else label


def _perf(v: Verdict, duration: float | None) -> str:
    items = [
        f"'vms'={v.vms};;;0",
        f"'unreachable'={len(v.unreachable)};;;0",
        f"'critical'={v.counts['critical']};;;0",
        f"'warning'={v.counts['warning']};;;0",
        f"'info'={v.counts['info']};;;0",
    ]
    if duration is not None:
        items.append(f"'time'={duration:.3f}s;;;0")
    return " ".join(items)


def render_nagios(
    snapshots: Sequence[Snapshot],
    findings: Sequence[Finding],
    v: Verdict,
    *,
    duration: float | None = None,
) -> str:
    """``QNETINSPECT STATE - summary | perfdata`` then one detail line per problem.

    Every VM or peer string is escaped (``report.escape.nagios``): one status line, and no
    ``|`` but the one before perfdata.
    """
    snapshots = sanitize_snapshots(snapshots, topology=False)
    findings = sanitize_findings(findings)
    v = replace(v, unreachable=tuple(s for s in snapshots if s.error is not None))
    labels = {s.target: s.label for s in snapshots}
    parts: list[str] = []
    for sev in (Severity.CRITICAL, Severity.WARNING):
        of_sev = [f for f in findings if f.severity == sev]
        if not of_sev:
            continue
        named = ", ".join(f"{f.rule} on {_where(f, labels)}" for f in of_sev[:_NAMED])
        more = f", +{len(of_sev) - _NAMED} more" if len(of_sev) > _NAMED else ""
        parts.append(f"{len(of_sev)} {sev.label} ({named}{more})")
    unreadable = [s for s in v.unreachable if s.error and s.error.kind == "unreadable"]
    down = [s for s in v.unreachable if s.error and s.error.kind != "unreadable"]
    if down:
        names = ", ".join(f"{s.target}: {s.error.kind}" for s in down if s.error)
        parts.append(f"{len(down)} unreachable ({names})")
    if unreadable:  # the reason goes in the status line: a plugin's failure is one line
        # "|" would start the perfdata: the reason quotes text we could not read
        names = ", ".join(f"{s.target}: {_one_line(s.error.message).replace('|', '/')}"
                          for s in unreadable if s.error)
        parts.append(f"{len(unreadable)} unreadable ({names})")
    summary = "; ".join(parts) if parts else "no problems"
    noun = "VM" if v.vms == 1 else "VMs"
    summary = nagios(summary)
    lines = [f"QNETINSPECT {v.name} - {v.vms} {noun}: {summary} | {_perf(v, duration)}"]
    for s in down:
        assert s.error is not None
        who = f"{s.label} ({s.target})" if s.label != s.target else s.target
        lines.append(nagios(f"UNREACHABLE {who}: {s.error.kind}: {_one_line(s.error.message)}"))
    for f in findings:
        label = labels.get(f.target, f.target)
        # rule messages name the VM already ("web1: hub 0 ..."); add it where one does not
        message = f.message if f.message.startswith(label) else f"{label}: {f.message}"
        lines.append(nagios(f"{f.severity.label.upper()} {f.rule}: {_one_line(message)}"))
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())
