"""Rewrite legacy ``-net``/``-nic`` as ``-netdev``/``-device`` pairs (``qnetinspect migrate``).

``migrate_argv(argv, split=False)`` keeps the L2 segments exactly as QEMU would build them from
``argv`` (``qnetinspect.parse.argv.predict`` says which): a legacy hub with one NIC and one
backend becomes a direct pair, a larger hub becomes ``-netdev hubport`` ports on the same hub id,
a lone NIC or backend stays alone. Every migrated NIC gets the MAC QEMU would have given it, so
the guest sees the same hardware; the migrated ``-device`` options are placed before the first
existing ``-device`` so that QEMU creates the NICs in the same order (same names, same default
MACs for the untouched NICs, same PCI slots). Every other argument is kept as it was.

``split=True`` is the fix for ``nat-external-hub``: each hub that joins a ``user`` (NAT) backend
with an external one (tap, socket, stream ...) is taken apart, whether legacy ``-net`` or
``-netdev hubport`` made it: the NICs and backends are paired in creation order, each NIC with
its own backend; a NIC or backend left over stays unconnected (and is said so).

A command line that QEMU would reject is not rewritten: the result carries the errors.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from qnetinspect.models import DEVICE_ALIASES, Finding, Snapshot, Topology
from qnetinspect.parse.argv import (
    DEFAULT_VERSION,
    ArgvError,
    ArgvTopology,
    Option,
    PlannedClient,
    Version,
    default_nic_model,
    parse_keyvals,
    parse_version,
    predict,
)
from qnetinspect.rules._common import DEFAULT_MAC, suggested_mac

#: legacy ``-net nic`` keys that carry over to ``-device`` (``vectors`` only where it exists)
_VECTOR_MODELS = frozenset({"virtio-net-pci", "virtio-net-pci-transitional",
                            "virtio-net-pci-non-transitional"})


@dataclass(frozen=True, slots=True)
class MigrationResult:
    """The rewritten command line and why each part changed.

    ``argv`` is the new command line (the input unchanged when ``errors`` is not empty);
    ``changes`` explains each change in one line; ``before``/``after`` are the predicted
    topologies of the input and of the output.
    """

    argv: tuple[str, ...]
    changes: tuple[str, ...]
    errors: tuple[ArgvError, ...]
    before: ArgvTopology
    after: ArgvTopology | None = None

    @property
    def leaking_hubs(self) -> tuple[int, ...]:
        """Hubs of the new command line that still join NAT with an external backend."""
        top = self.after if self.after is not None else self.before
        return tuple(h.id for h in top.topology.hubs if h.mixes_nat_and_external)

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    @property
    def command_line(self) -> str:
        """The new command line, shell-quoted."""
        return shlex.join(self.argv)

    def net_args(self) -> tuple[str, ...]:
        """Only the network options of the new command line (what a fix suggestion shows)."""
        out: list[str] = []
        if self.after is None:
            return ()
        for opt in self.after.options:
            if opt.name in ("netdev", "nic", "net") or (
                opt.name == "device" and _is_nic_device(opt, self.after)
            ):
                out += [f"-{opt.name}", opt.value]
        return tuple(out)


#: the finding rules whose fix is a migrated command line, and whether that is the --split form
FIXABLE_RULES = {"legacy-net": False, "nat-external-hub": True}


def fix_for(
    rule: str, argv: Sequence[str], *, qemu_version: Version = DEFAULT_VERSION
) -> str | None:
    """The fix text for a ``legacy-net`` / ``nat-external-hub`` finding on a VM started with
    ``argv``: its new network options (shell-quoted), or None when there is nothing to offer.

    The rewrite is verified first (``qnetinspect.fixcheck``): it is offered only when the new
    command line has no critical finding and no new warning; otherwise the text says what the
    user must decide. A ``legacy-net`` hub that also leaks NAT gets the ``--split`` form: the
    plain rewrite would copy the leak. For ``show`` and the TUI, which can read a running VM's
    argv from ``/proc/PID/cmdline``.
    """
    from qnetinspect.fixcheck import verify_argv_fix

    split = FIXABLE_RULES.get(rule)
    if split is None:
        return None
    result = migrate_argv(argv, split=split, qemu_version=qemu_version)
    if not split and not result.errors and result.leaking_hubs:
        split = True
        result = migrate_argv(argv, split=True, qemu_version=qemu_version)
    if result.errors or not result.changed:
        return None
    verdict = verify_argv_fix(argv, result.argv, qemu_version=qemu_version)
    if not verdict.ok:
        return (
            f"no rewrite to copy: the migrated command line would still have "
            f"{'; '.join(verdict.problems)}. Decide which network each NIC should be on "
            "(one backend per NIC), then check the new command line with qnetinspect lint"
        )
    verb = "qnetinspect migrate --split" if split else "qnetinspect migrate"
    return f"{shlex.join(result.net_args())}  ({verb} writes the whole command line)"


def with_migrated_fixes(
    findings: Sequence[Finding],
    snapshots: Sequence[Snapshot],
) -> list[Finding]:
    """Findings whose fix is the migrated command line, for VMs whose argv is known.

    ``legacy-net`` and ``nat-external-hub`` on a VM with ``Snapshot.argv`` get the rewritten
    network options as their fix; every other finding is returned unchanged.
    """
    by_target = {s.target: s for s in snapshots if s.argv}
    cache: dict[tuple[str, str], str | None] = {}
    out: list[Finding] = []
    for f in findings:
        snap = by_target.get(f.target)
        if snap is None or f.rule not in FIXABLE_RULES:
            out.append(f)
            continue
        key = (f.target, f.rule)
        if key not in cache:
            try:
                version = parse_version(snap.vm.qemu_version or "")
            except ValueError:
                version = DEFAULT_VERSION
            cache[key] = (
                fix_for(f.rule, snap.argv, qemu_version=version)
                if _argv_matches(snap, version)
                else None
            )
        fix = cache[key]
        out.append(replace(f, fix=fix) if fix else f)
    return out


def _argv_matches(snap: Snapshot, version: Version) -> bool:
    """The VM's command line still describes its network: a hot-plug since start makes the
    argv stale, and a rewrite of it would not be a fix of what runs (the rule's own, verified
    fix stays then)."""
    if snap.topology is None:
        return False
    predicted = predict(list(snap.argv), qemu_version=version)
    return not predicted.errors and _topology_segments(predicted.topology) == _topology_segments(
        snap.topology
    )


def _is_nic_device(opt: Option, top: ArgvTopology) -> bool:
    return any(c.kind == "nic" and c.option == opt for c in top.clients)


@dataclass
class _Plan:
    before: ArgvTopology
    split: bool
    taken: set[str]
    remove: set[int] = field(default_factory=set)  # Option.start of options to drop
    replace: dict[int, tuple[str, str]] = field(default_factory=dict)  # start -> (name, value)
    netdevs: list[str] = field(default_factory=list)
    devices: list[tuple[int, str]] = field(default_factory=list)  # (NIC creation index, text)
    #: NICs the split adds for backends left without one: after every existing NIC, so the
    #: names and default MACs of the NICs QEMU already creates do not change
    appended: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    ids: dict[int, str] = field(default_factory=dict)  # client index -> its -netdev id
    new_macs: set[str] = field(default_factory=set)

    # ------------------------------------------------------------ naming
    def new_id(self, base: str) -> str:
        base = re.sub(r"[^A-Za-z0-9._-]", "", base) or "net"
        if not base[0].isalpha():
            base = f"n{base}"
        n = 0
        while f"{base}{n}" in self.taken:
            n += 1
        ident = f"{base}{n}"
        self.taken.add(ident)
        return ident

    def backend_id(self, c: PlannedClient) -> str:
        """The -netdev id for a backend: kept when the user gave one, else a new ``<type>N``."""
        if c.index not in self.ids:
            self.ids[c.index] = c.name if not c.auto_name else self.new_id(c.type)
        return self.ids[c.index]

    # ------------------------------------------------------------ emitters
    def emit_backend(self, c: PlannedClient) -> str:
        """A legacy backend as ``-netdev TYPE,id=ID,...``; returns its id."""
        ident = self.backend_id(c)
        self.netdevs.append(join_keyvals([("type", c.type), ("id", ident), *c.params]))
        return ident

    def emit_nic(self, c: PlannedClient, netdev: str | None) -> str:
        """A legacy NIC as ``-device MODEL[,netdev=ID],mac=MAC[,addr=..]``; returns the text."""
        model = c.model or default_nic_model(self.before.machine)
        pairs: list[tuple[str, str]] = [("driver", model)]
        if netdev is not None:
            pairs.append(("netdev", netdev))
        pairs.append(("mac", c.mac or ""))
        params = dict(c.params)
        if "addr" in params:
            pairs.append(("addr", params["addr"]))
        if "vectors" in params and model in _VECTOR_MODELS:
            pairs.append(("vectors", params["vectors"]))
        text = join_keyvals(pairs)
        # QEMU created these NICs at machine init in this order: keep it (names, default MACs)
        self.devices.append((c.index, text))
        return text


def join_keyvals(pairs: Sequence[tuple[str, str]]) -> str:
    """Pairs -> QemuOpts text; the first pair is written as its bare value (implied key)."""
    parts: list[str] = []
    for i, (key, value) in enumerate(pairs):
        escaped = value.replace(",", ",,")
        parts.append(escaped if i == 0 else f"{key}={escaped}")
    return ",".join(parts)


def migrate_argv(
    argv: Sequence[str], *, split: bool = False, qemu_version: Version = DEFAULT_VERSION
) -> MigrationResult:
    """Rewrite ``argv`` without ``-net``/``-nic`` (and, with ``split``, without NAT+external hubs).

    Never raises for bad input: QEMU's objections come back in ``errors`` with ``argv``
    unchanged.
    """
    argv = list(argv)
    before = predict(argv, qemu_version=qemu_version)
    if before.errors:
        return MigrationResult(tuple(argv), (), before.errors, before)
    plan = _Plan(before=before, split=split, taken=_taken_ids(before))
    by_index = {c.index: c for c in before.clients}

    # QEMU's implicit network has no option to rewrite: it is written out instead.
    hubs = {} if before.default_net else _hub_members(before)
    for hub_id, ports in hubs.items():
        clients = [by_index[p.peer_index] for p in ports if p.peer_index is not None]
        if split and _mixes_nat_and_external(clients):
            _split_hub(plan, hub_id, ports, by_index)
        elif any(_is_legacy(p) for p in ports):
            _migrate_hub(plan, hub_id, ports, by_index)

    # -nic pairs and -net nic,netdev=X, which are not on a hub
    for c in before.clients:
        if c.option is None or c.option.start in plan.remove:
            continue
        if c.option.name == "nic" and c.kind == "backend" and c.hub is None:
            nic = by_index.get(c.peer_index) if c.peer_index is not None else None
            ident = plan.emit_backend(c)
            if nic is not None:
                plan.emit_nic(nic, ident)
            plan.remove.add(c.option.start)
            plan.changes.append(
                f"{c.option.text}: now -netdev {c.type},id={ident} with its NIC as -device "
                f"{nic.model if nic else '?'},netdev={ident},mac={nic.mac if nic else '?'}"
            )
        elif c.option.name == "net" and c.kind == "nic" and c.hub is None:
            netdev = by_index[c.peer_index].name if c.peer_index is not None else None
            text = plan.emit_nic(c, netdev)
            plan.remove.add(c.option.start)
            plan.changes.append(f"{c.option.text}: now -device {text}")
    for opt in before.options:
        if opt.name == "net" and parse_keyvals(opt.value, "type")[:1] == [("type", "none")]:
            plan.replace[opt.start] = ("nic", "none")
            plan.changes.append(f"{opt.text}: now -nic none (no network, no default network)")
    if before.default_net:
        _migrate_default_net(plan)

    new_argv = _assemble(argv, plan)
    after = predict(new_argv, qemu_version=qemu_version)
    # Never hand out a line that QEMU would refuse or that wires other segments than asked.
    problem = [str(e) for e in after.errors]
    if not split and _segments(after) != _segments(before):
        problem.append("the rewrite would change the segments")
    if problem:
        errors = tuple(ArgvError("", f"cannot migrate this command line: {p}") for p in problem)
        return MigrationResult(tuple(argv), (), errors, before, after)
    return MigrationResult(tuple(new_argv), tuple(plan.changes), (), before, after)


def _segments(top: ArgvTopology) -> list[list[tuple[str, str, str]]]:
    """Segments as NICs (name, MAC) and backend types: auto backend names change on a rewrite."""
    return _topology_segments(top.topology)


def _topology_segments(topology: Topology) -> list[list[tuple[str, str, str]]]:
    return sorted(
        sorted((c.type, c.name, c.mac or "") if c.is_nic else (c.type, "", "") for c in s.clients)
        for s in topology.segments()
    )


# --------------------------------------------------------------------------- hubs
@dataclass(frozen=True, slots=True)
class _Port:
    port: PlannedClient
    peer_index: int | None


def _hub_members(top: ArgvTopology) -> dict[int, list[_Port]]:
    hubs: dict[int, list[_Port]] = {}
    for c in top.clients:
        if c.kind == "hubport" and c.hub is not None:
            hubs.setdefault(c.hub, []).append(_Port(c, c.peer_index))
    return hubs


def _is_legacy(p: _Port) -> bool:
    """A port made by ``-net`` (hub 0) or by ``-nic hubport``: both are rewritten."""
    return p.port.option is not None and p.port.option.name in ("net", "nic")


def _mixes_nat_and_external(clients: Sequence[PlannedClient]) -> bool:
    backends = [c for c in clients if c.kind == "backend"]
    return any(c.type == "user" for c in backends) and any(
        c.type not in ("user", "hubport", "none") for c in backends
    )


def _migrate_hub(
    plan: _Plan, hub_id: int, ports: list[_Port], by_index: dict[int, PlannedClient]
) -> None:
    """Legacy ports of one hub -> a direct pair, a lone client, or named hubports."""
    legacy = [p for p in ports if _is_legacy(p)]
    members = [by_index[p.peer_index] for p in legacy if p.peer_index is not None]
    only_legacy = len(legacy) == len(ports)
    nics = [c for c in members if c.kind == "nic"]
    backends = [c for c in members if c.kind == "backend"]
    for p in legacy:
        assert p.port.option is not None
        plan.remove.add(p.port.option.start)
    texts = ", ".join(_describe(c) for c in members)
    if only_legacy and len(nics) <= 1 and len(backends) <= 1:
        ident = plan.emit_backend(backends[0]) if backends else None
        if nics:
            plan.emit_nic(nics[0], ident)
        shape = "a direct NIC-backend pair" if nics and backends else "a lone " + (
            "NIC (no backend, as before)" if nics else "backend (no NIC, as before)"
        )
        plan.changes.append(f"hub {hub_id} ({texts}): now {shape}")
        return
    for p in legacy:
        peer = by_index[p.peer_index] if p.peer_index is not None else None
        port_id = _reuse_or_new(plan, p.port)
        pairs = [("type", "hubport"), ("id", port_id), ("hubid", str(hub_id))]
        if peer is not None and peer.kind == "backend":
            pairs.append(("netdev", plan.emit_backend(peer)))
        plan.netdevs.append(join_keyvals(pairs))
        if peer is not None and peer.kind == "nic":
            plan.emit_nic(peer, port_id)
    plan.changes.append(
        f"hub {hub_id} ({texts}): now -netdev hubport ports on hub {hub_id}, the same segment"
    )


def _reuse_or_new(plan: _Plan, port: PlannedClient) -> str:
    """A new id for a legacy port: ``hub<N>p<K>``, not ``hub<N>port<K>``, which marks -net."""
    return plan.new_id(f"hub{port.hub}p")


def _split_hub(
    plan: _Plan, hub_id: int, ports: list[_Port], by_index: dict[int, PlannedClient]
) -> None:
    """Take apart a hub that mixes NAT with external backends: each NIC its own backend."""
    members = [by_index[p.peer_index] for p in ports if p.peer_index is not None]
    nics = [c for c in members if c.kind == "nic"]
    backends = [c for c in members if c.kind == "backend"]
    for p in ports:
        if p.port.option is not None and p.port.option.name in ("net", "netdev", "nic"):
            plan.remove.add(p.port.option.start)
    for i in range(max(len(nics), len(backends))):
        nic = nics[i] if i < len(nics) else None
        backend = backends[i] if i < len(backends) else None
        ident = _place_backend(plan, backend) if backend is not None else None
        if nic is not None and backend is None:
            # a spare NIC keeps working: a NAT of its own, never the external side's hub again
            ident = plan.new_id("user")
            plan.netdevs.append(join_keyvals([("type", "user"), ("id", ident)]))
        if nic is not None:
            _place_nic(plan, nic, ident)
        if nic is not None and backend is not None:
            plan.changes.append(
                f"hub {hub_id}: {_describe(nic)} now has its own backend {_describe(backend)}"
            )
        elif nic is not None:
            plan.changes.append(
                f"hub {hub_id}: {_describe(nic)} had no backend of its own (more NICs than "
                f"backends): it now has a NAT of its own (-netdev user,id={ident}); give it "
                "another backend if it should be on the external network"
            )
        elif backend is not None and ident is not None:
            text = _add_nic(plan, ident, nics, hub_id, i)
            plan.changes.append(
                f"hub {hub_id}: {_describe(backend)} had no NIC of its own (more backends than "
                f"NICs): the guest gets a new NIC for it, -device {text} (one NIC per network; "
                "the guest sees one more interface)"
            )


def _add_nic(plan: _Plan, netdev: str, nics: Sequence[PlannedClient], hub_id: int, i: int) -> str:
    """A new NIC for a split backend: the hub's first NIC's model, a stable unused MAC."""
    model = (nics[0].model if nics else None) or default_nic_model(plan.before.machine)
    taken = {c.mac for c in plan.before.clients if c.mac} | plan.new_macs
    n = 0
    mac = suggested_mac("migrate --split", str(hub_id), str(i), netdev)
    while mac in taken or DEFAULT_MAC.match(mac):
        n += 1
        mac = suggested_mac("migrate --split", str(hub_id), str(i), netdev, str(n))
    plan.new_macs.add(mac)
    text = join_keyvals([("driver", model), ("netdev", netdev), ("mac", mac)])
    plan.appended.append(text)
    return text


def _place_backend(plan: _Plan, c: PlannedClient) -> str:
    """A backend in a split: a legacy or -nic one is written anew, a -netdev one is kept."""
    if c.option is not None and c.option.name == "netdev":
        return c.name
    assert c.option is not None
    plan.remove.add(c.option.start)
    return plan.emit_backend(c)


def _place_nic(plan: _Plan, c: PlannedClient, netdev: str | None) -> None:
    """A NIC in a split: a -device keeps its place with netdev= changed, others become -device."""
    opt = c.option
    if opt is not None and opt.name == "device" and opt.value.lstrip().startswith("{"):
        doc = json.loads(opt.value)  # predict() read it, so it is a JSON object
        doc.pop("netdev", None)
        if netdev is not None:
            doc["netdev"] = netdev
        plan.replace[opt.start] = ("device", json.dumps(doc, separators=(",", ":")))
        return
    if opt is not None and opt.name == "device":
        pairs = [(k, v) for k, v in parse_keyvals(opt.value, "driver") if k != "netdev"]
        if netdev is not None:
            pairs.insert(1, ("netdev", netdev))
        driver = pairs[0][1]
        pairs[0] = ("driver", DEVICE_ALIASES.get(driver, driver))
        plan.replace[opt.start] = ("device", join_keyvals(pairs))
        return
    if opt is not None:
        plan.remove.add(opt.start)
    plan.emit_nic(c, netdev)


def _migrate_default_net(plan: _Plan) -> None:
    """QEMU's implicit ``-net nic -net user`` written out as a pair."""
    top = plan.before
    nic = next((c for c in top.clients if c.kind == "nic" and c.hub == 0), None)
    user = next((c for c in top.clients if c.kind == "backend" and c.hub == 0), None)
    if nic is None or user is None:
        return
    ident = plan.emit_backend(user)
    plan.emit_nic(nic, ident)
    plan.changes.append(
        "no network option: QEMU's default -net nic -net user written out as "
        f"-netdev user,id={ident} -device {nic.model},netdev={ident},mac={nic.mac}"
    )


