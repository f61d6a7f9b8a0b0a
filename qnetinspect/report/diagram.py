"""Seed-style ASCII diagrams of a topology (plain text, deterministic, at most 100 columns).

Each hub is one box with a column per port (creation order): the guest NICs above it (name,
model, MAC), the port name and peer type inside it, the backends below it with their host side
(``(NAT)`` for user, the tap ifname, socket/stream/dgram addresses)::

    hub 0  !! NAT + external: user #net218 + socket #net351
                                         GUEST
      e1000.0            rtl8139.0
      e1000              rtl8139
      52:54:00:12:34:56  52:54:00:12:34:57
      |                  |
    +----------------------------------------------------------------------------+
    | hub0port0          hub0port1          hub0port2          hub0port3         |
    | NIC                NIC                USER               SOCKET            |
    +----------------------------------------------------------------------------+
                                            |                  |
                                            #net218            #net351
                                            (NAT)              (listening/idle)
                                            10.0.2.0
                                         HOST

NIC+backend pairs outside hubs are drawn the same way as small one-column boxes, packed side by
side. Filters show as ``filters: id,id`` under their client. A hub wider than 100 columns is
cut into several boxes (``ports 1-5 of 9``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from qnetinspect.models import Hub, NetClient, Topology

__all__ = ["host_side", "render_diagram"]

WIDTH = 100
COL_MIN = 6
COL_MAX = 22
GAP = 2
MIX_MARK = "!! NAT + external"


@dataclass(frozen=True, slots=True)
class _Column:
    guest: tuple[str, ...]
    box: tuple[str, ...]
    host: tuple[str, ...]


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def host_side(c: NetClient) -> tuple[str, ...]:
    """What a backend reaches on the host, in a few short lines (``(NAT)``, ``tap0`` ...)."""
    info = c.info
    if c.type == "user":
        lines = ["(NAT)"]
        if "net" in info:
            lines.append(info["net"])
        if info.get("restrict") == "on":
            lines.append("restrict=on")
        return tuple(lines)
    if c.type == "tap":
        for key in ("ifname", "br", "fd"):
            if key in info:
                return (info[key] if key == "ifname" else f"{key}={info[key]}",)
    if c.type == "dgram" and "/" in info.get("udp", ""):
        local, _, remote = info["udp"].partition("/")
        return (f"udp {local}", f"-> {remote}")
    if c.type in ("socket", "stream", "dgram"):
        for key, label in (
            ("connect", "-> "),
            ("connection_from", "<- "),
            ("tcp", "tcp:"),
            ("unix", "unix:"),
            ("udp", "udp:"),
            ("mcast", "mcast:"),
            ("state", ""),
        ):
            if key in info:
                return (label + info[key],)
        if not c.info_raw:
            return ("(listening/idle)",)
    if "chardev" in info:
        return (f"chardev {info['chardev']}",)
    if "ifname" in info:
        return (info["ifname"],)
    return (c.info_raw,) if c.info_raw else ()


def _filters(c: NetClient) -> tuple[str, ...]:
    return (f"filters: {','.join(f.id for f in c.filters)}",) if c.filters else ()


def _guest_side(c: NetClient, queues: int) -> tuple[str, ...]:
    lines = [c.name, *_filters(c)]
    if c.model:
        lines.append(c.model)
    if c.mac:
        lines.append(c.mac)
    if queues > 1:
        lines.append(f"{queues} queues")
    return tuple(lines)


def _peer_column(port_name: str, peer: NetClient | None, queues: Counter[str]) -> _Column:
    if peer is None:
        return _Column((), (port_name, "(no peer)"), ())
    if peer.is_nic:
        return _Column(_guest_side(peer, queues[peer.name]), (port_name, "NIC"), ())
    host = (peer.name, *host_side(peer), *_filters(peer))
    return _Column((), (port_name, peer.type.upper()), host)


def _mix_note(peers: tuple[NetClient, ...]) -> str:
    nat = [c for c in peers if c.is_nat]
    ext = [c for c in peers if c.is_external]
    if not nat or not ext:
        return ""
    names = " + ".join(f"{c.type} {c.name}" for c in (*nat, *ext))
    return f"{MIX_MARK}: {names}"


def _block(title: str, columns: list[_Column]) -> list[str]:
    """One box with its columns; every line is at most WIDTH characters."""
    cells = [line for col in columns for line in (*col.guest, *col.box, *col.host)]
    w = max(COL_MIN, min(COL_MAX, max((len(s) for s in cells), default=0)))
    n = len(columns)
    inner = n * w + GAP * (n - 1)
    starts = [2 + i * (w + GAP) for i in range(n)]

    def row(parts: list[str]) -> str:
        line = ""
        for start, text in zip(starts, parts, strict=True):
            if text:
                line = line.ljust(start) + _cut(text, w)
        return line.rstrip()

    out = [_cut(title, WIDTH)]
    if any(c.guest for c in columns):
        out.append(" " * (2 + inner // 2 - 2) + "GUEST")
        depth = max(len(c.guest) for c in columns)
        for i in range(depth):
            out.append(row([c.guest[i] if i < len(c.guest) else "" for c in columns]))
        out.append(row(["|" if c.guest else "" for c in columns]))
    border = "+" + "-" * (inner + 2) + "+"
    out.append(border)
    for i in range(max(len(c.box) for c in columns)):
        text = "  ".join(_cut(c.box[i], w).ljust(w) if i < len(c.box) else " " * w for c in columns)
        out.append(f"| {text} |")
    out.append(border)
    if any(c.host for c in columns):
        out.append(row(["|" if c.host else "" for c in columns]))
        depth = max(len(c.host) for c in columns)
        for i in range(depth):
            out.append(row([c.host[i] if i < len(c.host) else "" for c in columns]))
        out.append(" " * (2 + inner // 2 - 2) + "HOST")
    return out


def _chunks(columns: list[_Column]) -> list[list[_Column]]:
    cells = [line for col in columns for line in (*col.guest, *col.box, *col.host)]
    w = max(COL_MIN, min(COL_MAX, max((len(s) for s in cells), default=0)))
    per = max(1, (WIDTH - 4 + GAP) // (w + GAP))
    return [columns[i : i + per] for i in range(0, len(columns), per)] or [[]]


def _hub_blocks(hub: Hub, queues: Counter[str]) -> list[list[str]]:
    columns = [_peer_column(p.name or "-", p.peer, queues) for p in hub.ports]
    note = _mix_note(hub.peers)
    title = f"hub {hub.id}" + (f"  {note}" if note else "")
    if not columns:
        return [[title, "  (no ports)"]]
    chunks = _chunks(columns)
    if len(chunks) == 1:
        return [_block(title, columns)]
    blocks = []
    first = 1
    for chunk in chunks:
        last = first + len(chunk) - 1
        blocks.append(_block(f"{title}  (ports {first}-{last} of {len(columns)})", chunk))
        first = last + 1
    return blocks


def _pair_block(c: NetClient, queues: Counter[str]) -> list[str]:
    peer = c.peer
    if c.is_nic:
        guest = _guest_side(c, queues[c.name])
        if peer is None:
            return _block(c.name, [_Column(guest, ("NIC", "(no backend)"), ())])
        host = (peer.name, *host_side(peer), *_filters(peer))
        col = _Column(guest, ("NIC", peer.type.upper()), host)
        return _block(f"{c.name} <-> {peer.name}", [col])
    host = (c.name, *host_side(c), *_filters(c))
    if peer is None:
        return _block(c.name, [_Column(("(no NIC)",), (c.type.upper(),), host)])
    col = _Column((peer.name,), (c.type.upper(), peer.type.upper()), host)
    return _block(f"{c.name} <-> {peer.name}", [col])


def _pack(blocks: list[list[str]]) -> list[str]:
    """Put small blocks side by side, as many as fit in WIDTH, each row top-aligned."""
    out: list[str] = []
    row: list[list[str]] = []
    used = 0
    for b in blocks:
        w = max(len(line) for line in b)
        if row and used + GAP * 2 + w > WIDTH:
            out.extend(_join(row))
            out.append("")
            row, used = [], 0
        used += (GAP * 2 if row else 0) + w
        row.append(b)
    if row:
        out.extend(_join(row))
    return out


def _join(row: list[list[str]]) -> list[str]:
    widths = [max(len(line) for line in b) for b in row]
    height = max(len(b) for b in row)
    lines = []
    for i in range(height):
        parts = [(b[i] if i < len(b) else "").ljust(w) for b, w in zip(row, widths, strict=True)]
        lines.append((" " * (GAP * 2)).join(parts).rstrip())
    return lines


def render_diagram(topology: Topology, *, title: str | None = None) -> str:
    """The diagram of every hub, then every NIC/backend pair; ends with a newline."""
    queues = Counter(c.name for c in topology.iter_clients() if c.is_nic)
    out: list[str] = [_cut(f"== {title} ==", WIDTH)] if title else []
    for hub in topology.hubs:
        for block in _hub_blocks(hub, queues):
            if out:
                out.append("")
            out.extend(block)
    seen: set[tuple[str, str]] = set()
    pairs: list[list[str]] = []
    for c in topology.clients:
        if (c.name, c.type) in seen:
            continue  # queues >= 1 of a multiqueue pair: drawn once
        seen.add((c.name, c.type))
        pairs.append(_pair_block(c, queues))
    if pairs:
        if out:
            out.append("")
        out.extend(_pack(pairs))
    if not topology.hubs and not topology.clients:
        out.append("(no network clients)")
    return "".join(line + "\n" for line in out)
