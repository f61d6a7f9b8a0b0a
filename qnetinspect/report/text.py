"""Plain-text report of snapshots and findings: per VM a header, its diagram, its findings.

Plain text only; ``show`` adds colour with rich when stdout is a terminal. The diagram comes
from ``qnetinspect.report.diagram.render_diagram``; until that module exists the ``info network``
text is printed instead, so ``show`` works either way.
"""

from __future__ import annotations

from collections.abc import Sequence

from qnetinspect.models import Finding, Snapshot, Topology
from qnetinspect.report.escape import sanitize_findings, sanitize_snapshots


def _diagram(topology: Topology, title: str) -> str:
    try:
        from qnetinspect.report.diagram import (  # type: ignore[import-not-found,unused-ignore]
            render_diagram,
        )
    except ImportError:
        from qnetinspect.report.info_network import render_info_network

        return f"== {title} ==\n{render_info_network(topology)}"
    text: str = render_diagram(topology, title=title)  # draws the "== title ==" line itself
    return text


def _title(s: Snapshot) -> str:
    return s.label if s.label == s.target else f"{s.label} ({s.target})"


def _facts(s: Snapshot) -> str:
    facts = []
    if s.vm.qemu_version:
        facts.append(f"QEMU {s.vm.qemu_version}")
    if s.vm.status:
        facts.append(s.vm.status)
    if s.vm.pid:
        facts.append(f"pid {s.vm.pid}")
    if not s.live:
        facts.append("saved text")
    if s.manager:
        facts.append(f"managed by {s.manager}")
    return ", ".join(facts)


def render_finding(f: Finding) -> str:
    """``CRITICAL nat-external-hub [hub 0]: message`` and, indented below it, the fix."""
    hub = f" [hub {f.hub}]" if f.hub is not None else ""
    line = f"{f.severity.label.upper():8} {f.rule}{hub}: {f.message}"
    if f.fix:
        line += f"\n         fix: {f.fix}"
    return line


def render_findings_section(findings: Sequence[Finding]) -> list[str]:
    """A ``Findings (N):`` heading and one indented entry per finding (or ``(none)``)."""
    out = [f"Findings ({len(findings)}):"]
    out += ["  " + render_finding(f).replace("\n", "\n  ") for f in findings]
    if not findings:
        out.append("  (none)")
    return out


def pasted_lines(t: Topology, limit: int = 10) -> list[str]:
    """``Read as pasted text:`` what the reading step did, and the lines it took out."""
    out = ["Read as pasted text:"]
    out += [f"  {note}" for note in t.notes]
    if t.removed:
        n = len(t.removed)
        out.append(f"  {n} line{'s' * (n != 1)} taken out:")
        out += [f"    line {u.line}: {u.text!r} ({u.reason})" for u in t.removed[:limit]]
        if n > limit:
            out.append(f"    ... {n - limit} more")
    return out


def unparsed_lines(t: Topology, limit: int = 10) -> list[str]:
    """``Unparsed lines (N):`` and the first ``limit`` of them with their reasons."""
    n = len(t.unparsed)
    out = [f"Unparsed lines ({n}):"]
    out += [f"  line {u.line}: {u.text!r}  ({u.reason})" for u in t.unparsed[:limit]]
    if n > limit:
        out.append(f"  ... {n - limit} more")
    return out


def render_text(snapshots: Sequence[Snapshot], findings: Sequence[Finding]) -> str:
    """Every VM in target order; an unreachable one shows its error kind and message.

    VM and peer strings are escaped for a terminal first (``report.escape``)."""
    snapshots = sanitize_snapshots(snapshots)
    findings = sanitize_findings(findings)
    blocks: list[str] = []
    for s in snapshots:
        lines: list[str] = []
        readable = s.topology is not None and s.error is None
        if readable:
            assert s.topology is not None
            drawn = _diagram(s.topology, title=_title(s)).rstrip("\n").split("\n")
            lines.append(drawn[0])
            if _facts(s):
                lines.append(_facts(s))
            lines.extend(drawn[1:])
            if s.usernet:
                lines.append("host forwards:")
                lines.extend(
                    f"  {u.netdev}: {u.protocol} {u.src_addr}:{u.src_port} -> "
                    f"{u.dst_addr}:{u.dst_port}"
                    for u in s.usernet
                )
            if s.topology.notes or s.topology.removed:
                lines.extend(pasted_lines(s.topology, limit=5))
            if s.topology.unparsed:
                lines.extend(unparsed_lines(s.topology, limit=5))
            mine = [render_finding(f) for f in findings if f.target == s.target]
            lines.extend(mine or ["no findings"])
        else:
            lines.append(f"== {_title(s)} ==")
            if s.error is not None:
                lines.append(f"UNREACHABLE {s.error.kind}: {s.error.message}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
