"""Helpers shared by the rules: naming clients, spotting QEMU's auto names, building the
``-netdev``/``-device`` text of a fix from what ``info network`` shows. Pure functions."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from qnetinspect.models import Hub, NetClient, Topology

#: names QEMU makes up for legacy ``-net``/``-nic`` backends (6.0+ and 2.12-5.2)
AUTO_BACKEND_NAME = re.compile(r"^(#net\d+|__org\.qemu\.(net|nic)\d+)$")
#: names of QEMU <= 2.11 for ``-net`` backends without id (``user.0``, ``tap.1``)
AUTO_TYPED_NAME = re.compile(r"^(user|tap|socket|bridge|vde|dump|l2tpv3|netmap|stream|dgram)\.\d+$")
#: the hub port names legacy ``-net`` creates
LEGACY_PORT_NAME = re.compile(r"^hub-?\d+port\d+$")
#: what QEMU accepts as an id (``-netdev ...,id=``, ``-device ...,id=``)
VALID_ID = re.compile(r"^[A-Za-z][A-Za-z0-9._-]*$")
#: QEMU's default MACs: 52:54:00:12:34:56 plus the NIC's creation index
DEFAULT_MAC = re.compile(r"^52:54:00:12:34:[0-9a-f]{2}$")
VIRTIO_NET_MODELS = frozenset(
    {
        "virtio-net-pci",
        "virtio-net-pci-transitional",
        "virtio-net-pci-non-transitional",
        "virtio-net-device",
        "virtio-net-ccw",
        "virtio-net",
    }
)
#: the address a user must fill in where QEMU does not print it
PLACEHOLDER = "HOST:PORT"


def unique(clients: Iterable[NetClient]) -> tuple[NetClient, ...]:
    """One client per (name, type): a multiqueue NIC or backend counts once (queue 0 kept)."""
    seen: set[tuple[str, str]] = set()
    out: list[NetClient] = []
    for c in clients:
        key = (c.name, c.type)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return tuple(out)


def hub_nics(hub: Hub) -> tuple[NetClient, ...]:
    return unique(c for c in hub.peers if c.is_nic)


def hub_backends(hub: Hub) -> tuple[NetClient, ...]:
    return unique(c for c in hub.peers if not c.is_nic)


def pairs(topology: Topology) -> tuple[tuple[NetClient, NetClient | None], ...]:
    """Entries outside every hub as (client, its peer), queue 0 only, in printed order."""
    seen: set[tuple[str, str]] = set()
    out: list[tuple[NetClient, NetClient | None]] = []
    for c in topology.clients:
        key = (c.name, c.type)
        if key in seen:
            continue
        seen.add(key)
        out.append((c, c.peer))
    return tuple(out)


def describe(client: NetClient) -> str:
    """``e1000.0 (nic e1000)``, ``#net218 (user)``: the name and what it is."""
    if client.is_nic:
        return f"{client.name} (nic {client.model})" if client.model else f"{client.name} (nic)"
    return f"{client.name} ({client.type})"


def names(clients: Iterable[NetClient]) -> list[str]:
    return [c.name for c in clients]


def join(items: Iterable[str]) -> str:
    return ", ".join(items)


def is_auto_nic_name(nic: NetClient) -> bool:
    """``e1000.0``: the name QEMU gives a NIC without id (so no ``id=`` to carry over)."""
    return (
        nic.model is not None
        and re.fullmatch(re.escape(nic.model) + r"\.\d+", nic.name) is not None
    )


def usable_id(name: str | None) -> bool:
    return (
        name is not None
        and VALID_ID.match(name) is not None
        and not AUTO_BACKEND_NAME.match(name)
        and not AUTO_TYPED_NAME.match(name)
        and not LEGACY_PORT_NAME.match(name)
    )


