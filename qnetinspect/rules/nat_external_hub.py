from __future__ import annotations

from collections.abc import Iterator

from qnetinspect.models import Finding, Severity, Snapshot, Topology
from qnetinspect.rules._common import (
    describe,
    hub_backends,
    hub_nics,
    hub_origin,
    join,
    split_hub,
    split_topology,
)
from qnetinspect.rules.base import Rule


class NatExternalHub(Rule):
    """A hub joins the user-mode NAT (slirp) with an external backend (tap, socket, stream ...).

    Why it matters: a hub repeats every frame to every port, so the external network sees the
    guest's NAT traffic and its hosts can use the VM's NAT as a way out: they get DHCP from slirp
    (10.0.2.x) and reach the host's networks through it, past any firewall in front of the tap or
    socket. This is what legacy ``-net nic -net user -net socket,...`` builds on hub 0.

    How to fix: give each backend its own NIC and no hub, e.g. ``-netdev user,id=nat0 -device
    e1000,netdev=nat0 -netdev socket,id=ext0,listen=HOST:PORT -device e1000,netdev=ext0`` in
    place of the ``-net`` options (or the ``-netdev hubport`` netdevs) that make the hub. The
    finding's fix names the clients of your VM.
    """

    slug = "nat-external-hub"
    severity = Severity.CRITICAL

    def check(self, snapshot: Snapshot, topology: Topology) -> Iterator[Finding]:
        for hub in topology.hubs:
            backends = hub_backends(hub)
            nat = [b for b in backends if b.is_nat]
            external = [b for b in backends if b.is_external]
            if not nat or not external:
                continue
            nics = hub_nics(hub)
            reach = f"guest NICs {join(n.name for n in nics)}" if nics else "no guest NIC"
            yield self.finding(
                snapshot.target,
                f"{snapshot.label}: hub {hub.id} joins user-mode NAT "
                f"{join(describe(b) for b in nat)} with external "
                f"{join(describe(b) for b in external)} ({reach}): the external side can use "
                "the VM's NAT to reach the host's networks",
                hub=hub.id,
                clients=[b.name for b in (*nat, *external)],
                fix=f"{split_hub(hub, spare_nics='user')} ({hub_origin(hub)})",
            )

    def fixed(self, topology: Topology, finding: Finding) -> Topology | None:
        hub = topology.hub(finding.hub) if finding.hub is not None else None
        return split_topology(topology, hub, spare_nics="user") if hub is not None else None
