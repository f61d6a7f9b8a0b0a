"""L2 segments across VMs: which in-VM segments (hubs, NIC+backend pairs) exchange frames.

Two in-VM segments are joined when a backend of one sends to an address another one owns, or
both belong to the same group:

==================  =============================================  ==========================
backend             what ``info network`` shows                    key
==================  =============================================  ==========================
dgram inet          ``udp=L/R``                                    owns ``udp:L``, sends ``udp:R``
dgram unix          ``udp=/l:/r``                                  owns ``unix-dgram:/l``, sends
                                                                   ``unix-dgram:/r``
socket udp          ``socket: udp=R`` (local address hidden)       sends ``udp:R``
socket connect      ``socket: connect to A:P``                     sends ``tcp:A:P``
stream client       ``tcp:A:P``                                    sends ``tcp:A:P``
socket/dgram mcast  ``mcast=G:P``                                  group ``mcast:G:P``
stream unix         ``unix:PATH``                                  group ``unix-stream:PATH``
bridge              ``type=tap,helper=...,br=BR``                  group ``bridge:BR``
==================  =============================================  ==========================

Limits (what the data does not allow): a listening socket prints nothing, and an accepted one
prints only its peer's ephemeral address (``socket: connection from A:EPHEMERAL``, stream
``tcp:A:EPHEMERAL``), so the listening side of a TCP link, and the local side of a socket
``udp=``, are unknown unless a hint gives them: ``Snapshot.listen_hints`` (read by the inventory
from a local QEMU's command line) or ``hints[(target, netdev)] = "A:P"`` from the caller.
A plain tap shows its interface, not the host bridge it is in, so taps are joined only
through ``br=`` (the bridge helper). Two ``user`` backends never share a
segment (each slirp is its own network).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from qnetinspect.models import NetClient, Segment, Snapshot

__all__ = ["GlobalSegment", "SegmentMember", "endpoints", "global_segments", "segment_roots"]

Hints = Mapping[tuple[str, str], str]

# the parser keeps dgram's ``udp=`` as one value: ``L/R`` (inet) or ``/lpath:/rpath`` (unix)
_DGRAM_INET = re.compile(r"^(?P<local>[^/]+:\d+)/(?P<remote>[^/]+:\d+)$")
_DGRAM_UNIX = re.compile(r"^(?P<local>/.*?):(?P<remote>/.*)$")


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where one backend's frames come from and go to, as comparable keys."""

    owns: frozenset[str] = frozenset()
    sends: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()


def endpoints(backend: NetClient, hint: str | None = None) -> Endpoints:
    """The keys of ``backend`` (see the module table); ``hint`` is its local address if known.

    Reads the fields the parser found in the info string (``NetClient.info``).
    """
    info = backend.info
    owns: set[str] = set()
    sends: set[str] = set()
    groups: set[str] = set()
    t = backend.type
    if t == "socket":
        if addr := info.get("connect"):
            sends.add(f"tcp:{addr}")
        elif addr := info.get("udp"):
            sends.add(f"udp:{addr}")
            if hint:
                owns.add(f"udp:{hint}")
        elif addr := info.get("mcast"):
            groups.add(f"mcast:{addr}")
        elif hint:
            owns.add(f"tcp:{hint}")  # listening, or accepted a connection
    elif t == "stream":
        if hint:
            owns.add(f"tcp:{hint}")
        elif addr := info.get("tcp"):
            sends.add(f"tcp:{addr}")
        elif path := info.get("unix"):
            groups.add(f"unix-stream:{path}")
    elif t == "dgram":
        udp = info.get("udp", "")
        if m := _DGRAM_INET.match(udp):
            owns.add(f"udp:{m['local']}")
            sends.add(f"udp:{m['remote']}")
        elif m := _DGRAM_UNIX.match(udp):
            owns.add(f"unix-dgram:{m['local']}")
            sends.add(f"unix-dgram:{m['remote']}")
        elif addr := info.get("mcast"):
            groups.add(f"mcast:{addr}")
    elif t == "tap" and info.get("br"):
        groups.add(f"bridge:{info['br']}")
    return Endpoints(frozenset(owns), frozenset(sends), frozenset(groups))


