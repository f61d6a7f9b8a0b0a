"""Fixes for libvirt guests, in libvirt's terms: the domain XML change, checked by the lint engine.

A hub in a libvirt guest comes from raw ``-net``/``-netdev``/``-nic`` arguments in
``<qemu:commandline>`` (libvirt itself never makes one). A QEMU command line is no fix a libvirt
user can apply (it holds libvirt's own ``-netdev`` JSON and ``fd=38``), so the fix says which
``<qemu:arg>`` elements to delete and which ``<interface>`` elements to add: one per backend of
the hub, each with its own NIC (the NIC's MAC and model kept where there is one to keep).

The change is checked before it is offered: the raw arguments without the network options, plus
what libvirt would pass for the new interfaces, go through ``parse.argv.predict`` and the rules;
the fix says whether the structural findings are gone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from xml.sax.saxutils import quoteattr

from qnetinspect.models import Finding, Snapshot

#: rules whose finding is about how raw arguments built a hub: fixed by the XML change
STRUCTURAL_RULES = frozenset({"nat-external-hub", "legacy-net", "multi-nic-hub",
                              "bridged-externals", "nic-without-backend", "dangling-backend"})
_NET_OPTIONS = frozenset({"net", "netdev", "nic"})
#: QEMU NIC model -> libvirt <model type=...>, and back to a QEMU -device driver
_TO_LIBVIRT_MODEL = {"virtio-net-pci": "virtio", "virtio-net": "virtio", "virtio": "virtio"}
_TO_DEVICE = {"virtio": "virtio-net-pci"}


@dataclass(frozen=True, slots=True)
class XmlChange:
    """The change of one domain's XML: raw arguments to delete, interfaces to add."""

    delete_args: tuple[str, ...]
    add_interfaces: tuple[str, ...]
    #: QEMU arguments equivalent to the new interfaces (for the check through predict)
    equivalent_args: tuple[str, ...]
    notes: tuple[str, ...] = ()
    #: structural findings the lint engine still finds after the change (empty: checked clean)
    remaining: tuple[str, ...] = ()

    def text(self, domain: str) -> str:
        deleted = "".join(f"<qemu:arg value={quoteattr(a)}/>" for a in self.delete_args)
        added = " ".join(self.add_interfaces)
        parts = [f"domain XML (virsh edit {domain}): delete from <qemu:commandline> {deleted}"]
        if added:
            parts.append(f"add to <devices> {added}")
        parts.extend(self.notes)
        if self.remaining:
            check = "the lint engine still finds " + ", ".join(self.remaining) + " after this"
        else:
            check = "checked with the lint engine: no hub problem is left after this change"
        return "; ".join(parts) + f" ({check})"


def plan_xml_change(raw_args: Sequence[str]) -> XmlChange | None:
    """The XML change that replaces the network options of ``raw_args`` (None: none there)."""
    from qnetinspect.parse.argv import predict

    predicted = predict(list(raw_args))
    net_opts = [o for o in predicted.options if o.name in _NET_OPTIONS]
    removed_ids = {c.name for c in predicted.clients if c.option in net_opts}
    nic_devices = [c.option for c in predicted.clients
                   if c.kind == "nic" and c.option is not None and c.option.name == "device"
                   and c.peer is not None and c.peer in removed_ids]
    drop = [*net_opts, *nic_devices]
    if not drop:
        return None
    delete = tuple(a for o in sorted(drop, key=lambda o: o.start)
                   for a in raw_args[o.start:o.stop])
    kept = [a for i, a in enumerate(raw_args) if not any(o.start <= i < o.stop for o in drop)]

    backends = [c for c in predicted.clients if c.kind == "backend" and c.option in drop]
    nics = [c for c in predicted.clients if c.kind == "nic" and c.option in drop]
    interfaces: list[str] = []
    equivalent: list[str] = []
    notes: list[str] = []
    for i, backend in enumerate(backends):
        nic = nics[i] if i < len(nics) else None
        model = _TO_LIBVIRT_MODEL.get(nic.model or "", nic.model) if nic else "virtio"
        # QEMU's default MAC is kept out: libvirt then gives the NIC a unique one
        mac = nic.mac if nic is not None and nic.mac_explicit else None
        xml, args, note = _interface(backend.type, dict(backend.params), model or "virtio",
                                     mac, f"hostnetq{i}")
        interfaces.append(xml)
        equivalent.extend(args)
        if note:
            notes.append(note)
    for nic in nics[len(backends):]:
        notes.append(f"NIC {nic.name} had no backend of its own: drop it, or give it an "
                     "<interface> of the kind it should reach")
    after = predict([*kept, *equivalent])
    remaining = _structural_findings(after.topology)
    return XmlChange(delete, tuple(interfaces), tuple(equivalent), tuple(notes), remaining)


