"""Graphviz DOT and Mermaid flowcharts of the topologies, one cluster/subgraph per VM.

Nodes: hubs (diamonds), guest NICs (boxes), backends (ellipses; NAT and external backends
coloured, as the rules care about them). Edges: hub port to its peer, NIC to its backend.
QEMU names hold ``#``, ``.``, ``-`` and spaces, so node ids are generated (``n0``, ``n1`` ...)
and names only appear, escaped, in labels.

Given the findings, a hub with a critical finding (the NAT+external leak) is drawn red with the
rule's slug in its label, and each VM gets a legend node listing its findings at warning or above
(the text report and the TUI mark the same hubs).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from qnetinspect.models import Finding, NetClient, Severity, Snapshot, Topology
from qnetinspect.report import escape


@dataclass
class _Graph:
    nodes: list[tuple[str, str, str]] = field(default_factory=list)  # (id, label, kind)
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # (from, to, label)
    _next: int = 0

    def node(self, label: str, kind: str) -> str:
        node_id = f"n{self._next}"
        self._next += 1
        self.nodes.append((node_id, label, kind))
        return node_id


def _kind(c: NetClient) -> str:
    if c.is_nic:
        return "nic"
    return "nat" if c.is_nat else ("external" if c.is_external else "backend")


def _label(c: NetClient) -> str:
    extra = c.model if c.is_nic and c.model else c.type
    return f"{c.name} ({extra})"


def _client(g: _Graph, c: NetClient) -> str:
    node = g.node(_label(c), _kind(c))
    if c.peer is not None:
        g.edges.append((node, _client(g, c.peer), ""))
    return node


def _graph(t: Topology, marks: dict[int, list[str]] | None = None) -> _Graph:
    g = _Graph()
    for hub in t.hubs:
        rules = (marks or {}).get(hub.id)
        hub_node = (
            g.node(f"hub {hub.id}: {', '.join(rules)}", "leak") if rules
            else g.node(f"hub {hub.id}", "hub")
        )
        for port in hub.ports:
            if port.peer is not None:
                g.edges.append((hub_node, _client(g, port.peer), port.name or ""))
    for c in t.clients:
        if c.index == 0:  # queues >0 of a multiqueue pair repeat queue 0
            _client(g, c)
    return g


def _vms(
    snapshots: Sequence[Snapshot], findings: Sequence[Finding] = ()
) -> Iterator[tuple[int, Snapshot, _Graph | None]]:
    for i, s in enumerate(snapshots):
        marks = _hub_marks(s.target, findings)
        yield i, s, (
            _graph(s.topology, marks) if s.error is None and s.topology is not None else None
        )


def _hub_marks(target: str, findings: Sequence[Finding]) -> dict[int, list[str]]:
    """Hub id -> slugs of the critical findings on that hub of ``target``."""
    marks: dict[int, list[str]] = {}
    for f in findings:
        if f.target == target and f.hub is not None and f.severity >= Severity.CRITICAL:
            slugs = marks.setdefault(f.hub, [])
            if f.rule not in slugs:
                slugs.append(f.rule)
    return marks


def _legend(target: str, findings: Sequence[Finding]) -> list[str]:
    """One line per finding of ``target`` at warning or above, most severe first."""
    mine = [f for f in findings if f.target == target and f.severity >= Severity.WARNING]
    mine.sort(key=lambda f: -f.severity)
    return [
        f"{f.severity.label.upper()} {f.rule}"
        + (f" (hub {f.hub})" if f.hub is not None else "")
        + f": {f.message}"
        for f in mine
    ]


# ----------------------------------------------------------------------------- DOT
_DOT_STYLE = {
    "hub": 'shape=diamond, style=filled, fillcolor="#dddddd"',
    "nic": "shape=box",
    "nat": 'shape=ellipse, style=filled, fillcolor="#cce5ff"',
    "external": 'shape=ellipse, style=filled, fillcolor="#ffd8b0"',
    "backend": "shape=ellipse",
    "error": 'shape=note, style=filled, fillcolor="#ffb0b0"',
    "leak": 'shape=diamond, style=filled, fillcolor="#ff6060", color="#c00000", penwidth=2',
    "legend": 'shape=note, style=filled, fillcolor="#fff4cc"',
}


def _dot_quote(text: str) -> str:
    return escape.dot(text)  # VM strings are untrusted: no control character, quotes escaped


def render_dot(snapshots: Sequence[Snapshot], findings: Sequence[Finding] = ()) -> str:
    lines = ["digraph qnetinspect {", "  rankdir=LR;", "  node [fontname=monospace];"]
    for i, s, g in _vms(snapshots, findings):
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f"    label={_dot_quote(s.label)};")
        if g is None:
            kind = s.error.kind if s.error else "no topology"
            lines.append(f"    vm{i}_error [label={_dot_quote('unreachable: ' + kind)}, "
                         f"{_DOT_STYLE['error']}];")
        else:
            for node_id, label, kind in g.nodes:
                lines.append(f"    vm{i}_{node_id} [label={_dot_quote(label)}, "
                             f"{_DOT_STYLE[kind]}];")
            for a, b, label in g.edges:
                attr = f" [label={_dot_quote(label)}]" if label else ""
                lines.append(f"    vm{i}_{a} -> vm{i}_{b}{attr};")
        if legend := _legend(s.target, findings):
            lines.append(f"    vm{i}_legend [label={_dot_quote(chr(10).join(legend))}, "
                         f"{_DOT_STYLE['legend']}];")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- Mermaid
def _mermaid_quote(text: str) -> str:
    # Mermaid labels are quoted strings; a double quote inside ends them: use its entity code
    return escape.mermaid(text)


_MERMAID_SHAPE = {
    "hub": ("{", "}"),
    "nic": ("[", "]"),
    "nat": ("([", "])"),
    "external": ("([", "])"),
    "backend": ("([", "])"),
    "error": ("[", "]"),
    "leak": ("{", "}"),
    "legend": ("[", "]"),
}


def render_mermaid(snapshots: Sequence[Snapshot], findings: Sequence[Finding] = ()) -> str:
    lines = ["flowchart LR"]
    for i, s, g in _vms(snapshots, findings):
        lines.append(f"  subgraph vm{i}[{_mermaid_quote(s.label)}]")
        if g is None:
            kind = s.error.kind if s.error else "no topology"
            lines.append(f"    vm{i}_error[{_mermaid_quote('unreachable: ' + kind)}]")
            lines.append(f"    class vm{i}_error error")
        else:
            for node_id, label, kind in g.nodes:
                left, right = _MERMAID_SHAPE[kind]
                lines.append(f"    vm{i}_{node_id}{left}{_mermaid_quote(label)}{right}")
                if kind in {"nat", "external", "error", "leak"}:
                    lines.append(f"    class vm{i}_{node_id} {kind}")
            for a, b, label in g.edges:
                arrow = f" -->|{_mermaid_quote(label)}| " if label else " --> "
                lines.append(f"    vm{i}_{a}{arrow}vm{i}_{b}")
        if legend := _legend(s.target, findings):
            lines.append(f"    vm{i}_legend[{_mermaid_quote('<br/>'.join(legend))}]")
            lines.append(f"    class vm{i}_legend legend")
        lines.append("  end")
    lines += [
        "  classDef nat fill:#cce5ff",
        "  classDef external fill:#ffd8b0",
        "  classDef error fill:#ffb0b0",
        "  classDef leak fill:#ff6060,stroke:#c00000,stroke-width:2px",
        "  classDef legend fill:#fff4cc",
    ]
    return "\n".join(lines) + "\n"