def suggested_mac(*seed: str) -> str:
    """A locally stable MAC in QEMU's 52:54:00 range, derived from the names (not random, so
    the same input gives the same advice)."""
    # surrogatepass: a name read from /proc may hold undecodable bytes (surrogateescape)
    digest = hashlib.sha256("\0".join(seed).encode("utf-8", "surrogatepass")).digest()
    return "52:54:00:" + ":".join(f"{b:02x}" for b in digest[:3])


def device_option(nic: NetClient | None, netdev_id: str, model: str | None = None) -> str:
    """``-device MODEL,netdev=ID[,id=NAME][,mac=MAC]`` keeping the NIC's own id and MAC."""
    if model is None:
        model = (nic.model if nic is not None else None) or "virtio-net-pci"
    text = f"-device {model},netdev={netdev_id}"
    if nic is not None:
        if usable_id(nic.name) and not is_auto_nic_name(nic):
            text += f",id={nic.name}"
        mac = nic.mac
        if mac and not DEFAULT_MAC.match(mac):
            text += f",mac={mac}"
    return text


_HOST_PORT = re.compile(r"^(?P<host>.+):(?P<port>\d+)$")
_DGRAM_UDP = re.compile(r"^(?P<lh>.+):(?P<lp>\d+)/(?P<rh>.+):(?P<rp>\d+)$")


def netdev_option(backend: NetClient, netdev_id: str) -> str:
    """The ``-netdev`` text that recreates ``backend`` under ``netdev_id``, as far as
    ``info network`` shows it; what it hides (a listen address) becomes ``HOST:PORT``."""
    info = backend.info
    t = backend.type
    if t == "user":
        opts = ",restrict=on" if backend.info.get("restrict") == "on" else ""
        return f"-netdev user,id={netdev_id}{opts}"
    if t == "tap":
        if "br" in backend.info:
            return f"-netdev bridge,id={netdev_id},br={backend.info['br']}"
        if "ifname" in backend.info:
            ifname = backend.info["ifname"]
            return f"-netdev tap,id={netdev_id},ifname={ifname},script=no,downscript=no"
        return f"-netdev tap,id={netdev_id},..."
    if t == "socket":
        if addr := info.get("connect"):
            return f"-netdev socket,id={netdev_id},connect={addr}"
        if addr := info.get("udp"):
            return f"-netdev socket,id={netdev_id},udp={addr},localaddr={PLACEHOLDER}"
        if addr := info.get("mcast"):
            return f"-netdev socket,id={netdev_id},mcast={addr}"
        return f"-netdev socket,id={netdev_id},listen={PLACEHOLDER}"
    if t == "stream":
        if m := _HOST_PORT.match(info.get("tcp", "")):
            return (
                f"-netdev stream,id={netdev_id},server=off,addr.type=inet,"
                f"addr.host={m['host']},addr.port={m['port']}"
            )
        return (
            f"-netdev stream,id={netdev_id},server=on,addr.type=inet,addr.host=HOST,addr.port=PORT"
        )
    if t == "dgram":
        if m := _DGRAM_UDP.match(info.get("udp", "")):
            return (
                f"-netdev dgram,id={netdev_id},local.type=inet,local.host={m['lh']},"
                f"local.port={m['lp']},remote.type=inet,remote.host={m['rh']},remote.port={m['rp']}"
            )
        if m := _HOST_PORT.match(info.get("mcast", "")):
            return (
                f"-netdev dgram,id={netdev_id},remote.type=inet,"
                f"remote.host={m['host']},remote.port={m['port']}"
            )
        return f"-netdev dgram,id={netdev_id},..."
    return f"-netdev {t},id={netdev_id},..."


def netdev_id_for(backend: NetClient, fallback: str) -> str:
    return backend.name if usable_id(backend.name) else fallback


def hub_origin(hub: Hub) -> str:
    """What to remove from the command line to undo ``hub``: its ``-net`` options or its
    ``-netdev hubport`` netdevs (names where QEMU shows them)."""
    port_names = [p.name for p in hub.ports if p.name]
    if not port_names or all(LEGACY_PORT_NAME.match(n) for n in port_names):
        return f"in place of the -net options that make hub {hub.id}"
    hubports = [n for n in port_names if not LEGACY_PORT_NAME.match(n)]
    text = f"in place of the -netdev hubport,hubid={hub.id} netdevs {join(reversed(hubports))}"
    if len(hubports) < len(port_names):
        text += f" and the -net options on hub {hub.id}"
    return text


