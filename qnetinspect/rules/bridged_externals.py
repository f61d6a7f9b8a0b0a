from __future__ import annotations

from collections.abc import Iterator

from qnetinspect.models import Finding, Severity, Snapshot, Topology
from qnetinspect.rules._common import (
    describe,
    hub_backends,
    hub_origin,
    join,
    split_hub,
    split_topology,
)
from qnetinspect.rules.base import Rule


class BridgedExternals(Rule):
    """A hub joins two or more external backends (tap, socket, stream, dgram ...).

    Why it matters: QEMU then forwards frames between those outside networks by itself, a
    bridge nobody configured on the host: two host segments (or two VMs' links) are joined
    behind the back of the host's firewall, and a loop between them floods both.

    How to fix: give each external backend its own NIC, e.g.
    ``-netdev tap,id=ext0,ifname=tap0,script=no,downscript=no
    -device virtio-net-pci,netdev=ext0 -netdev socket,id=ext1,connect=HOST:PORT
    -device virtio-net-pci,netdev=ext1``; if joining them is the goal, do it in a host bridge
    where it is visible and filtered.
    """

    slug = "bridged-externals"
    severity = Severity.WARNING

    def check(self, snapshot: Snapshot, topology: Topology) -> Iterator[Finding]:
        for hub in topology.hubs:
            external = [b for b in hub_backends(hub) if b.is_external]
            if len(external) < 2:
                continue
            yield self.finding(
                snapshot.target,
                f"{snapshot.label}: hub {hub.id} bridges {len(external)} external backends "
                f"{join(describe(b) for b in external)}: QEMU forwards frames between them",
                hub=hub.id,
                clients=[b.name for b in external],
                fix=f"{split_hub(hub, external)} ({hub_origin(hub)})",
            )

    def fixed(self, topology: Topology, finding: Finding) -> Topology | None:
        hub = topology.hub(finding.hub) if finding.hub is not None else None
        if hub is None:
            return None
        return split_topology(topology, hub, [b for b in hub_backends(hub) if b.is_external])
