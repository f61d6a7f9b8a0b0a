from __future__ import annotations

from collections.abc import Iterator

from qnetinspect.models import Finding, Severity, Snapshot, Topology
from qnetinspect.rules._common import (
    LEGACY_PORT_NAME,
    describe,
    hub_backends,
    hub_nics,
    join,
    pairs,
    usable_id,
)
from qnetinspect.rules.base import Rule


class DanglingBackend(Rule):
    """A backend, or a hub, with no guest NIC on it.

    Why it matters: the backend still runs on the host: a ``user`` backend keeps its host
    forwards open, a socket keeps listening, a tap stays up, but no guest traffic flows. It is
    usually a NIC that was hot-unplugged, a typo in ``netdev=``, or a ``-net`` option without its
    ``-net nic``. QEMU only warns on stderr at startup (``hub N with no nics``,
    ``netdev X has no peer``).

    How to fix: attach a NIC, e.g. ``-device virtio-net-pci,netdev=net0`` for ``-netdev
    user,id=net0``, or ``-netdev hubport,id=hp0nic,hubid=0 -device virtio-net-pci,netdev=hp0nic``
    for a hub; or remove the backend (``-netdev`` option, or QMP ``netdev_del`` on a running VM).
    """

    slug = "dangling-backend"
    severity = Severity.WARNING

    def check(self, snapshot: Snapshot, topology: Topology) -> Iterator[Finding]:
        label = snapshot.label
        for hub in topology.hubs:
            if hub_nics(hub):
                continue
            backends = hub_backends(hub)
            legacy = all(p.name is None or LEGACY_PORT_NAME.match(p.name) for p in hub.ports)
            attach = (
                "-net nic,model=virtio-net-pci"
                if legacy
                else f"-netdev hubport,id=hp{hub.id}nic,hubid={hub.id} "
                f"-device virtio-net-pci,netdev=hp{hub.id}nic"
            )
            ports = join(p.name or "?" for p in hub.ports)
            what = (
                f"backends {join(describe(b) for b in backends)}"
                if backends
                else f"only unconnected ports {ports}"
            )
            remove = "the hub's backends" if backends else f"the hubport netdevs {ports}"
            yield self.finding(
                snapshot.target,
                f"{label}: hub {hub.id} has no guest NIC, {what}",
                hub=hub.id,
                clients=[b.name for b in backends],
                fix=f"attach a NIC with {attach}, or remove {remove}",
            )
        for client, peer in pairs(topology):
            if client.is_nic or peer is not None or client.type in ("hubport", "none"):
                continue
            if usable_id(client.name):
                fix = (
                    f"attach a NIC with -device virtio-net-pci,netdev={client.name}, "
                    f"or remove it (QMP netdev_del {client.name}, or its -netdev option)"
                )
            else:
                fix = "attach a NIC to it, or remove the -net/-nic option that made it"
            yield self.finding(
                snapshot.target,
                f"{label}: backend {describe(client)} has no NIC: it runs on the host "
                "but carries no guest traffic",
                clients=[client.name],
                fix=fix,
            )
