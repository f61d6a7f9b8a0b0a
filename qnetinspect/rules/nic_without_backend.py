from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from qnetinspect.models import Finding, HubPort, NetClient, Severity, Snapshot, Topology
from qnetinspect.rules._common import (
    LEGACY_PORT_NAME,
    device_option,
    hub_backends,
    hub_nics,
    hub_origin,
    join,
    pairs,
    usable_id,
)
from qnetinspect.rules.base import Rule


class NicWithoutBackend(Rule):
    """A guest NIC has no backend: no peer at all, or a hub with no backend on it.

    Why it matters: the guest sees a NIC with its link up whose frames go nowhere: DHCP times
    out, boot waits for the network, and the cause is invisible from inside the guest. QEMU only
    warns about it on stderr at startup (``nic X has no peer``, ``hub N is not connected to host
    network``).

    How to fix: give the NIC a backend, e.g. ``-netdev user,id=net0 -device
    e1000,netdev=net0,id=nic0`` in place of ``-device e1000,id=nic0``; for a hub of NICs add one
    with ``-netdev user,id=nat5 -netdev hubport,id=hp5nat,hubid=5,netdev=nat5``. If the NIC is
    not wanted, remove it (``-nic none`` for the on-board NIC).
    """

    slug = "nic-without-backend"
    severity = Severity.WARNING

    def check(self, snapshot: Snapshot, topology: Topology) -> Iterator[Finding]:
        label = snapshot.label
        for hub in topology.hubs:
            nics = hub_nics(hub)
            if not nics or hub_backends(hub):
                continue
            if len(nics) == 1:
                netdev_id = f"net{hub.id}"
                fix = f"-netdev user,id={netdev_id} {device_option(nics[0], netdev_id)} "
                fix += f"({hub_origin(hub)})"
            else:
                legacy = all(p.name is None or LEGACY_PORT_NAME.match(p.name) for p in hub.ports)
                fix = (
                    f"if the NICs should reach a network, add a backend to hub {hub.id}: "
                    + (
                        "-net user"
                        if legacy
                        else f"-netdev user,id=nat{hub.id} "
                        f"-netdev hubport,id=hp{hub.id}nat,hubid={hub.id},netdev=nat{hub.id}"
                    )
                    + "; if the hub is a deliberate guest-only LAN, suppress this finding"
                )
            yield self.finding(
                snapshot.target,
                f"{label}: hub {hub.id} has guest NICs {join(n.name for n in nics)} "
                "and no backend: their frames reach no network outside the VM",
                hub=hub.id,
                clients=[n.name for n in nics],
                fix=fix,
            )
        for client, peer in pairs(topology):
            if not client.is_nic or peer is not None:
                continue
            netdev_id = f"{client.name}_net" if usable_id(client.name) else "net0"
            yield self.finding(
                snapshot.target,
                f"{label}: NIC {client.name} ({client.model or 'nic'}) has no backend: "
                "its frames go nowhere",
                clients=[client.name],
                fix=f"-netdev user,id={netdev_id} {device_option(client, netdev_id)} "
                f"in place of the NIC's current -device/-net nic option, or remove the NIC",
            )

    def fixed(self, topology: Topology, finding: Finding) -> Topology | None:
        """The fix applied: each named NIC (or the hub of NICs) gets a ``user`` backend."""
        nat = NetClient("qni-fix-nat", "user", info={"net": "10.0.2.0", "restrict": "off"})
        if finding.hub is not None:
            hub = topology.hub(finding.hub)
            if hub is None:
                return None
            nics = hub_nics(hub)
            if len(nics) == 1:
                rest = tuple(h for h in topology.hubs if h.id != hub.id)
                pair = replace(nics[0], peer=nat)
                return replace(topology, hubs=rest, clients=(*topology.clients, pair))
            port = HubPort(name="qni-fix-port", peer=nat)
            hubs = tuple(
                replace(h, ports=(*h.ports, port)) if h.id == hub.id else h for h in topology.hubs
            )
            return replace(topology, hubs=hubs)
        clients = tuple(
            replace(c, peer=nat) if c.is_nic and c.name in finding.clients and c.peer is None
            else c
            for c in topology.clients
        )
        return replace(topology, clients=clients)