def _interface(qtype: str, params: dict[str, str], model: str, mac: str | None,
               netdev_id: str) -> tuple[str, list[str], str]:
    """(the <interface> element, QEMU args libvirt would pass for it, a note)."""
    mac_xml = f"<mac address={quoteattr(mac)}/>" if mac else ""
    model_xml = f"<model type={quoteattr(model)}/>"
    device = _TO_DEVICE.get(model, model)
    nic_args = ["-device", f"{device},netdev={netdev_id}" + (f",mac={mac}" if mac else "")]
    note = ""
    if qtype == "user":
        kind, source = "user", ""
        netdev = f"user,id={netdev_id}"
        if "hostfwd" in params:
            note = ("the hostfwd of the user backend becomes <portForward> elements "
                    "(with <backend type='passt'/>)")
    elif qtype == "socket" and any(k in params for k in ("listen", "connect", "mcast")):
        key = next(k for k in ("listen", "connect", "mcast") if k in params)
        host, _, port = params[key].rpartition(":")
        kind = {"listen": "server", "connect": "client", "mcast": "mcast"}[key]
        source = f"<source address={quoteattr(host or '127.0.0.1')} port={quoteattr(port)}/>"
        netdev = f"socket,id={netdev_id},{key}={params[key]}"
    elif qtype == "tap":
        kind = "ethernet"
        dev = params.get("ifname")
        source = f"<target dev={quoteattr(dev)}/>" if dev else ""
        netdev = f"tap,id={netdev_id}" + (f",ifname={dev}" if dev else "")
    elif qtype == "bridge":
        kind = "bridge"
        source = f"<source bridge={quoteattr(params.get('br', 'br0'))}/>"
        netdev = f"bridge,id={netdev_id},br={params.get('br', 'br0')}"
    else:
        kind, source = "ethernet", ""
        netdev = f"tap,id={netdev_id}"
        note = (f"the {qtype} backend has no plain libvirt <interface> type: pick the one that "
                "reaches the same network")
    xml = f"<interface type='{kind}'>{mac_xml}{source}{model_xml}</interface>"
    return xml, ["-netdev", netdev, *nic_args], note


def _structural_findings(topology: object) -> tuple[str, ...]:
    from qnetinspect.models import Topology
    from qnetinspect.rules import evaluate

    assert isinstance(topology, Topology)
    snap = Snapshot(target="after", topology=topology, live=False)
    return tuple(sorted({f.rule for f in evaluate([snap])
                         if f.rule in {"nat-external-hub", "legacy-net", "bridged-externals",
                                       "multi-nic-hub"}}))


def with_domain_xml_fixes(findings: Sequence[Finding],
                          snapshots: Sequence[Snapshot]) -> list[Finding]:
    """Findings on libvirt guests get domain XML fixes; every other finding is unchanged."""
    by_target = {s.target: s for s in snapshots if s.manager == "libvirt"}
    cache: dict[str, XmlChange | None] = {}
    out: list[Finding] = []
    for f in findings:
        snap = by_target.get(f.target)
        if snap is not None and f.hub is None and f.rule == "emulated-nic":
            out.append(_own_nic_fix(f, snap))
            continue
        if snap is None or f.hub is None or f.rule not in STRUCTURAL_RULES:
            out.append(f)
            continue
        if not snap.manager_raw_args:
            # read through a second monitor: the domain XML itself was not read
            name = snap.vm.name or "DOMAIN"
            out.append(replace(f, fix=(
                f"domain XML (virsh edit {name}): replace the raw network arguments in "
                "<qemu:commandline> by <interface> elements, one per backend; "
                f"qnetinspect show libvirt:{name} prints the exact, checked change")))
            continue
        if f.target not in cache:
            cache[f.target] = plan_xml_change(snap.manager_raw_args)
        change = cache[f.target]
        out.append(replace(f, fix=change.text(snap.vm.name or snap.target)) if change else f)
    return out


def _own_nic_fix(f: Finding, snap: Snapshot) -> Finding:
    """emulated-nic on one of libvirt's own interfaces (netdev ``hostnetN``): its <model>."""
    if snap.topology is None or not f.clients:
        return f
    nic = next((c for c in snap.topology.nics() if c.name == f.clients[0]), None)
    if nic is None or nic.peer is None or not nic.peer.name.startswith("hostnet"):
        return f
    which = f"with <mac address={quoteattr(nic.mac)}/>" if nic.mac else f"aliased {nic.name}"
    return replace(f, fix=(
        f"domain XML (virsh edit {snap.vm.name or snap.target}): in the <interface> {which}, "
        "set <model type='virtio'/> (takes effect at the next start of the domain)"))
