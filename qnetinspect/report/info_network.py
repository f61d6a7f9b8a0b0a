"""Topology -> ``info network`` text, as QEMU prints it (``\\n`` line endings).

The inverse of ``qnetinspect.parse.parse_info_network``: ``parse(render(t)) == t``. Hubs and
ports are printed newest first (the model holds them in creation order), then the clients outside
every hub with their `` \\ `` peer line, each client followed by its ``filters:`` block.
``dialect == "vlan"`` prints the pre-1.2 ``VLAN <n> devices:`` form. Unparsed lines are not
printed: they are not part of the topology.
"""

from __future__ import annotations

from qnetinspect.models import Filter, Hub, HubPort, NetClient, Topology

__all__ = ["render_client_line", "render_info_network"]


def render_client_line(c: NetClient) -> str:
    """``<name>: index=<q>,type=<type>,<info>`` (no line ending, no filters)."""
    return f"{c.name}: index={c.index},type={c.type},{c.info_raw}"


def _filter_line(f: Filter) -> str:
    raw = f.raw or ",".join([f"type={f.type}", *(f"{k}={v}" for k, v in f.props.items())])
    return f"  - {f.id}: {raw}"


def _client_block(first: str, c: NetClient) -> list[str]:
    lines = [first]
    if c.filters:
        lines.append("filters:")
        lines.extend(_filter_line(f) for f in c.filters)
    return lines


def _port_lines(p: HubPort) -> list[str]:
    if p.peer is None:
        return [f" \\ {p.name}"] if p.name is not None else []
    line = render_client_line(p.peer)
    prefix = " \\ " if p.name is None else f" \\ {p.name}: "
    return _client_block(prefix + line, p.peer)


def _hub_lines(h: Hub) -> list[str]:
    lines = [f"hub {h.id}"]
    for port in reversed(h.ports):
        lines.extend(_port_lines(port))
    return lines


def _render_vlan(t: Topology) -> list[str]:
    lines: list[str] = []
    for h in t.hubs:
        lines.append(f"VLAN {h.id} devices:")
        lines.extend(f"  {p.peer.name}: {p.peer.info_raw}" for p in h.ports if p.peer is not None)
    if t.clients:
        lines.append("Devices not on any VLAN:")
    for c in t.clients:
        if c.peer is None:
            lines.append(f"  {c.name}: {c.info_raw}")
        else:
            lines.append(f"  {c.name}: {c.info_raw} peer={c.peer.name}")
            lines.append(f"  {c.peer.name}: {c.peer.info_raw} peer={c.name}")
    return lines


def render_info_network(t: Topology) -> str:
    """The ``info network`` text of ``t``; ``""`` for an empty topology."""
    if t.dialect == "vlan":
        lines = _render_vlan(t)
    else:
        lines = []
        for hub in reversed(t.hubs):
            lines.extend(_hub_lines(hub))
        for c in t.clients:
            lines.extend(_client_block(render_client_line(c), c))
            if c.peer is not None:
                lines.extend(_client_block(" \\ " + render_client_line(c.peer), c.peer))
    return "".join(line + "\n" for line in lines)
