"""Pure plans: what a hot-plug change will send, the topology it leads to, the findings it adds.

No I/O: everything read from the live QEMU comes in a ``PlanContext`` (gathered by
``qnetinspect.hotplug.live``), so plans can be tested, previewed in the TUI and printed by
``--dry-run`` without touching a VM.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qnetinspect import rules
from qnetinspect.errors import HotplugError, UsageError
from qnetinspect.hotplug import ids
from qnetinspect.hotplug.schema import NetdevSchema, build_netdev_args
from qnetinspect.models import (
    Finding,
    Hub,
    HubPort,
    NetClient,
    QomNic,
    Severity,
    Snapshot,
    Topology,
)

#: Backends offered first (CLI help, TUI select); any other type the live schema knows also works.
BACKENDS = ("user", "socket", "stream", "dgram", "hubport", "tap", "bridge")
DEFAULT_MODEL = "virtio-net-pci"
NO_NIC = "none"
#: Models that are not on a PCI bus, for when the live list of PCI models is unknown.
_NON_PCI_HINT = ("usb-", "ne2k_isa", "virtio-net-device")


@dataclass(frozen=True, slots=True)
class QmpCommand:
    """One QMP command exactly as it will be sent."""

    execute: str
    arguments: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def to_json(self) -> dict[str, Any]:
        return {"execute": self.execute, "arguments": dict(self.arguments)}

    def __str__(self) -> str:
        return json.dumps(self.to_json(), separators=(", ", ": "))


@dataclass(frozen=True, slots=True)
class AddRequest:
    """What the user asked to add. ``device``: None = the default model, ``"none"`` = no NIC."""

    backend: str
    id: str | None = None
    device: str | None = None
    nic_id: str | None = None
    mac: str | None = None
    hub: int | None = None
    bus: str | None = None
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PlanContext:
    """Facts read from the live QEMU (all optional: unknown facts are not checked)."""

    schema: NetdevSchema | None = None
    nic_models: frozenset[str] | None = None
    pci_models: frozenset[str] | None = None
    machine: str | None = None  # QOM type of /machine, e.g. pc-q35-7.2-machine
    free_root_ports: tuple[str, ...] = ()
    root_ports: tuple[str, ...] = ()
    device_ids: frozenset[str] = frozenset()  # every id under /machine/peripheral
    others: tuple[Snapshot, ...] = ()  # other inspected VMs: MACs must be unique across them
    #: NICs without an id (legacy ``-net nic``/``-nic``) found in QOM: their path is what
    #: ``device_del`` takes; ``netdev`` is the hub port or backend they sit on. None = not read.
    legacy_nics: tuple[QomNic, ...] | None = None

    @property
    def is_q35(self) -> bool:
        return self.machine is not None and "q35" in self.machine


@dataclass(frozen=True)
class Plan:
    """A change, ready to show and to apply."""

    action: str  # add | remove | link
    target: str
    commands: tuple[QmpCommand, ...]
    before: Topology
    after: Topology
    new_findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()
    #: names that must appear in (or vanish from) ``info network`` once applied
    expect_present: tuple[str, ...] = ()
    expect_absent: tuple[str, ...] = ()
    #: remove: the device id whose DEVICE_DELETED the apply waits for before the next command
    wait_deleted: str | None = None

    @property
    def critical(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.new_findings if f.severity >= Severity.CRITICAL)

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "target": self.target,
            "commands": [c.to_json() for c in self.commands],
            "new_findings": [
                {"rule": f.rule, "severity": f.severity.label, "hub": f.hub, "message": f.message}
                for f in self.new_findings
            ],
            "notes": list(self.notes),
        }


def format_finding(f: Finding) -> str:
    where = f" (hub {f.hub})" if f.hub is not None else ""
    return f"[{f.severity.label}] {f.rule}{where}: {f.message}"


def format_plan(plan: Plan) -> str:
    """The plan for people: the exact QMP commands, then notes and new findings."""
    lines = [f"Plan for {plan.target} ({plan.action}): QMP commands, in order:"]
    lines += [f"  {c}" for c in plan.commands]
    lines += [f"note: {n}" for n in plan.notes]
    if plan.new_findings:
        lines.append("Findings this change would create:")
        lines += [f"  {format_finding(f)}" for f in plan.new_findings]
    return "\n".join(lines)


def refuse_critical(plan: Plan, force: bool) -> None:
    """Raise HotplugError naming each critical finding the plan creates, unless ``force``."""
    if force or not plan.critical:
        return
    shown = "; ".join(format_finding(f) for f in plan.critical)
    raise HotplugError(f"refused: {shown} (pass --force to apply anyway)")


# ---------------------------------------------------------------------- add
def plan_add(snapshot: Snapshot, request: AddRequest, context: PlanContext | None = None) -> Plan:
    """Plan a hot-add. Raises UsageError (bad id, option, MAC, model) or HotplugError (no bus).

    Shapes:
    - BACKEND (no --hub): netdev_add BACKEND, device_add NIC on it (``device="none"``: no NIC);
    - BACKEND --hub N: netdev_add BACKEND, netdev_add hubport(hubid=N, netdev=BACKEND): the
      backend joins hub N (no NIC of its own);
    - hubport --hub N: netdev_add hubport(hubid=N), device_add NIC on it: a new NIC on hub N;
      with ``-o netdev=B`` the port binds the existing backend B instead (no NIC).
    """
    ctx = context or PlanContext()
    topo = snapshot.topology
    if topo is None:
        raise HotplugError(f"{snapshot.target}: no topology to plan against (it was not read)")
    target = snapshot.target
    qemu = f"QEMU {snapshot.vm.qemu_version}" if snapshot.vm.qemu_version else "this QEMU"
    backend = request.backend
    taken = ids.names_in(snapshot) | set(ctx.device_ids)
    netdev_id = ids.check_id(request.id, "--id") if request.id else ids.free_id("net", taken)
    ids.check_unique(netdev_id, taken, "id", target)
    taken.add(netdev_id)
    options = list(request.options)
    opt_keys = {k for k, _ in options}

    hub = request.hub
    if backend == "hubport":
        if hub is None and "hubid" not in opt_keys:
            raise UsageError("backend hubport needs --hub N (the hub to join)")
        if hub is not None:
            if "hubid" in opt_keys:
                raise UsageError("give the hub once: --hub N or -o hubid=N, not both")
            options.append(("hubid", str(hub)))
    notes: list[str] = []
    args = build_netdev_args(ctx.schema, backend, netdev_id, options, qemu=qemu)
    if backend == "hubport":
        hub = int(args["hubid"])

    commands: list[QmpCommand] = [QmpCommand("netdev_add", args)]
    predicted = _predict_backend(netdev_id, backend, args)
    after = topo
    present = [netdev_id]
    nic: NetClient | None = None
    qom_nic: QomNic | None = None

    if backend != "hubport" and hub is not None:
        # the backend joins hub N through a hubport of its own
        if request.device not in (None, NO_NIC):
            raise UsageError(
                "--device with --hub: a backend joined to a hub has no NIC of its own; "
                f"add a NIC to hub {hub} with: add TARGET hubport --hub {hub}"
            )
        port_id = f"{netdev_id}-port"
        ids.check_unique(port_id, taken, "hub port id", target)
        taken.add(port_id)
        commands.append(
            QmpCommand(
                "netdev_add", {"type": "hubport", "id": port_id, "hubid": hub, "netdev": netdev_id}
            )
        )
        after = _with_port(after, hub, port_id, predicted)
        present.append(port_id)
    elif backend == "hubport" and "netdev" in args:
        bound = str(args["netdev"])
        lone = next(
            (c for c in topo.clients if c.name == bound and not c.is_nic and c.peer is None), None
        )
        if lone is None:
            raise UsageError(
                f"-o netdev={bound}: {target} has no unpaired backend named {bound!r} to bind"
            )
        if request.device not in (None, NO_NIC):
            raise UsageError("--device with -o netdev=: this hub port binds a backend, not a NIC")
        after = _with_port(
            _without_client(after, bound), hub if hub is not None else 0, netdev_id, lone
        )
    elif request.device == NO_NIC:
        after = (
            _with_port(after, hub, netdev_id, None)
            if backend == "hubport" and hub is not None
            else dataclasses.replace(after, clients=(*after.clients, predicted))
        )
    else:
        model = request.device or DEFAULT_MODEL
        if ctx.nic_models is not None and model not in ctx.nic_models:
            raise UsageError(
                f"--device {model!r} is not a NIC model of {qemu}: expected one of "
                f"{', '.join(sorted(ctx.nic_models))}"
            )
        nic_id = ids.check_id(request.nic_id, "NIC id") if request.nic_id else f"{netdev_id}-nic"
        ids.check_unique(nic_id, taken, "NIC id", target)
        taken_macs = ids.macs_in([snapshot, *ctx.others])
        # seeded by the VM and the NIC id, not random: a --dry-run and the apply that follows
        # it (two runs) show and send the same MAC
        seed = random.Random(f"{target}\0{snapshot.vm.name or ''}\0{nic_id}")
        mac = (
            ids.check_mac(request.mac, taken_macs)
            if request.mac
            else ids.generate_mac(taken_macs, seed)
        )
        dev: dict[str, Any] = {"driver": model, "id": nic_id, "netdev": netdev_id, "mac": mac}
        bus = _choose_bus(model, request.bus, ctx, notes)
        if bus is not None:
            dev["bus"] = bus
        commands.append(QmpCommand("device_add", dev))
        nic = NetClient(
            name=nic_id,
            type="nic",
            info={"model": model, "macaddr": mac},
            info_raw=f"model={model},macaddr={mac}",
        )
        qom_nic = QomNic(
            path=f"/machine/peripheral/{nic_id}", id=nic_id, type=model, netdev=netdev_id, mac=mac
        )
        if backend == "hubport":
            after = _with_port(after, hub if hub is not None else 0, netdev_id, nic)
        else:
            after = dataclasses.replace(
                after, clients=(*after.clients, dataclasses.replace(nic, peer=predicted))
            )
        present.append(nic_id)

    new_snapshot = dataclasses.replace(
        snapshot,
        topology=after,
        qom_nics=(*snapshot.qom_nics, qom_nic) if qom_nic else snapshot.qom_nics,
        info_network_raw=None,
    )
    return Plan(
        action="add",
        target=target,
        commands=tuple(commands),
        before=topo,
        after=after,
        new_findings=new_findings(snapshot, new_snapshot, ctx.others),
        notes=tuple(notes),
        expect_present=tuple(present),
    )


def _choose_bus(model: str, bus: str | None, ctx: PlanContext, notes: list[str]) -> str | None:
    if bus is not None:
        return bus
    if not ctx.is_q35:
        return None
    is_pci = (
        model in ctx.pci_models
        if ctx.pci_models is not None
        else not model.startswith(_NON_PCI_HINT)
    )
    if not is_pci:
        return None
    if ctx.free_root_ports:
        port = ctx.free_root_ports[0]
        notes.append(f"q35: the root bus pcie.0 is not hot-pluggable; using free root port {port}")
        return port
    rp = ids.free_id("rp", set(ctx.root_ports) | set(ctx.device_ids))
    n = len(ctx.root_ports) + 1
    raise HotplugError(
        "q35: the root bus pcie.0 is not hot-pluggable and no free pcie-root-port was found "
        f"({len(ctx.root_ports)} in use): restart QEMU with "
        f"-device pcie-root-port,id={rp},chassis={n},slot={n} (one per NIC to hot-add)"
    )


def _predict_backend(netdev_id: str, backend: str, args: Mapping[str, Any]) -> NetClient:
    """The client line QEMU will print for a new backend (enough for the rules)."""
    if backend == "user":
        net = str(args.get("net", "10.0.2.0")).split("/", 1)[0]
        restrict = "on" if args.get("restrict") else "off"
        info = {"net": net, "restrict": restrict}
        return NetClient(netdev_id, "user", info=info, info_raw=f"net={net},restrict={restrict}")
    # bridge is a tap with a helper: QEMU prints type=tap
    return NetClient(netdev_id, "tap" if backend == "bridge" else backend)


def _with_port(topo: Topology, hub_id: int, port: str, peer: NetClient | None) -> Topology:
    new_port = HubPort(name=port, peer=peer)
    hubs = list(topo.hubs)
    for i, hub in enumerate(hubs):
        if hub.id == hub_id:
            hubs[i] = dataclasses.replace(hub, ports=(*hub.ports, new_port))
            break
    else:
        hubs.append(Hub(id=hub_id, ports=(new_port,)))
    return dataclasses.replace(topo, hubs=tuple(hubs))


def _without_client(topo: Topology, name: str) -> Topology:
    return dataclasses.replace(topo, clients=tuple(c for c in topo.clients if c.name != name))


# ---------------------------------------------------------------------- remove / link
def find_nic(topo: Topology, name: str) -> tuple[NetClient, str | None, int | None]:
    """(NIC, the netdev it is attached to, its hub) for a NIC name; UsageError if none."""
    for hub in topo.hubs:
        for port in hub.ports:
            if port.peer is not None and port.peer.is_nic and port.peer.name == name:
                return port.peer, port.name, hub.id
    for c in topo.clients:
        if c.is_nic and c.name == name and c.index == 0:
            return c, (c.peer.name if c.peer is not None else None), None
    nics = ", ".join(n.name for n in topo.nics()) or "none"
    raise UsageError(f"no NIC named {name!r} (NICs: {nics})")


def plan_remove(
    snapshot: Snapshot,
    device_id: str,
    *,
    keep_netdev: bool = False,
    context: PlanContext | None = None,
) -> Plan:
    """Plan ``device_del`` of a NIC, then (unless ``keep_netdev``) ``netdev_del`` of its backend."""
    ctx = context or PlanContext()
    topo = snapshot.topology
    if topo is None:
        raise HotplugError(f"{snapshot.target}: no topology to plan against (it was not read)")
    nic, netdev, hub = find_nic(topo, device_id)
    qom = {n.id: n for n in snapshot.qom_nics}
    notes: list[str] = []
    legacy: QomNic | None = None
    if device_id not in qom and device_id not in ctx.device_ids:
        legacy = _legacy_nic(nic, netdev, ctx)
        if legacy is None and (qom or ctx.device_ids or ctx.legacy_nics is not None):
            raise UsageError(
                f"NIC {device_id!r} cannot be removed: it has no device id (a board or legacy "
                "-net nic/-nic NIC) and QEMU's object tree shows no path for it that "
                "device_del would take"
            )
    if device_id in qom and qom[device_id].netdev:
        netdev = qom[device_id].netdev
    handle = legacy.path if legacy is not None else device_id
    commands = [QmpCommand("device_del", {"id": handle})]
    absent = [device_id]
    if legacy is not None:
        notes.append(
            f"{device_id} has no device id (legacy -net nic/-nic): device_del takes its QOM "
            f"path {legacy.path}"
        )
        if hub is not None:
            # -net clients are not netdevs to QEMU: netdev_del refuses them ("is not a
            # netdev"); a -nic backend is a netdev and goes the usual way
            notes.append(
                f"its hub port {netdev} of hub {hub} was made by -net, which netdev_del cannot "
                "delete, so it stays"
            )
            keep_netdev = True
            netdev = None
    model = nic.model or ""
    is_pci = (
        model in ctx.pci_models
        if ctx.pci_models is not None
        else not model.startswith(_NON_PCI_HINT)
    )
    if is_pci and snapshot.vm.status in ("paused", "prelaunch", "inmigrate", "suspended"):
        notes.append(
            f"the guest is {snapshot.vm.status}, not running: a PCI NIC is released only when a "
            "running guest OS acknowledges the unplug, so the unplug stays pending (no "
            "DEVICE_DELETED) until the guest runs and acknowledges it"
        )
    after = _remove_nic(topo, device_id, drop_backend=not keep_netdev)
    if netdev and not keep_netdev:
        commands.append(QmpCommand("netdev_del", {"id": netdev}))
        absent.append(netdev)
    elif netdev:
        notes.append(
            f"--keep-netdev: backend {netdev} stays (netdev_del {netdev} removes it later)"
        )
    new_snapshot = dataclasses.replace(
        snapshot,
        topology=after,
        qom_nics=tuple(n for n in snapshot.qom_nics if n.id != device_id),
        info_network_raw=None,
    )
    return Plan(
        action="remove",
        target=snapshot.target,
        commands=tuple(commands),
        before=topo,
        after=after,
        new_findings=new_findings(snapshot, new_snapshot, ctx.others),
        notes=tuple(notes),
        expect_absent=tuple(absent),
        wait_deleted=handle,
    )


def _legacy_nic(nic: NetClient, netdev: str | None, ctx: PlanContext) -> QomNic | None:
    """The QOM object of an id-less NIC: the one on the same hub port / backend, else the one
    with the same model and MAC."""
    found = ctx.legacy_nics or ()
    if netdev:
        for q in found:
            if q.netdev == netdev:
                return q
    for q in found:
        if q.mac and nic.mac and q.mac.lower() == nic.mac.lower() and q.type == nic.model:
            return q
    return None


def _remove_nic(topo: Topology, name: str, *, drop_backend: bool) -> Topology:
    hubs = []
    for hub in topo.hubs:
        ports = tuple(
            p
            for p in hub.ports
            if not (p.peer is not None and p.peer.is_nic and p.peer.name == name)
        )
        if not drop_backend:
            # the hubport stays, peerless
            ports = tuple(
                HubPort(p.name, None) if p.peer is not None and p.peer.name == name else p
                for p in hub.ports
            )
        hubs.append(dataclasses.replace(hub, ports=ports))
    clients: list[NetClient] = []
    for c in topo.clients:
        if c.is_nic and c.name == name:
            if c.peer is not None and not drop_backend and c.index == 0:
                clients.append(c.peer)  # QEMU prints the orphan backend at column 0
            continue
        clients.append(c)
    return dataclasses.replace(topo, hubs=tuple(hubs), clients=tuple(clients))


def plan_link(snapshot: Snapshot, name: str, up: bool) -> Plan:
    """Plan ``set_link`` on a NIC or backend named in ``info network``."""
    topo = snapshot.topology
    if topo is None:
        raise HotplugError(f"{snapshot.target}: no topology to plan against (it was not read)")
    names = {c.name for c in topo.iter_clients()}
    if name not in names:
        known = ", ".join(sorted(names)) or "none"
        raise UsageError(f"no NIC or netdev named {name!r} (known: {known})")
    return Plan(
        action="link",
        target=snapshot.target,
        commands=(QmpCommand("set_link", {"name": name, "up": up}),),
        before=topo,
        after=topo,
        notes=("link state is not shown by info network: the change cannot be confirmed there",),
    )


# ---------------------------------------------------------------------- findings
def _key(f: Finding) -> tuple[str, str, int | None, tuple[str, ...]]:
    # a hub finding that already existed is not new because the change adds a client to it;
    # elsewhere the clients tell findings apart (one per NIC, per backend ...)
    if f.hub is not None:
        return (f.rule, f.target, f.hub, ())
    return (f.rule, f.target, None, tuple(sorted(f.clients)))


def new_findings(
    before: Snapshot, after: Snapshot, others: Sequence[Snapshot] = ()
) -> tuple[Finding, ...]:
    """Findings present after the change and not before (the rules run on both).

    A critical hub finding that was there before counts as new when the change gives that hub
    more members: joining a NAT+external hub deepens the leak, it does not leave it alone.
    """
    old = {_key(f) for f in rules.evaluate([before, *others], None)}
    grown = _grown_hubs(before.topology, after.topology)
    out: list[Finding] = []
    for f in rules.evaluate([after, *others], None):
        if _key(f) not in old:
            out.append(f)
        elif (
            f.target == after.target
            and f.hub is not None
            and f.hub in grown
            and f.severity >= Severity.CRITICAL
        ):
            out.append(
                dataclasses.replace(
                    f, message=f"{f.message} (this change adds a member to hub {f.hub})"
                )
            )
    return tuple(out)


def _grown_hubs(before: Topology | None, after: Topology | None) -> set[int]:
    """Hubs with more ports after the change than before."""
    if before is None or after is None:
        return set()
    sizes = {h.id: len(h.ports) for h in before.hubs}
    return {h.id for h in after.hubs if len(h.ports) > sizes.get(h.id, 0)}
