from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

from qnetinspect.models import Finding, NetClient, Severity, Snapshot
from qnetinspect.rules._common import hub_of, join, nic_netdevs, nic_with_mac, suggested_mac
from qnetinspect.rules.base import Rule
from qnetinspect.rules.segments import segment_roots

#: other VMs' NICs named in one message; the rest are counted
_NAMED_OTHERS = 5


@dataclass(frozen=True, slots=True)
class _Nic:
    snapshot: Snapshot
    nic: NetClient
    hub: int | None
    netdev: str | None
    root: int | None


class DuplicateMac(Rule):
    """Two guest NICs have the same MAC address, in one VM or across VMs.

    Why it matters: on one L2 segment (the same hub, or VMs linked through socket, stream,
    dgram, multicast or a bridge) switches and guests cannot tell the NICs apart: frames go to
    the wrong one, ARP flaps, DHCP hands both the same lease. Critical when the NICs share a
    segment; a warning when they do not yet (the next cable or bridge joins them). QEMU accepts
    duplicate MACs silently.

    How to fix: give every NIC its own MAC with ``mac=``, e.g. ``-device
    e1000,netdev=net1,mac=52:54:00:8c:1f:02`` (legacy: ``-net nic,macaddr=...``); the
    finding suggests a MAC derived from the VM and NIC names.
    """

    slug = "duplicate-mac"
    severity = Severity.CRITICAL
    cross_vm = True
    severity_doc = "critical on one segment, else warning"

    def check_all(self, snapshots: Sequence[Snapshot]) -> Iterator[Finding]:
        roots = segment_roots(snapshots)
        by_mac: dict[str, list[_Nic]] = {}
        for snap in snapshots:
            assert snap.topology is not None
            hubs = hub_of(snap.topology)
            netdevs = nic_netdevs(snap.topology)
            for nic in snap.topology.nics():
                if nic.mac:
                    by_mac.setdefault(nic.mac, []).append(
                        _Nic(
                            snap,
                            nic,
                            hubs.get(nic.name),
                            netdevs.get(nic.name),
                            roots.get((snap.target, nic.name)),
                        )
                    )
        for mac, nics in sorted(by_mac.items()):
            if len(nics) < 2:
                continue
            yield from self._for_mac(mac, nics)

    def _for_mac(self, mac: str, nics: list[_Nic]) -> Iterator[Finding]:
        keeper = min(nics, key=lambda n: n.snapshot.target)  # first NIC of the first VM
        per_root: dict[int, int] = {}
        for n in nics:
            if n.root is not None:
                per_root[n.root] = per_root.get(n.root, 0) + 1
        by_target: dict[str, list[_Nic]] = {}
        for n in nics:
            by_target.setdefault(n.snapshot.target, []).append(n)
        for target, mine in sorted(by_target.items()):
            label = mine[0].snapshot.label
            # shared: another NIC with this MAC is on the same (possibly cross-VM) segment
            shared = any(n.root is not None and per_root[n.root] > 1 for n in mine)
            hubs = {n.hub for n in mine}
            hub = hubs.pop() if len(hubs) == 1 else None
            where = join(
                n.nic.name + (f" (hub {n.hub})" if n.hub is not None else "") for n in mine
            )
            text = f"{label}: NIC{'s' if len(mine) > 1 else ''} {where} "
            others = len(nics) - len(mine)
            if others:
                named = list(
                    islice(
                        (
                            f"{o.snapshot.label}/{o.nic.name}"
                            for o in nics
                            if o.snapshot.target != target
                        ),
                        _NAMED_OTHERS,
                    )
                )
                more = others - len(named)
                verb = "use" if len(mine) > 1 else "uses"
                text += f"{verb} MAC {mac}, as {join(named)}"
                text += f" and {more} more NICs" if more else ""
            else:
                text += f"share MAC {mac}"
            text += (
                ": they are on one L2 segment"
                if shared
                else ", on separate segments (a conflict once they are joined)"
            )
            changes = [
                nic_with_mac(
                    n.nic,
                    n.netdev,
                    suggested_mac(n.snapshot.label, n.nic.name, mac),
                    n.hub is not None,
                )
                for n in mine
                if n is not keeper
            ]
            fix = (
                f"give each NIC its own MAC: {' ; '.join(changes)}"
                if changes
                else f"keep {mac} here and change the other VMs' NICs"
            )
            yield self.finding(
                target,
                text,
                hub=hub,
                clients=[n.nic.name for n in mine],
                fix=fix,
                severity=Severity.CRITICAL if shared else Severity.WARNING,
            )
