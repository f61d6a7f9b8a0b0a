from __future__ import annotations

from collections.abc import Iterator

from qnetinspect.models import Finding, Severity, Snapshot, Topology
from qnetinspect.rules._common import (
    DEFAULT_MAC,
    describe,
    fix_mac,
    hub_of,
    join,
    nic_netdevs,
    nic_with_mac,
    suggested_mac,
    unique,
    with_nic_info,
)
from qnetinspect.rules.base import Rule


class DefaultMac(Rule):
    """A NIC keeps QEMU's default MAC (52:54:00:12:34:xx) on a segment that leaves the VM.

    Why it matters: QEMU numbers default MACs from 52:54:00:12:34:56 in each process, so every
    VM started the same way has the same MACs. Behind a tap, socket, stream or dgram backend the
    VMs meet on one network and collide (ARP flapping, DHCP leases swapped). Behind ``user`` NAT
    alone the MAC never leaves the VM, so it is not reported there.

    How to fix: set a MAC per VM, e.g. ``-device virtio-net-pci,netdev=ext0,mac=52:54:00:5e:a1:07``
    (legacy: ``-net nic,macaddr=...``); the finding suggests one derived from the VM and NIC
    names, or generate your own in the 52:54:00 range.
    """

    slug = "default-mac"
    severity = Severity.WARNING

    def check(self, snapshot: Snapshot, topology: Topology) -> Iterator[Finding]:
        hubs = hub_of(topology)
        netdevs = nic_netdevs(topology)
        for segment in topology.segments():
            external = [b for b in unique(segment.backends) if b.is_external]
            if not external:
                continue
            for nic in unique(segment.nics):
                mac = nic.mac
                if mac is None or not DEFAULT_MAC.match(mac):
                    continue
                hub = hubs.get(nic.name)
                where = f" on hub {hub}" if hub is not None else ""
                new = suggested_mac(snapshot.label, nic.name, mac)
                yield self.finding(
                    snapshot.target,
                    f"{snapshot.label}: NIC {nic.name}{where} has QEMU's default MAC {mac} and "
                    f"reaches outside the VM through {join(describe(b) for b in external)}: "
                    "other VMs started the same way use the same MAC",
                    hub=hub,
                    clients=[nic.name, *(b.name for b in external)],
                    fix=nic_with_mac(nic, netdevs.get(nic.name), new, hub is not None),
                )

    def fixed(self, topology: Topology, finding: Finding) -> Topology | None:
        mac = fix_mac(finding.fix)
        if mac is None or not finding.clients:
            return None
        return with_nic_info(topology, finding.clients[0], macaddr=mac)
