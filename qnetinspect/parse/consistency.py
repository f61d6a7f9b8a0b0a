"""Structural cross-checks of a parsed ``info network``: a crafted string can only add alarms.

QEMU prints a backend's info string verbatim, and some of it is chosen by whoever configured
the VM: a stream's unix path, a tap's script paths. A newline in such a string makes its tail
look like a line of its own (``hub 7``), which would move the NAT port and the NIC to a phantom
hub and hide the leak. Two kinds of evidence are collected here:

- **contradictions** (``Topology.contradictions``), which the real QEMU never prints: a port
  named ``hubNportM`` on a hub other than N, a hub header twice, a hub header after a client
  line outside the hubs (QEMU prints every hub first), and (live, ``cross_check_live``) a
  hubport the command line puts on another hub, or a NIC that QOM pairs with another netdev;
- **ambiguity**: a line that starts a new section (a hub header; another unindented line when
  the listing already looks odd) within a few lines after the line of an external backend or
  of a filter, whose info string (a path) may have held the newline.

For both, ``Topology.alternatives`` holds the other readings: hubs listed twice merged, ports
moved to the hub their name or the command line says, and the lines after an external backend
read as the tail of its info string. The rule ``inconsistent-listing`` evaluates the rules on
them, so the most pessimistic reading decides. A listing the command line confirms (every hub
port where the command line puts it) keeps no ambiguity readings. Pure, like the parser.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace

from qnetinspect.models import Hub, HubPort, NetClient, QomNic, Topology

__all__ = ["check_listing", "cross_check_live", "hubport_hubs"]

_LEGACY_PORT = re.compile(r"hub(-?\d+)port\d+\Z")
_HUB_HEADER = re.compile(r"hub -?\d+\Z")
#: how many lines after an external backend's line may be the tail of its info string
WINDOW = 8
#: readings tried per listing (each is one more parse)
MAX_READINGS = 24
#: above this many lines, only the contradiction checks run (each reading is a full parse)
MAX_LINES = 4000


def check_listing(
    topology: Topology, text: str, reparse: Callable[[str], Topology]
) -> Topology:
    """``topology`` with its contradictions and alternative readings (see the module doc).

    ``reparse`` parses a text without these checks (the parser's own core).
    """
    if topology.dialect == "empty":
        return topology
    lines = text.split("\n")
    if topology.dialect == "vlan" and not any(
        _HUB_HEADER.match(line.rstrip("\r")) for line in lines
    ):
        return topology  # QEMU before 1.2 printed VLANs, and nothing of it is a hub
    problems = _contradictions(topology)
    if topology.dialect == "vlan":
        problems.append("the listing has both hub and VLAN sections, which no QEMU prints")
    readings: list[Topology] = []
    repaired = _repair(topology)
    if repaired is not None:
        readings.append(repaired)
    if len(lines) <= MAX_LINES:
        readings.extend(_absorbed_readings(topology, lines, reparse))
    if not problems and not readings:
        return topology
    return replace(topology, contradictions=tuple(problems), alternatives=tuple(readings))


def _contradictions(t: Topology) -> list[str]:
    out: list[str] = []
    seen: dict[int, int] = {}
    for hub in t.hubs:
        if hub.id in seen:
            first, second = sorted((seen[hub.id], hub.line))
            out.append(f"hub {hub.id} is listed twice (lines {first} and {second})")
        else:
            seen[hub.id] = hub.line
        last: tuple[int, str] | None = None  # (number, name) of the previous legacy port
        for port in hub.ports:  # creation order: QEMU numbers legacy ports upwards
            m = _LEGACY_PORT.match(port.name or "")
            if m and int(m[1]) != hub.id:
                out.append(f"port {port.name} (line {port.line}) is listed under hub {hub.id}")
            if m:
                number = int((port.name or "").rpartition("port")[2])
                if last is not None and number <= last[0]:
                    out.append(f"port {port.name} (line {port.line}) is out of QEMU's order "
                               f"(after {last[1]})")
                last = (number, port.name or "")
    first_client = min((c.line for c in t.clients if c.line), default=0)
    late = [h for h in t.hubs if first_client and h.line > first_client]
    out.extend(
        f"hub {h.id} (line {h.line}) comes after the clients outside hubs (line {first_client}),"
        " where QEMU prints no hub"
        for h in late
    )
    return out


def _repair(t: Topology, moves: dict[str, int] | None = None) -> Topology | None:
    """Hubs listed twice merged, ports moved to the hub their name (or ``moves``) says."""
    wanted: dict[int, list[HubPort]] = {}
    lines: dict[int, int] = {}
    changed = False
    for hub in t.hubs:
        if hub.id in wanted:
            changed = True
        wanted.setdefault(hub.id, [])
        lines.setdefault(hub.id, hub.line)
        for port in hub.ports:
            target = hub.id
            m = _LEGACY_PORT.match(port.name or "")
            if moves and port.name in moves:
                target = moves[port.name]
            elif m:
                target = int(m[1])
            if target != hub.id:
                changed = True
            wanted.setdefault(target, []).append(port)
            lines.setdefault(target, hub.line)
    if not changed:
        return None
    # a hub left without ports was only a phantom of the moved lines
    hubs = tuple(
        Hub(id=i, ports=tuple(ports), line=lines[i]) for i, ports in wanted.items() if ports
    )
    return replace(t, hubs=hubs, contradictions=(), alternatives=())


#: backends whose info string QEMU builds from numbers and validated ids only (socket prints
#: numeric addresses, vhost-user a chardev id, af-xdp/netmap an interface name): no newline
_NO_FREE_TEXT = frozenset({"socket", "vhost-user", "af-xdp", "netmap", "l2tpv3"})


def _external_lines(t: Topology) -> list[int]:
    """Line numbers of external backends whose info string may hold a crafted newline (a
    path, a script): every external type but those QEMU prints from numbers and ids only."""
    found = {
        c.line for c in t.iter_clients()
        if c.is_external and c.line and c.type not in _NO_FREE_TEXT
    }
    return sorted(found)


def _absorbed_readings(
    t: Topology, lines: list[str], reparse: Callable[[str], Topology]
) -> list[Topology]:
    out: list[Topology] = []
    odd = _looks_odd(t)
    # a filter's properties hold paths too (filter-dump's file=): its line counts like a backend's
    filters = [i + 1 for i, line in enumerate(lines) if line.startswith("  - ")]
    for no in sorted({*_external_lines(t), *filters}):
        i = no - 1  # 0-based index of the backend's line
        if i >= len(lines):
            continue
        tail: list[int] = []
        j = i + 1
        while j < len(lines) and len(tail) < WINDOW:
            if lines[j].strip():
                tail.append(j)
                if _starts_section(lines[j], odd) and len(out) < MAX_READINGS:
                    out.append(reparse(_absorb(lines, i, tail)))
            j += 1
    return out


def _starts_section(line: str, odd: bool) -> bool:
    """A hub/VLAN header always counts; another unindented line (a client outside the hubs,
    which follows the last hub in every real listing) only when the reading already looks odd.
    """
    if line[:1].isspace() or line.startswith("filters:"):
        return False
    if line.startswith(("hub ", "VLAN ", "Devices not on any VLAN")):
        return True
    return odd


def _looks_odd(t: Topology) -> bool:
    """Signs that a client line was slipped in before a hub's ports: a port or peer line that
    could not be read where it stands (a stray line of other text is no such sign), or a pair
    QEMU never makes (NIC with NIC, backend with backend)."""
    if any(u.text.startswith(" \\ ") for u in t.unparsed):
        return True
    return any(c.peer is not None and c.is_nic == c.peer.is_nic for c in t.clients)


def _absorb(lines: list[str], i: int, tail: Sequence[int]) -> str:
    """The text with lines ``tail`` read as the end of line ``i`` (numbers stay the same)."""
    copy = list(lines)
    copy[i] = copy[i].rstrip("\r") + "".join("\\n" + lines[j].rstrip("\r") for j in tail)
    for j in tail:
        copy[j] = ""
    return "\n".join(copy)


# ----------------------------------------------------------------------------- live data
def hubport_hubs(argv: Sequence[str]) -> dict[str, int]:
    """Hub port name -> hub id as the command line makes them (``-netdev hubport,hubid=N``,
    and ``hub0portK`` of legacy ``-net``); empty when there is no command line."""
    if not argv:
        return {}
    from qnetinspect.parse.argv import predict  # only for local VMs

    return {
        c.name: c.hub for c in predict(argv).clients if c.kind == "hubport" and c.hub is not None
    }


def cross_check_live(
    topology: Topology, hubport_hubs: dict[str, int], qom_nics: Sequence[QomNic]
) -> Topology:
    """Check the listing against the command line (``hubport id -> hub id``, from a local VM's
    argv; empty when unknown) and QOM's NIC -> netdev pairs; adds contradictions and readings.

    When the command line places every hub port and the listing agrees, the ambiguity readings
    are dropped: the hub membership is confirmed.
    """
    problems = list(topology.contradictions)
    moves: dict[str, int] = {}
    confirmed = bool(hubport_hubs) and bool(topology.hubs)
    for hub in topology.hubs:
        for port in hub.ports:
            want = hubport_hubs.get(port.name or "")
            if want is None:
                confirmed = False
            elif want != hub.id:
                moves[port.name or ""] = want
                problems.append(
                    f"port {port.name} is listed under hub {hub.id}; the command line puts it "
                    f"on hub {want}"
                )
    problems.extend(_qom_contradictions(topology, qom_nics))
    readings = list(topology.alternatives)
    if moves:
        moved = _repair(topology, moves)
        if moved is not None:
            readings.insert(0, moved)
    elif confirmed and not problems:
        readings = []
    if problems == list(topology.contradictions) and readings == list(topology.alternatives):
        return topology
    return replace(topology, contradictions=tuple(problems), alternatives=tuple(readings))


def _qom_contradictions(t: Topology, qom_nics: Sequence[QomNic]) -> list[str]:
    """A NIC QOM pairs with netdev X must sit next to X in the listing (matched by MAC)."""
    neighbours: dict[str, set[str]] = {}  # mac -> names next to that NIC
    for hub in t.hubs:
        for port in hub.ports:
            if port.peer is not None and port.peer.is_nic and port.peer.mac and port.name:
                neighbours.setdefault(port.peer.mac, set()).add(port.name)
    for c in t.clients:
        pair: tuple[NetClient, NetClient | None] = (c, c.peer)
        nic = next((x for x in pair if x is not None and x.is_nic), None)
        other = next((x for x in pair if x is not None and x is not nic), None)
        if nic is not None and nic.mac:
            neighbours.setdefault(nic.mac, set())
            if other is not None:
                neighbours[nic.mac].add(other.name)
    out = []
    for q in qom_nics:
        if not q.netdev or not q.mac or q.mac not in neighbours:
            continue
        if q.netdev not in neighbours[q.mac]:
            out.append(f"QOM pairs NIC {q.id} ({q.mac}) with netdev {q.netdev}; the listing "
                       "does not")
    return out