@dataclass(frozen=True, slots=True)
class SplitPair:
    """One NIC-backend pair of a split hub. ``nic`` None: a new NIC (``model``, ``new_mac``);
    ``backend`` None: a new ``-netdev user`` for a spare NIC."""

    netdev_id: str
    backend: NetClient | None
    nic: NetClient | None
    model: str | None = None
    new_mac: str | None = None


def split_plan(
    hub: Hub, backends: Iterable[NetClient] | None = None, *, spare_nics: str = "name"
) -> tuple[list[SplitPair], list[NetClient]]:
    """How ``split_hub`` pairs the hub's clients: (pairs, spare NICs left unpaired).

    NICs are handed to backends in creation order; a backend left without a NIC gets a new one
    (the model of the hub's first NIC, else ``virtio-net-pci``, and a MAC of its own outside
    QEMU's defaults). NICs left over each get a ``-netdev user`` of their own
    (``spare_nics="user"``) or are returned as spare (``"name"``).
    """
    nics = list(hub_nics(hub))
    chosen = list(hub_backends(hub) if backends is None else backends)
    used_ids: set[str] = set()
    counters: dict[str, int] = {}
    taken_macs = {n.mac for n in nics if n.mac}

    def new_id(backend: NetClient | None, role: str) -> str:
        n = counters.get(role, 0)
        counters[role] = n + 1
        fallback = f"{role}{hub.id}" if n == 0 else f"{role}{hub.id}_{n}"
        netdev_id = fallback if backend is None else netdev_id_for(backend, fallback)
        while netdev_id in used_ids:
            netdev_id += "_"
        used_ids.add(netdev_id)
        return netdev_id

    out: list[SplitPair] = []
    for i, backend in enumerate(chosen):
        netdev_id = new_id(backend, "nat" if backend.is_nat else "ext")
        nic = nics[i] if i < len(nics) else None
        if nic is not None:
            out.append(SplitPair(netdev_id, backend, nic))
            continue
        k = 0
        mac = suggested_mac("split", str(hub.id), netdev_id)
        while mac in taken_macs or DEFAULT_MAC.match(mac):
            k += 1
            mac = suggested_mac("split", str(hub.id), netdev_id, str(k))
        taken_macs.add(mac)
        out.append(SplitPair(netdev_id, backend, None, nics[0].model if nics else None, mac))
    leftover = nics[len(chosen) :]
    if spare_nics == "user":
        out += [SplitPair(new_id(None, "net"), None, nic) for nic in leftover]
        leftover = []
    return out, leftover


def split_hub(
    hub: Hub, backends: Iterable[NetClient] | None = None, *, spare_nics: str = "name"
) -> str:
    """Command-line text giving each backend of ``hub`` its own NIC, so no hub is needed (the
    pairing is ``split_plan``'s)."""
    planned, leftover = split_plan(hub, backends, spare_nics=spare_nics)
    parts: list[str] = []
    for pair in planned:
        if pair.backend is None:
            parts.append(
                f"-netdev user,id={pair.netdev_id} {device_option(pair.nic, pair.netdev_id)}"
            )
            continue
        device = device_option(pair.nic, pair.netdev_id, pair.model)
        if pair.new_mac:
            device += f",mac={pair.new_mac}"
        parts.append(f"{netdev_option(pair.backend, pair.netdev_id)} {device}")
    if leftover:
        parts.append(
            f"(then give {join(names(leftover))} a backend of its own the same way, or remove it)"
        )
    return " ".join(parts)


