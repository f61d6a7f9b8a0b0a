"""Typed models of a QEMU network topology and of one inspected VM.

Everything here is a frozen, slotted dataclass or an enum, built from the standard library only,
so that the parser, the rules and the reports can share them without importing any I/O code.

Order conventions (QEMU prints the opposite for hubs and ports; the parser reverses them):
- ``Topology.hubs`` are in creation order (QEMU prints the newest hub first);
- ``Hub.ports`` are in creation order (QEMU prints the newest port first);
- ``Topology.clients`` are the entries outside every hub, in the order QEMU printed them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

#: Client types that are not an "external" backend: the guest NIC, user-mode NAT (slirp, and
#: passt: a user-mode translator too, the guest's traffic leaves as the QEMU process's own
#: sockets, not onto an outside segment), the hub port itself.
NON_EXTERNAL_TYPES = frozenset({"nic", "user", "passt", "hubport", "none"})
NAT_TYPES = frozenset({"user", "passt"})

#: -device drivers that are NICs (every driver with a ``netdev`` property counts too); the QOM
#: pass of inventory asks only these (and types it does not know) for ``netdev``/``mac``
NIC_DRIVERS = frozenset(
    {
        "e1000", "e1000-82544gc", "e1000-82545em", "e1000e", "igb", "i82550", "i82551",
        "i82557a", "i82557b", "i82557c", "i82558a", "i82558b", "i82559a", "i82559b", "i82559c",
        "i82559er", "i82562", "i82801", "ne2k_pci", "ne2k_isa", "pcnet", "rtl8139", "tulip",
        "vmxnet3", "virtio-net-pci", "virtio-net-pci-transitional",
        "virtio-net-pci-non-transitional", "virtio-net-device", "usb-net", "sungem",
        "lan9118", "smc91c111", "mipsnet", "spapr-vlan", "virtio-net-ccw",
    }
)
#: -device aliases -> the type QEMU instantiates (and prints as ``model=``)
DEVICE_ALIASES: Mapping[str, str] = {
    "e1000-82540em": "e1000",
    "virtio-net": "virtio-net-pci",
}
#: -device types under /machine/peripheral* that are never NICs: the QOM pass skips them.
#: Anything not here and not in NIC_DRIVERS is asked, so a NIC model we do not know is still seen.
NON_NIC_DEVICE_PREFIXES = (
    "virtio-blk", "virtio-scsi", "virtio-serial", "virtio-balloon", "virtio-rng", "virtio-gpu",
    "virtio-vga", "virtio-keyboard", "virtio-mouse", "virtio-tablet", "virtio-input",
    "virtio-9p", "vhost-user-fs", "vhost-vsock", "virtconsole", "virtserialport",
    "scsi-", "ide-", "ich9-", "usb-tablet", "usb-kbd", "usb-mouse", "usb-storage", "usb-host",
    "usb-ehci", "nec-usb-xhci", "qemu-xhci", "piix3-usb", "usb-redir", "isa-serial",
    "isa-debugcon", "pvpanic", "VGA", "qxl", "cirrus", "bochs-display", "ramfb",
    "pcie-root-port", "pci-bridge", "pcie-pci-bridge", "ioh3420", "x3130", "i6300esb",
    "ib700", "intel-hda", "hda-", "AC97", "tpm-", "vfio-pci", "nvme", "megasas", "lsi53c",
    "pc-dimm", "nvdimm", "vmcoreinfo", "sga", "isa-applesmc", "ivshmem",
)


def may_be_nic(device_type: str) -> bool:
    """Whether a QOM device of this type can be a NIC (False only for known non-NIC types)."""
    if device_type in NIC_DRIVERS or device_type in DEVICE_ALIASES:
        return True
    return not device_type.startswith(NON_NIC_DEVICE_PREFIXES)


_EMPTY: Mapping[str, str] = MappingProxyType({})


class Severity(enum.IntEnum):
    """How bad a finding is; ordered so that ``max()`` gives the worst."""

    INFO = 10
    WARNING = 20
    CRITICAL = 30

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(
                f"unknown severity {text!r}: expected info, warning or critical"
            ) from None


@dataclass(frozen=True, slots=True)
class Filter:
    """One ``-object filter-*`` printed under the client it is attached to."""

    id: str
    type: str
    props: Mapping[str, str] = field(default_factory=lambda: _EMPTY, hash=False)
    raw: str = ""


@dataclass(frozen=True, slots=True)
class NetClient:
    """One QEMU net client (a NIC queue or a backend queue) as ``info network`` prints it.

    ``info`` holds the ``key=value`` fields only where the backend prints them as such
    (nic, user, tap, dgram ...); ``info_raw`` is always the exact text after ``type=<t>,``.
    ``index`` is the queue index (0 except for multiqueue). ``line`` is the 1-based line number
    in the text it was parsed from (0 when built by other means).
    """

    name: str
    type: str
    index: int = 0
    info: Mapping[str, str] = field(default_factory=lambda: _EMPTY, hash=False)
    info_raw: str = ""
    filters: tuple[Filter, ...] = ()
    peer: NetClient | None = None
    line: int = field(default=0, compare=False)

    @property
    def is_nic(self) -> bool:
        return self.type == "nic"

    @property
    def is_nat(self) -> bool:
        return self.type in NAT_TYPES

    @property
    def is_external(self) -> bool:
        """Fail-safe: every type we do not know to be internal counts as external."""
        return self.type not in NON_EXTERNAL_TYPES

    @property
    def model(self) -> str | None:
        return self.info.get("model")

    @property
    def mac(self) -> str | None:
        mac = self.info.get("macaddr")
        return mac.lower() if mac else None


@dataclass(frozen=True, slots=True)
class HubPort:
    """A port of a QEMU hub. ``name`` is None in formats that do not print port names."""

    name: str | None
    peer: NetClient | None
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Hub:
    """A QEMU hub (legacy ``-net`` uses hub 0; ``-netdev hubport,hubid=N`` makes hub N)."""

    id: int
    ports: tuple[HubPort, ...] = ()
    line: int = field(default=0, compare=False)

    @property
    def peers(self) -> tuple[NetClient, ...]:
        return tuple(p.peer for p in self.ports if p.peer is not None)

    @property
    def nics(self) -> tuple[NetClient, ...]:
        return tuple(c for c in self.peers if c.is_nic)

    @property
    def backends(self) -> tuple[NetClient, ...]:
        return tuple(c for c in self.peers if not c.is_nic)

    @property
    def mixes_nat_and_external(self) -> bool:
        """The leak of ``nat-external-hub``: a user NAT and an external backend on one hub."""
        backends = self.backends
        return any(b.is_nat for b in backends) and any(b.is_external for b in backends)


@dataclass(frozen=True, slots=True)
class UnparsedLine:
    """A line of ``info network`` the parser could not read; kept, never dropped."""

    line: int
    text: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Segment:
    """An L2 segment inside one VM: clients that exchange frames (a hub, or a NIC+backend pair)."""

    clients: tuple[NetClient, ...]
    hub: int | None = None

    @property
    def nics(self) -> tuple[NetClient, ...]:
        return tuple(c for c in self.clients if c.is_nic)

    @property
    def backends(self) -> tuple[NetClient, ...]:
        return tuple(c for c in self.clients if not c.is_nic)


@dataclass(frozen=True, slots=True)
class Topology:
    """The parsed ``info network`` of one VM.

    ``dialect`` names the format: ``hub`` (1.2+, port names), ``hub-unnamed`` (1.2 to ~2.x,
    no port names), ``vlan`` (before 1.2), or ``empty``. ``contradictions`` and
    ``alternatives`` are set when the listing cannot be taken at its word.
    """

    hubs: tuple[Hub, ...] = ()
    clients: tuple[NetClient, ...] = ()
    unparsed: tuple[UnparsedLine, ...] = ()
    dialect: str = "hub"
    #: what contradicts itself in the listing (``parse/consistency.py``): a crafted string
    #: may have moved lines; empty for every listing QEMU itself prints
    contradictions: tuple[str, ...] = field(default=(), compare=False)
    #: other readings of the same text (hubs merged, ports moved, a backend's info string
    #: holding a newline): the rules are evaluated on the most pessimistic one
    alternatives: tuple[Topology, ...] = field(default=(), compare=False, hash=False)
    #: lines a pasted text's reading step took out (prompt, quote, command echo, an earlier
    #: output ...), each with its reason: with ``unparsed`` every input line is accounted for
    removed: tuple[UnparsedLine, ...] = ()
    #: what that reading step did to the text as a whole (one sentence each)
    notes: tuple[str, ...] = ()

    def hub(self, hub_id: int) -> Hub | None:
        return next((h for h in self.hubs if h.id == hub_id), None)

    def iter_clients(self) -> Iterator[NetClient]:
        """Every client: hub peers first, then top-level entries and their peers (all queues)."""
        for hub in self.hubs:
            yield from hub.peers
        for client in self.clients:
            yield client
            if client.peer is not None:
                yield client.peer

    def nics(self) -> tuple[NetClient, ...]:
        """NICs, one per name (queue 0 of a multiqueue NIC)."""
        return _first_queue(c for c in self.iter_clients() if c.is_nic)

    def backends(self) -> tuple[NetClient, ...]:
        return _first_queue(c for c in self.iter_clients() if not c.is_nic)

    def segments(self) -> tuple[Segment, ...]:
        """L2 segments inside the VM: each hub, each NIC+backend pair, each lone client."""
        found: list[Segment] = [Segment(clients=_first_queue(h.peers), hub=h.id) for h in self.hubs]
        seen: set[str] = set()
        for client in self.clients:
            if client.index != 0 or client.name in seen:
                continue
            seen.add(client.name)
            members = (client,) if client.peer is None else (client, client.peer)
            found.append(Segment(clients=members))
        return tuple(found)


def _first_queue(clients: Iterator[NetClient] | tuple[NetClient, ...]) -> tuple[NetClient, ...]:
    seen: set[tuple[str, str]] = set()
    out: list[NetClient] = []
    for c in clients:
        key = (c.name, c.type)
        if key in seen:
            continue
        seen.add(key)
        out.append(c)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class UsernetForward:
    """One host forward of a slirp backend, from ``info usernet``.

    ``src_addr`` is ``*`` when QEMU listens on every host address.
    """

    netdev: str
    hub: int
    protocol: str  # "TCP" or "UDP"
    state: str  # "HOST_FORWARD" ...
    src_addr: str
    src_port: int
    dst_addr: str
    dst_port: int

    @property
    def all_addresses(self) -> bool:
        return self.src_addr in {"*", "0.0.0.0", "::", ""}


@dataclass(frozen=True, slots=True)
class QomNic:
    """A NIC device seen through QOM (only ``-device`` NICs appear there)."""

    path: str
    id: str
    type: str
    netdev: str | None
    mac: str | None


@dataclass(frozen=True, slots=True)
class VmInfo:
    name: str | None = None
    qemu_version: str | None = None
    status: str | None = None
    pid: int | None = None


@dataclass(frozen=True, slots=True)
class TargetFailure:
    """Why one target could not be inspected; ``kind`` is one of ``errors.ERROR_KINDS``."""

    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything read from one target at one moment; ``error`` set when it could not be read."""

    target: str
    vm: VmInfo = field(default_factory=VmInfo)
    topology: Topology | None = None
    usernet: tuple[UsernetForward, ...] = ()
    qom_nics: tuple[QomNic, ...] = ()
    info_network_raw: str | None = None
    error: TargetFailure | None = None
    live: bool = True  # False for saved text (file:, -): rules needing QMP data say so
    #: ``info usernet`` was read (live, or saved in a capture JSON): ``usernet`` is complete
    usernet_read: bool = False
    #: the QEMU command line, when readable (/proc/PID/cmdline of a local VM); else empty
    argv: tuple[str, ...] = ()
    #: netdev id -> "HOST:PORT" it listens on (from ``argv``): QEMU prints no listen address,
    #: so this is how a listening socket/stream is matched with the VM that connects to it
    listen_hints: Mapping[str, str] = field(default_factory=lambda: _EMPTY, hash=False)
    #: the management stack that owns the VM (libvirt, proxmox, incus ...), when known
    manager: str | None = None
    #: arguments the manager passes to QEMU raw (libvirt's ``<qemu:commandline>``), in order
    manager_raw_args: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """What a person calls this VM: its -name, else the target."""
        return self.vm.name or self.target


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem a rule found. ``hub`` is None when it is not about one hub."""

    rule: str
    severity: Severity
    message: str
    target: str
    hub: int | None = None
    clients: tuple[str, ...] = ()
    fix: str = ""