# --------------------------------------------------------------------------- output
def _assemble(argv: list[str], plan: _Plan) -> list[str]:
    """The new argv: removals, in-place replacements, the new block before the first NIC use."""
    top = plan.before
    block_netdevs = [x for v in plan.netdevs for x in ("-netdev", v)]
    block_devices = [x for _, v in sorted(plan.devices) for x in ("-device", v)]
    removed = sorted(plan.remove)
    first_device = next((o.start for o in top.options if o.name == "device"), None)
    netdev_at = removed[0] if removed else (first_device if first_device is not None else len(argv))
    device_at = netdev_at if first_device is None else min(netdev_at, first_device)
    spans = {o.start: o for o in top.options}
    out: list[str] = []
    i = 0
    while i <= len(argv):
        if i == device_at and i == netdev_at:
            out += block_netdevs + block_devices
        elif i == device_at:
            out += block_devices
        elif i == netdev_at:
            out += block_netdevs
        if i == len(argv):
            break
        opt = spans.get(i)
        if opt is not None and opt.start in plan.remove:
            i = opt.stop
            continue
        if opt is not None and opt.start in plan.replace:
            name, value = plan.replace[opt.start]
            out += [argv[i] if argv[i].lstrip("-") == name else f"-{name}", value]
            i = opt.stop
            continue
        out.append(argv[i])
        i += 1
    return out + [x for v in plan.appended for x in ("-device", v)]


def _taken_ids(top: ArgvTopology) -> set[str]:
    taken = {c.name for c in top.clients}
    for opt in top.options:
        for key, value in parse_keyvals(opt.value, "type") if opt.value else ():
            if key == "id":
                taken.add(value)
    return taken


def _describe(c: PlannedClient) -> str:
    if c.kind == "nic":
        return f"NIC {c.name} ({c.model}, {c.mac})"
    return f"{c.type} backend" + ("" if c.auto_name else f" {c.name}")


__all__ = ["FIXABLE_RULES", "MigrationResult", "fix_for", "join_keyvals", "migrate_argv"]