def split_topology(
    topology: Topology,
    hub: Hub,
    backends: Iterable[NetClient] | None = None,
    *,
    spare_nics: str = "name",
) -> Topology:
    """``topology`` as it is once ``split_hub``'s fix is applied: the hub gone, its clients in
    the planned pairs (hub members the fix does not name are dropped with the hub)."""
    planned, leftover = split_plan(hub, backends, spare_nics=spare_nics)
    clients: list[NetClient] = list(topology.clients)
    for i, pair in enumerate(planned):
        backend = (
            replace(pair.backend, name=pair.netdev_id, peer=None)
            if pair.backend is not None
            else NetClient(pair.netdev_id, "user", info={"net": "10.0.2.0", "restrict": "off"})
        )
        if pair.nic is not None:
            nic = replace(pair.nic, peer=backend)
        else:
            model = pair.model or "virtio-net-pci"
            nic = NetClient(
                f"split-nic{hub.id}_{i}", "nic",
                info={"model": model, "macaddr": pair.new_mac or ""},
                info_raw=f"model={model},macaddr={pair.new_mac}", peer=backend,
            )
        clients.append(nic)
    clients += [replace(n, peer=None) for n in leftover]
    return replace(
        topology, hubs=tuple(h for h in topology.hubs if h.id != hub.id), clients=tuple(clients)
    )


def with_nic_info(topology: Topology, name: str, **changes: str) -> Topology:
    """``topology`` with the NIC ``name``'s info fields changed (``model=``, ``macaddr=``),
    wherever it is (hub port, pair, every queue): how a one-option fix is applied."""

    def fix(c: NetClient | None) -> NetClient | None:
        if c is None:
            return None
        if c.is_nic and c.name == name:
            info = {**c.info, **changes}
            raw = ",".join(f"{k}={v}" for k, v in info.items())
            return replace(c, info=info, info_raw=raw, peer=fix(c.peer))
        return replace(c, peer=fix(c.peer)) if c.peer is not None else c

    hubs = tuple(
        replace(h, ports=tuple(replace(p, peer=fix(p.peer)) for p in h.ports))
        for h in topology.hubs
    )
    clients = tuple(x for x in (fix(c) for c in topology.clients) if x is not None)
    return replace(topology, hubs=hubs, clients=clients)


_FIX_MAC = re.compile(r"(?:mac|macaddr)=([0-9a-fA-F:]{17})")


def fix_mac(fix: str) -> str | None:
    """The MAC a fix text sets (``mac=`` / ``macaddr=``), if any."""
    m = _FIX_MAC.search(fix)
    return m.group(1).lower() if m else None


def nic_netdevs(topology: Topology) -> dict[str, str | None]:
    """NIC name -> the ``netdev=`` it uses (a hubport id for hub NICs), None for legacy
    ``-net nic`` NICs (on an auto-named hub port) and NICs without a backend."""
    out: dict[str, str | None] = {}
    for hub in topology.hubs:
        for port in hub.ports:
            if port.peer is not None and port.peer.is_nic:
                legacy = port.name is None or LEGACY_PORT_NAME.match(port.name)
                out.setdefault(port.peer.name, None if legacy else port.name)
    for client, peer in pairs(topology):
        if client.is_nic:
            out.setdefault(client.name, peer.name if peer is not None else None)
    return out


def nic_with_mac(nic: NetClient, netdev: str | None, mac: str, on_hub: bool) -> str:
    """The NIC's option with ``mac`` set: ``-device ...,mac=`` or legacy ``-net nic,macaddr=``."""
    model = nic.model or "virtio-net-pci"
    if netdev is None and on_hub:
        return f"-net nic,model={model},macaddr={mac}"
    text = f"-device {model}" + (f",netdev={netdev}" if netdev else "")
    if usable_id(nic.name) and not is_auto_nic_name(nic):
        text += f",id={nic.name}"
    return f"{text},mac={mac}"


def hub_of(topology: Topology) -> dict[str, int]:
    """Client name -> the id of the hub it is on."""
    return {c.name: hub.id for hub in topology.hubs for c in hub.peers}
