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
    #: its segment's backends are all user NAT: frames never leave the VM (each slirp is its
    #: own network), so it never meets another VM's NIC
    isolated: bool = False

    @property
    def target(self) -> str:
        return self.snapshot.target


def _could_meet(a: _Nic, b: _Nic) -> bool:
    """Two NICs on different segments that a later cable or bridge could still join."""
    if a.target == b.target:
        return True  # one guest: two interfaces with one MAC confuse it even apart
    return not (a.isolated or b.isolated)


class DuplicateMac(Rule):
    """Two guest NICs have the same MAC address, in one VM or across VMs.

    Why it matters: on one L2 segment (the same hub, or VMs linked through socket, stream,
    dgram, multicast or a bridge) switches and guests cannot tell the NICs apart: frames go to
    the wrong one, ARP flaps, DHCP hands both the same lease. Critical when the NICs share a
    segment; a warning when they do not yet (the next cable or bridge joins them). NICs of
    different VMs whose segments are only user-mode NAT never meet (each ``user`` backend is a
    network of its own): no finding. QEMU accepts duplicate MACs silently.

    How to fix: give every NIC its own MAC with ``mac=``, e.g. ``-device
    e1000,netdev=net1,mac=52:54:00:8c:1f:02`` (legacy: ``-net nic,macaddr=...``); the
    finding suggests a MAC derived from the VM and NIC names.
    """

    slug = "duplicate-mac"
    severity = Severity.CRITICAL
    cross_vm = True
    severity_doc = "critical on one segment, else warning"

    def check_all(self, snapshots: Sequence[Snapshot]) -> Iterator[Finding]:
        if not _repeats_a_mac(snapshots):
            return  # skips the segment model: fix verification runs this rule once per fix
        roots = segment_roots(snapshots)
        by_mac: dict[str, list[_Nic]] = {}
        for snap in snapshots:
            assert snap.topology is not None
            hubs = hub_of(snap.topology)
            netdevs = nic_netdevs(snap.topology)
            isolated = {
                n.name
                for seg in snap.topology.segments()
                if seg.backends and all(b.is_nat for b in seg.backends)
                for n in seg.nics
            }
            for nic in snap.topology.nics():
                if nic.mac:
                    by_mac.setdefault(nic.mac, []).append(
                        _Nic(
                            snap,
                            nic,
                            hubs.get(nic.name),
                            netdevs.get(nic.name),
                            roots.get((snap.target, nic.name)),
                            nic.name in isolated,
                        )
                    )
        for mac, nics in sorted(by_mac.items()):
            if len(nics) < 2:
                continue
            yield from self._for_mac(mac, nics)

    def _for_mac(self, mac: str, nics: list[_Nic]) -> Iterator[Finding]:
        per_root: dict[int, list[_Nic]] = {}
        for n in nics:
            if n.root is not None:
                per_root.setdefault(n.root, []).append(n)
        shared = {root for root, members in per_root.items() if len(members) > 1}
        # critical: one segment; the message names only the NICs on that segment
        for root in sorted(shared):
            members = per_root[root]
            keeper = min(members, key=lambda n: n.target)  # first NIC of the first VM
            for target, mine in _by_target(members):
                others = [o for o in members if o.target != target]
                yield self._finding(mac, target, mine, others, keeper, shared=True)
        # warning: apart now, but a cable or bridge could join them
        rest = [n for n in nics if n.root not in shared]
        for target, mine in _by_target(rest):
            others = [
                o for o in nics
                if all(o is not m for m in mine) and any(_could_meet(m, o) for m in mine)
            ]
            if len(mine) < 2 and not others:
                continue
            keeper = min([*mine, *others], key=lambda n: n.target)
            yield self._finding(mac, target, mine, others, keeper, shared=False)

    def _finding(
        self,
        mac: str,
        target: str,
        mine: list[_Nic],
        others: list[_Nic],
        keeper: _Nic,
        *,
        shared: bool,
    ) -> Finding:
        label = mine[0].snapshot.label
        hubs = {n.hub for n in mine}
        hub = hubs.pop() if len(hubs) == 1 else None
        where = join(n.nic.name + (f" (hub {n.hub})" if n.hub is not None else "") for n in mine)
        text = f"{label}: NIC{'s' if len(mine) > 1 else ''} {where} "
        if others:
            named = list(
                islice((f"{o.snapshot.label}/{o.nic.name}" for o in others), _NAMED_OTHERS)
            )
            more = len(others) - len(named)
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
        return self.finding(
            target,
            text,
            hub=hub,
            clients=[n.nic.name for n in mine],
            fix=fix,
            severity=Severity.CRITICAL if shared else Severity.WARNING,
        )


def _by_target(nics: list[_Nic]) -> list[tuple[str, list[_Nic]]]:
    out: dict[str, list[_Nic]] = {}
    for n in nics:
        out.setdefault(n.target, []).append(n)
    return sorted(out.items())


def _repeats_a_mac(snapshots: Sequence[Snapshot]) -> bool:
    seen: set[str] = set()
    for snap in snapshots:
        assert snap.topology is not None
        for nic in snap.topology.nics():
            if nic.mac and nic.mac in seen:
                return True
            if nic.mac:
                seen.add(nic.mac)
    return False