@dataclass(frozen=True, slots=True)
class SegmentMember:
    """One in-VM segment and the VM it lives in."""

    target: str
    label: str
    segment: Segment


@dataclass(frozen=True, slots=True)
class GlobalSegment:
    """In-VM segments joined by their backends; ``links`` are the keys that join them."""

    members: tuple[SegmentMember, ...]
    links: tuple[str, ...]

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(sorted({m.target for m in self.members}))

    @property
    def spans_vms(self) -> bool:
        return len(self.targets) > 1

    def nics(self) -> tuple[tuple[str, NetClient], ...]:
        """(target, NIC) for every guest NIC on the segment."""
        return tuple((m.target, n) for m in self.members for n in m.segment.nics)


def _readable(snapshots: Iterable[Snapshot]) -> list[Snapshot]:
    return [s for s in snapshots if s.error is None and s.topology is not None]


class _Groups:
    """Union-find over (snapshot index, segment index)."""

    def __init__(self, snapshots: Sequence[Snapshot], hints: Hints | None) -> None:
        self.members: list[SegmentMember] = []
        self.parent: list[int] = []
        self.links: dict[int, set[str]] = {}
        owners: dict[str, list[int]] = {}
        senders: list[tuple[int, str]] = []
        for snap in snapshots:
            assert snap.topology is not None
            for segment in snap.topology.segments():
                idx = len(self.members)
                self.members.append(SegmentMember(snap.target, snap.label, segment))
                self.parent.append(idx)
                for backend in segment.backends:
                    hint = (hints or {}).get((snap.target, backend.name)) or (
                        snap.listen_hints.get(backend.name)
                    )
                    ep = endpoints(backend, hint)
                    for key in ep.owns | ep.groups:
                        owners.setdefault(key, []).append(idx)
                    senders.extend((idx, key) for key in ep.sends)
        for key, idxs in owners.items():
            for other in idxs[1:]:
                self.union(idxs[0], other, key)
        for idx, key in senders:
            for other in owners.get(key, ()):
                self.union(idx, other, key)

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int, key: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            self.links.setdefault(ra, set()).add(key)
            return
        self.parent[rb] = ra
        merged = self.links.pop(rb, set()) | self.links.get(ra, set()) | {key}
        self.links[ra] = merged


def global_segments(
    snapshots: Sequence[Snapshot], hints: Hints | None = None
) -> list[GlobalSegment]:
    """Segments made of two or more in-VM segments joined through their backends.

    Snapshots with an error or without a topology are skipped. ``hints`` maps
    ``(target, backend name)`` to the backend's own ``host:port`` where the caller knows it
    (listening sockets and streams, socket ``udp=`` local addresses). Sorted by targets, then
    by the first member's hub.
    """
    groups = _Groups(_readable(snapshots), hints)
    by_root: dict[int, list[SegmentMember]] = {}
    for i, member in enumerate(groups.members):
        by_root.setdefault(groups.find(i), []).append(member)
    out = [
        GlobalSegment(members=tuple(members), links=tuple(sorted(groups.links.get(root, ()))))
        for root, members in by_root.items()
        if len(members) > 1
    ]
    out.sort(key=lambda g: (g.targets, [(m.target, _hub_key(m.segment.hub)) for m in g.members]))
    return out


def segment_roots(
    snapshots: Sequence[Snapshot], hints: Hints | None = None
) -> dict[tuple[str, str], int]:
    """``(target, client name) -> segment id``: equal ids share an L2 segment (within or
    across VMs)."""
    groups = _Groups(_readable(snapshots), hints)
    roots: dict[tuple[str, str], int] = {}
    for i, member in enumerate(groups.members):
        root = groups.find(i)
        for client in member.segment.clients:
            roots.setdefault((member.target, client.name), root)
    return roots


def _hub_key(hub: int | None) -> tuple[bool, int]:
    return (hub is not None, hub or 0)
