from __future__ import annotations

from collections.abc import Iterator

from qnetinspect.models import Finding, Severity, Snapshot, Topology
from qnetinspect.rules._common import hub_nics, hub_origin, join, split_hub, split_topology
from qnetinspect.rules.base import Rule


class MultiNicHub(Rule):
    """A hub joins two or more guest NICs.

    Why it matters: every NIC on the hub receives every frame of the others, so the guest sees
    its own traffic twice, DHCP answers arrive on several interfaces, and a guest that bridges
    or bonds them makes a loop inside QEMU. Usually each NIC was meant to have its own network.

    How to fix: give each NIC its own backend, e.g. ``-netdev user,id=net0 -device
    e1000,netdev=net0 -netdev socket,id=ext0,connect=HOST:PORT -device e1000,netdev=ext0``
    (NICs beyond the hub's backends are offered a ``-netdev user`` of their own: pick the
    backend they need). Keep a hub only for a deliberate guest-to-guest LAN, and suppress
    this finding for it in the config.
    """

    slug = "multi-nic-hub"
    severity = Severity.WARNING

    def check(self, snapshot: Snapshot, topology: Topology) -> Iterator[Finding]:
        for hub in topology.hubs:
            nics = hub_nics(hub)
            if len(nics) < 2:
                continue
            yield self.finding(
                snapshot.target,
                f"{snapshot.label}: hub {hub.id} joins {len(nics)} guest NICs "
                f"{join(n.name for n in nics)}: each receives the others' frames",
                hub=hub.id,
                clients=[n.name for n in nics],
                fix=f"{split_hub(hub, spare_nics='user')} ({hub_origin(hub)})",
            )

    def fixed(self, topology: Topology, finding: Finding) -> Topology | None:
        hub = topology.hub(finding.hub) if finding.hub is not None else None
        return split_topology(topology, hub, spare_nics="user") if hub is not None else None
