from __future__ import annotations

from collections.abc import Iterator

from qnetinspect.models import Finding, Severity, Snapshot, Topology
from qnetinspect.rules._common import (
    DEFAULT_MAC,
    VIRTIO_NET_MODELS,
    hub_of,
    is_auto_nic_name,
    nic_netdevs,
    usable_id,
    with_nic_info,
)
from qnetinspect.rules.base import Rule


class EmulatedNic(Rule):
    """A NIC emulates real hardware (e1000, rtl8139, pcnet ...) where virtio-net would serve.

    Why it matters: an emulated NIC traps into QEMU for every register access, so it moves
    packets several times slower and with more host CPU than the paravirtual virtio-net. Keep it
    only for guests without virtio drivers (old or exotic systems, installers, firmware PXE).

    How to fix: use ``-device virtio-net-pci,netdev=net0`` in place of ``-device
    e1000,netdev=net0`` (legacy: ``-nic user,model=virtio-net-pci``), keeping the NIC's ``id=``
    and ``mac=``; the guest needs the virtio-net driver (Linux has it, Windows needs the
    virtio-win drivers).
    """

    slug = "emulated-nic"
    severity = Severity.INFO

    def check(self, snapshot: Snapshot, topology: Topology) -> Iterator[Finding]:
        hubs = hub_of(topology)
        netdevs = nic_netdevs(topology)
        for nic in topology.nics():
            model = nic.model
            if model is None or model in VIRTIO_NET_MODELS:
                continue
            hub = hubs.get(nic.name)
            netdev = netdevs.get(nic.name)
            where = f" on hub {hub}" if hub is not None else ""
            if netdev is None and hub is not None:
                fix = f"-net nic,model=virtio-net-pci in place of -net nic,model={model}"
            else:
                new = "-device virtio-net-pci" + (f",netdev={netdev}" if netdev else "")
                old = f"-device {model}" + (f",netdev={netdev}" if netdev else "")
                if usable_id(nic.name) and not is_auto_nic_name(nic):
                    new += f",id={nic.name}"
                    old += f",id={nic.name}"
                if nic.mac and not DEFAULT_MAC.match(nic.mac):
                    new += f",mac={nic.mac}"
                fix = f"{new} in place of {old}"
            yield self.finding(
                snapshot.target,
                f"{snapshot.label}: NIC {nic.name}{where} is an emulated {model}: virtio-net-pci "
                "moves packets faster with less host CPU if the guest has virtio drivers",
                hub=hub,
                clients=[nic.name],
                fix=fix,
            )

    def fixed(self, topology: Topology, finding: Finding) -> Topology | None:
        if not finding.clients:
            return None
        return with_nic_info(topology, finding.clients[0], model="virtio-net-pci")
