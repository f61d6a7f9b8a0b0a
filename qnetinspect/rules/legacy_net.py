from __future__ import annotations

from collections.abc import Iterator

from qnetinspect.models import Finding, Hub, Severity, Snapshot, Topology
from qnetinspect.rules._common import (
    AUTO_BACKEND_NAME,
    LEGACY_PORT_NAME,
    describe,
    hub_backends,
    hub_nics,
    join,
    split_hub,
    split_topology,
    unique,
)
from qnetinspect.rules.base import Rule


def _is_legacy(hub: Hub, dialect: str) -> bool:
    if dialect == "vlan":
        return True
    if any(p.name and LEGACY_PORT_NAME.match(p.name) for p in hub.ports):
        return True
    return any(AUTO_BACKEND_NAME.match(c.name) for c in hub.peers)


class LegacyNet(Rule):
    """A hub was made by legacy ``-net`` options (hub ports ``hub<N>port<K>``, backends named
    ``#net...`` or ``__org.qemu.net...``).

    Why it matters: ``-net`` puts every NIC and backend of the VM on one hub, so adding a
    second ``-net`` backend silently joins it with the first (the way NAT ends up bridged to a
    tap or socket), and its auto names change on every run (``#net`` plus random digits), so
    tools and QMP commands cannot refer to them.

    How to fix: pair each NIC with its own named backend, e.g. ``-netdev user,id=net0 -device
    e1000,netdev=net0`` (or the shorthand ``-nic user,model=e1000``) in place of ``-net
    nic,model=e1000 -net user``; the finding gives the line for your hub.
    """

    slug = "legacy-net"
    severity = Severity.INFO

    def check(self, snapshot: Snapshot, topology: Topology) -> Iterator[Finding]:
        for hub in topology.hubs:
            if not _is_legacy(hub, topology.dialect):
                continue
            nics = hub_nics(hub)
            backends = hub_backends(hub)
            if backends:
                fix = split_hub(hub, spare_nics="name")
            else:
                fix = " ".join(f"-device {n.model or 'virtio-net-pci'}" for n in nics)
            members = unique((*nics, *backends))
            # a port named by its -netdev hubport id (not hub<N>port<K>) was added by -netdev
            # hubport, not by -net: name those members apart instead of crediting them to -net
            by_hubport = unique(
                p.peer for p in hub.ports
                if p.peer is not None and p.name and not LEGACY_PORT_NAME.match(p.name)
            )
            # by (name, type), as `unique` does: `in` on the tuple was quadratic (a listing of
            # 10,000 ports took seconds)
            hubport_keys = {(c.name, c.type) for c in by_hubport}
            legacy = [c for c in members if (c.name, c.type) not in hubport_keys]
            also = (
                f"; also on it through -netdev hubport: {join(describe(c) for c in by_hubport)}"
                if by_hubport and legacy else ""
            )
            shown = legacy if also else members
            yield self.finding(
                snapshot.target,
                f"{snapshot.label}: hub {hub.id} was made by legacy -net options "
                f"({join(describe(c) for c in shown) or 'no clients'}){also}",
                hub=hub.id,
                clients=[c.name for c in members],
                fix=f"{fix} in place of the -net options" if fix else "remove the -net options",
            )

    def fixed(self, topology: Topology, finding: Finding) -> Topology | None:
        """The split applied (a hub without backends: its NICs alone, as the fix says)."""
        hub = topology.hub(finding.hub) if finding.hub is not None else None
        if hub is None:
            return None
        return split_topology(topology, hub, spare_nics="name")
