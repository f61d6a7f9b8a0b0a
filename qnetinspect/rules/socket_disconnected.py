from __future__ import annotations

from collections.abc import Iterator

from qnetinspect.models import Finding, NetClient, Severity, Snapshot, Topology
from qnetinspect.rules._common import hub_of, join, unique
from qnetinspect.rules.base import Rule

#: what a stream backend prints while it has no peer (7.2: nothing; 9.0+: a state word)
_STREAM_WAITING = frozenset({"", "listening", "connecting", "initializing"})


def _waiting(client: NetClient) -> str | None:
    raw = client.info_raw.strip()
    if client.type == "socket" and raw == "":
        return "waiting for its peer (listening with none connected, or the peer went away)"
    if client.type == "stream" and raw.lower() in _STREAM_WAITING:
        return f"waiting for its peer ({raw or 'nothing connected'})"
    if client.type in ("stream", "socket") and _failed(raw):
        return f"without a peer: its connection failed ({raw})"
    return None


def _failed(raw: str) -> bool:
    """The states QEMU 9.0+ prints when a stream could not listen or connect."""
    low = raw.lower()
    return low == "connection error" or low.startswith(("error:", "can't use file descriptor"))


class SocketDisconnected(Rule):
    """A socket or stream backend waits for its peer (nothing connected yet, or it left).

    Why it matters: the NIC behind it has link up but every frame is dropped: the guest sees a
    working interface on a dead network. A listening socket prints an empty info string in
    every QEMU version; a stream prints nothing (7.2) or ``listening``/``connecting`` (9.0+),
    and ``connection error`` or ``error: <reason>`` when it could not listen or connect.

    How to fix: start the other side, e.g. on the peer VM ``-netdev
    socket,id=ext0,connect=HOST:PORT -device virtio-net-pci,netdev=ext0`` (stream: ``-netdev
    stream,id=ext0,server=off,addr.type=inet,addr.host=HOST,addr.port=PORT``), with the address
    this backend listens on; or remove the backend if the link is no longer wanted.
    """

    slug = "socket-disconnected"
    severity = Severity.WARNING

    def check(self, snapshot: Snapshot, topology: Topology) -> Iterator[Finding]:
        hubs = hub_of(topology)
        by_peer = {c.peer.name: c for c in topology.clients if c.peer is not None}
        for backend in unique(topology.backends()):
            why = _waiting(backend)
            if why is None:
                continue
            hub = hubs.get(backend.name)
            nic = by_peer.get(backend.name)
            hub_obj = topology.hub(hub) if hub is not None else None
            if hub_obj is not None:
                where = f" on hub {hub}"
                nics = [c.name for c in unique(hub_obj.nics)]
            else:
                where = f" behind NIC {nic.name}" if nic is not None else ""
                nics = [nic.name] if nic is not None else []
            if backend.type == "socket":
                peer_side = "-netdev socket,id=ext0,connect=HOST:PORT"
                addr = f"the address {backend.name} listens on"
            elif backend.info_raw.strip().lower() == "connecting":
                peer_side = (
                    "-netdev stream,id=ext0,server=on,addr.type=inet,addr.host=HOST,addr.port=PORT"
                )
                addr = f"the address {backend.name} connects to"
            else:
                peer_side = (
                    "-netdev stream,id=ext0,server=off,addr.type=inet,addr.host=HOST,addr.port=PORT"
                )
                addr = f"the address {backend.name} listens on"
            yield self.finding(
                snapshot.target,
                f"{snapshot.label}: {backend.type} backend {backend.name}{where} is {why}"
                + (f"; frames of {join(nics)} are dropped" if nics else ""),
                hub=hub,
                clients=[backend.name, *nics],
                fix=f"start its peer with {peer_side} -device virtio-net-pci,netdev=ext0 "
                f"(HOST:PORT = {addr}), or remove {backend.name}",
            )
