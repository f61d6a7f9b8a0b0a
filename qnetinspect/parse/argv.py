"""A QEMU command line -> the network Topology QEMU would create from it, without running QEMU.

``predict(argv)`` reads the network options of a QEMU command line (``-netdev``, ``-nic``,
``-net``, ``-device``, ``-object filter-*``, ``-name``, ``-M``/``-machine``, ``-nodefaults``) and
replays what QEMU does with them, so the rules that run on a live ``info network`` run on the
command line too (``qnetinspect lint``). Checked against QEMU 5.2, 7.2 and 10.0 (the captures
in ``fixtures/captures``) and against the installed QEMU 7.2 (``tests/test_argv_qemu.py``).

What is modelled (QEMU's own behaviour, ``net/net.c``, ``net/hub.c``, ``softmmu/vl.c``):

- option syntax: ``-opt value`` or ``--opt value`` (QEMU has no ``-opt=value``); QemuOpts values
  ``key=value,...`` with ``,,`` for a literal comma, an implied first key (``-net nic`` is
  ``type=nic``, ``-device e1000`` is ``driver=e1000``, ``-name vm`` is ``guest=vm``), a bare
  ``flag`` meaning ``flag=on``; JSON ``-netdev {...}`` / ``-device {...}``;
- creation order: every ``-netdev`` first (7.2+: ``stream`` and ``dgram``, parsed as QAPI, before
  the others), then ``-nic``, then ``-net``; then the NICs of ``-nic``/``-net nic`` (machine init),
  then ``-device`` NICs, each group in command-line order;
- hubs: legacy ``-net`` joins hub 0; ``-netdev hubport,id=X,hubid=N[,netdev=B]`` joins hub N.
  Ports are named ``hub<N>port<K>`` (K counts every port of that hub, named ones included) or by
  their id;
- names: ``-device`` NICs by ``id``, else ``<driver>.<n>`` counted per driver over every NIC
  created before (legacy ``-net nic,id=`` is ignored); ``-net``/``-nic`` backends without id get
  QEMU's auto names, which are random in 6.0+ (``#net`` + counter + two random digits): here the
  two digits are ``00``, so compare them by type. 5.2 names (``__org.qemu.net<N>``) are exact;
- MACs: ``52:54:00:12:34:56`` upwards, the lowest not yet taken, in NIC creation order
  (``-nic``/``-net nic`` when their option is read, ``-device`` when realized); an explicit MAC
  in that range takes its slot when its NIC is created;
- the default network (``-net nic -net user``) when no ``-net``/``-netdev``/``-nic`` is given and
  ``-nodefaults`` is absent; ``-net none``/``-nic none``;
- default NIC model: ``e1000`` on ``pc``, ``e1000e`` on ``q35``; ``-net nic,model=virtio`` is
  ``virtio-net-pci``;
- errors QEMU reports (with QEMU's wording and the option text): invalid ids, duplicate ids,
  missing ``id``/``hubid``/``addr``, unknown backend types, ``-net ...,name=``/``vlan=``, unknown
  parameters of ``user``/``socket``/``hubport``/legacy ``nic``, a netdev used twice, a netdev
  that does not exist, more than 8 ``-net nic``/``-nic``, bad MACs, ``dgram`` with only
  ``local`` (7.2+), ``stream``/``dgram`` before 7.2, ``igb`` before 8.0, legacy NIC models that
  are not PCI NICs. Host resources (``vhost=on`` needing ``/dev/vhost-net``, the bridge helper's
  ``/etc/qemu/bridge.conf``, a ``vde`` switch socket) are checked only when a ``path_exists``
  probe is given.

Best effort, documented rather than exact: the backend info strings (``user``: ``net=..,
restrict=..``; ``tap``: ``ifname=..,script=..,downscript=..``, the ifname a kernel would choose is
unknown; ``socket``: listen -> empty, ``socket: connect to A:P``, ``socket: udp=A:P``,
``socket: mcast=A:P``; ``stream``: server -> empty (``listening`` in 9.0+), client ->
``tcp:A:P``; ``dgram``: ``udp=L/R``); filter property order and defaults; multiqueue (one queue
is predicted); machines other than pc/q35 (their default NIC model is taken as e1000). Options
this module does not know are assumed to take an argument, except QEMU's flag options.
Not seen at all: options hidden in ``-readconfig`` files or changed by ``-set``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from qnetinspect.models import (
    DEVICE_ALIASES,
    NIC_DRIVERS,
    Filter,
    Hub,
    HubPort,
    NetClient,
    Topology,
    UsernetForward,
)
from qnetinspect.parse.cmdline import read_proc_cmdline as read_proc_cmdline

Version = tuple[int, int]
#: the QEMU whose behaviour is predicted when the caller does not say
DEFAULT_VERSION: Version = (7, 2)
#: ``-net nic`` and ``-nic`` share QEMU's table of 8 on-board NICs (MAX_NICS)
MAX_NICS = 8

#: QEMU options that take no argument (DEF(..., 0, ...) in qemu-options.hx); every other
#: option is taken to consume the next argv item, as QEMU does for HAS_ARG options.
FLAG_OPTIONS = frozenset(
    {
        "h", "help", "version", "S", "s", "snapshot", "nodefaults", "no-user-config",
        "nodefconfig", "nographic", "curses", "portrait", "full-screen", "enable-kvm",
        "no-kvm", "no-kvm-irqchip", "no-kvm-pit", "no-kvm-pit-reinjection", "no-acpi",
        "no-hpet", "no-reboot", "no-shutdown", "daemonize", "usb", "win2k-hack", "rtc-td-hack",
        "no-fd-bootchk", "old-param", "only-migratable", "enable-fips", "preconfig",
        "mem-prealloc", "semihosting", "singlestep", "alt-grab", "ctrl-grab", "sdl", "no-frame",
        "xen-attach", "xen-domid-restrict", "audio-help", "enable-sync-profile",
        "async-teardown", "perfmap", "jitdump", "no-quit",
    }
)
#: options this module reads; ``M`` is an alias of ``machine``
NET_OPTIONS = frozenset({"net", "netdev", "nic", "device", "object", "name", "M", "machine"})

#: -netdev types per QEMU build; types not here are rejected as QEMU does for a typo
NETDEV_TYPES = frozenset(
    {
        "user", "tap", "l2tpv3", "socket", "stream", "dgram", "vde", "bridge", "hubport",
        "netmap", "vhost-user", "vhost-vdpa", "af-xdp", "vmnet-host", "vmnet-shared",
        "vmnet-bridged", "passt",
    }
)
_TYPES_SINCE: Mapping[str, Version] = {
    "stream": (7, 2), "dgram": (7, 2), "af-xdp": (8, 2), "passt": (10, 1),
}
#: QAPI-parsed -netdev types, created before the QemuOpts-parsed ones (7.2+)
_MODERN_TYPES = frozenset({"stream", "dgram"})

#: NIC models the legacy ``-net nic``/``-nic`` accept on x86 (PCI NICs, plus ne2k_isa on pc)
LEGACY_NIC_MODELS = frozenset(
    NIC_DRIVERS - {"virtio-net-device", "usb-net", "sungem", "lan9118", "smc91c111", "mipsnet",
                   "spapr-vlan", "virtio-net-ccw"}
)
LEGACY_MODEL_ALIASES: Mapping[str, str] = {"virtio": "virtio-net-pci"}
_SINCE_DEVICE: Mapping[str, Version] = {"igb": (8, 0)}

#: QOM properties of each filter type with their defaults, in the order QEMU prints them
_FILTER_PROPS: Mapping[str, tuple[tuple[str, str | None], ...]] = {
    "filter-dump": (("file", None), ("maxlen", "65536")),
    "filter-buffer": (("interval", None),),
    "filter-redirector": (("vnet_hdr_support", "false"), ("indev", ""), ("outdev", "")),
    "filter-rewriter": (("vnet_hdr_support", "false"),),
    "filter-mirror": (("vnet_hdr_support", "false"), ("outdev", None)),
}
_NETFILTER_PROPS: tuple[tuple[str, str | None], ...] = (
    ("position", "tail"), ("status", "on"), ("insert", "behind"), ("netdev", None),
    ("queue", "all"),
)
_ENOENT = "No such file or directory"
_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._-]*$")
VALID_ID = _ID_RE
_MAC_RE = re.compile(r"^[0-9A-Fa-f]{1,2}([:-])[0-9A-Fa-f]{1,2}(\1[0-9A-Fa-f]{1,2}){4}$")
_ID_MSG = (
    "Parameter 'id' expects an identifier\n"
    "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter."
)

# Keys QEMU accepts per type, where a wrong key is a common mistake. Types not listed are not
# checked for unknown keys (no false alarms on options this module does not know).
_COMMON_KEYS = frozenset({"type", "id"})
_VALID_KEYS: Mapping[str, frozenset[str]] = {
    "user": frozenset(
        {
            "hostname", "restrict", "ipv4", "ipv6", "ip", "net", "host", "tftp", "bootfile",
            "dhcpstart", "dns", "dnssearch", "domainname", "ipv6-prefix", "ipv6-prefixlen",
            "ipv6-net", "ipv6-host", "ipv6-dns", "smb", "smbserver", "hostfwd", "guestfwd",
            "tftp-server-name",
        }
    ),
    "socket": frozenset({"fd", "listen", "connect", "mcast", "localaddr", "udp"}),
    "tap": frozenset(
        {
            "ifname", "fd", "fds", "script", "downscript", "br", "helper", "sndbuf", "vnet_hdr",
            "vhost", "vhostfd", "vhostfds", "vhostforce", "queues", "poll-us",
        }
    ),
    "hubport": frozenset({"hubid", "netdev"}),
    "nic": frozenset({"netdev", "macaddr", "model", "addr", "vectors"}),
}


# --------------------------------------------------------------------------- results
@dataclass(frozen=True, slots=True)
class Option:
    """One option of the command line: ``argv[start:stop]`` is ``-name value``."""

    name: str
    value: str
    start: int
    stop: int

    @property
    def text(self) -> str:
        """How QEMU names the option in its messages: ``-netdev user,id=x``."""
        return f"-{self.name} {self.value}" if self.value else f"-{self.name}"


@dataclass(frozen=True, slots=True)
class ArgvError:
    """Why QEMU would refuse the command line; ``option`` is the option text, or ``""``."""

    option: str
    message: str

    def __str__(self) -> str:
        first = self.message.splitlines()[0] if self.message else ""
        return f"{self.option}: {first}" if self.option else first


@dataclass(frozen=True, slots=True)
class PlannedClient:
    """One net client QEMU would create, with the option that creates it.

    ``kind`` is ``nic`` or ``backend`` or ``hubport``; ``hub`` is set for hub ports and for the
    clients joined to one (legacy ``-net`` clients and hubport peers); ``peer`` is the name of
    the client it is wired to; ``params`` are the option's key/values (backends), ``auto_name``
    tells that QEMU would choose the name (random in 6.0+). ``index`` is the position in
    ``ArgvTopology.clients`` (creation order) and ``peer_index`` the peer's.
    """

    name: str
    type: str
    kind: str
    option: Option | None
    peer: str | None = None
    hub: int | None = None
    model: str | None = None
    mac: str | None = None
    mac_explicit: bool = False
    params: tuple[tuple[str, str], ...] = ()
    auto_name: bool = False
    index: int = 0
    peer_index: int | None = None


@dataclass(frozen=True, slots=True)
class ArgvTopology:
    """What ``predict`` found: the topology, QEMU's errors, and what it could not know."""

    topology: Topology
    errors: tuple[ArgvError, ...] = ()
    notes: tuple[str, ...] = ()
    clients: tuple[PlannedClient, ...] = ()
    options: tuple[Option, ...] = ()
    argv: tuple[str, ...] = ()
    binary: str | None = None
    vm_name: str | None = None
    machine: str = "pc"
    qemu_version: Version = DEFAULT_VERSION
    default_net: bool = False

    @property
    def ok(self) -> bool:
        """True when QEMU would start with this command line (as far as can be told offline)."""
        return not self.errors


# --------------------------------------------------------------------------- syntax
def parse_keyvals(text: str, implied: str | None = None) -> list[tuple[str, str]]:
    """QemuOpts ``key=value,...`` -> pairs, in order (``,,`` is a literal comma).

    The first item without ``=`` is the value of ``implied`` when given; any other item without
    ``=`` is a flag: ``key`` -> ``key=on``, ``nokey`` -> ``key=off``.
    """
    out: list[tuple[str, str]] = []
    pos = 0
    first = True
    n = len(text)
    while pos < n:
        cut = pos
        while cut < n and text[cut] not in "=,":
            cut += 1
        if cut >= n or text[cut] == ",":
            if first and implied is not None:
                value, pos = _read_value(text, pos)
                out.append((implied, value))
            else:
                name = text[pos:cut]
                pos = cut + 1
                if name.startswith("no") and len(name) > 2:
                    out.append((name[2:], "off"))
                elif name:
                    out.append((name, "on"))
        else:
            name = text[pos:cut]
            value, pos = _read_value(text, cut + 1)
            out.append((name, value))
        first = False
    return out


def _read_value(text: str, pos: int) -> tuple[str, int]:
    """Read up to the next lone comma; ``,,`` stands for ``,``. Returns (value, next position)."""
    chars: list[str] = []
    n = len(text)
    while pos < n:
        ch = text[pos]
        if ch == ",":
            if pos + 1 < n and text[pos + 1] == ",":
                chars.append(",")
                pos += 2
                continue
            return "".join(chars), pos + 1
        chars.append(ch)
        pos += 1
    return "".join(chars), pos


def _json_keyvals(text: str, option: Option, errors: list[ArgvError]) -> list[tuple[str, str]]:
    """``-netdev {"type": ...}`` -> flat pairs (nested objects become ``a.b`` keys)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        errors.append(ArgvError(option.text, f"invalid JSON: {exc}"))
        return []
    if not isinstance(data, dict):
        errors.append(ArgvError(option.text, "JSON value must be an object"))
        return []
    out: list[tuple[str, str]] = []

    def flat(prefix: str, obj: object) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                flat(f"{prefix}{k}.", v)
        elif isinstance(obj, bool):
            out.append((prefix[:-1], "on" if obj else "off"))
        elif isinstance(obj, list):
            for item in obj:
                flat(prefix, item.get("str", item) if isinstance(item, dict) else item)
        else:
            out.append((prefix[:-1], str(obj)))

    flat("", data)
    return out


def split_argv(argv: Sequence[str]) -> tuple[str | None, list[Option], list[ArgvError]]:
    """Split a QEMU argv into options. ``argv[0]`` is taken as the binary when it is not an option.

    Returns (binary or None, every option in order, errors such as a missing argument).
    Non-option items (a disk image) are skipped, as QEMU takes them as ``-hda``.
    """
    items = list(argv)
    binary: str | None = None
    i = 0
    if items and not items[0].startswith("-"):
        binary = items[0]
        i = 1
    options: list[Option] = []
    errors: list[ArgvError] = []
    while i < len(items):
        item = items[i]
        if not item.startswith("-") or item == "-":
            i += 1
            continue
        name = item[2:] if item.startswith("--") else item[1:]
        if name in FLAG_OPTIONS:
            options.append(Option(name, "", i, i + 1))
            i += 1
            continue
        if "=" in name and name.split("=", 1)[0] in NET_OPTIONS:
            errors.append(ArgvError(item, "invalid option"))
            i += 1
            continue
        if i + 1 >= len(items):
            errors.append(ArgvError(item, "requires an argument"))
            i += 1
            continue
        options.append(Option(name, items[i + 1], i, i + 2))
        i += 2
    return binary, options, errors


def parse_version(text: str) -> Version:
    """``"7.2"``, ``"7.2.22"`` or QEMU's ``--version`` banner -> (7, 2)."""
    m = re.search(r"(\d+)\.(\d+)", text)
    if not m:
        raise ValueError(f"not a QEMU version: {text!r} (expected MAJOR.MINOR, e.g. 7.2)")
    return int(m.group(1)), int(m.group(2))


# --------------------------------------------------------------------------- simulation
@dataclass
class _Client:
    name: str
    type: str
    kind: str
    option: Option | None
    params: list[tuple[str, str]] = field(default_factory=list)
    peer: _Client | None = None
    hub: int | None = None
    model: str | None = None
    mac: str | None = None
    mac_explicit: bool = False
    auto_name: bool = False
    filters: list[Filter] = field(default_factory=list)
    queue_names: list[str] = field(default_factory=list)  # NIC queues 1.. (multiqueue peer)


@dataclass
class _LegacyNic:
    """An entry of QEMU's nd_table: a ``-nic`` or ``-net nic`` NIC, realized at machine init."""

    option: Option
    model: str | None
    mac: str
    mac_explicit: bool
    peer: _Client | None
    params: list[tuple[str, str]] = field(default_factory=list)


class _Sim:
    def __init__(self, version: Version, path_exists: Callable[[str], bool] | None) -> None:
        self.version = version
        self.path_exists = path_exists
        self.errors: list[ArgvError] = []
        self.notes: list[str] = []
        self.clients: list[_Client] = []  # QEMU's net_clients list, creation order
        self.hubs: dict[int, list[_Client]] = {}  # insertion order = hub creation order
        self.hub_counter: dict[int, int] = {}
        self.macs_used: set[int] = set()
        self.nd_table: list[_LegacyNic] = []
        self.auto_counter = 0
        self.legacy_index = 0

    # ----------------------------------------------------------- helpers
    def error(self, option: Option | None, message: str) -> None:
        self.errors.append(ArgvError(option.text if option else "", message))

    def find(self, name: str) -> _Client | None:
        return next((c for c in self.clients if c.name == name and c.kind != "nic"), None)

    def assign_mac(self, explicit: str | None) -> str:
        """qemu_macaddr_default_if_unset: explicit MACs in 52:54:00:12:34:xx take their slot."""
        if explicit is not None:
            mac = _norm_mac(explicit)
            if mac.startswith("52:54:00:12:34:"):
                self.macs_used.add(int(mac[-2:], 16))
            return mac
        slot = next((i for i in range(0x56, 0xFF) if i not in self.macs_used), 0xFF)
        self.macs_used.add(slot)
        return f"52:54:00:12:34:{slot:02x}"

    def auto_name(self, kind: str, legacy_index: int) -> str:
        if self.version < (6, 0):
            return f"__org.qemu.{kind}{legacy_index}"
        name = f"#net{self.auto_counter}00"
        self.auto_counter += 1
        return name

    def add_port(self, hub_id: int, name: str | None, option: Option | None) -> _Client:
        ports = self.hubs.setdefault(hub_id, [])
        k = self.hub_counter.get(hub_id, 0)
        self.hub_counter[hub_id] = k + 1
        port = _Client(name or f"hub{hub_id}port{k}", "hubport", "hubport", option, hub=hub_id)
        ports.append(port)
        self.clients.append(port)
        return port

    def nic_name(self, model: str) -> str:
        """assign_name(): counts every client of the model, each NIC queue included."""
        n = sum(
            1 + len(c.queue_names) for c in self.clients if c.kind == "nic" and c.model == model
        )
        return f"{model}.{n}"

    # ----------------------------------------------------------- backends
    def check_keys(self, option: Option, btype: str, params: Iterable[tuple[str, str]]) -> bool:
        allowed = _VALID_KEYS.get(btype)
        for key, _ in params:
            if key in ("name", "vlan") or (
                allowed is not None and key not in allowed and key not in _COMMON_KEYS
            ):
                self.error(option, f"Invalid parameter '{key}'")
                return False
        return True

    def create_backend(
        self,
        option: Option,
        btype: str,
        name: str,
        params: list[tuple[str, str]],
        peer: _Client | None,
        *,
        auto: bool = False,
    ) -> _Client | None:
        """net_client_init1 for one backend; ``peer`` is the hub port of a legacy -net."""
        p = dict(params)
        if btype == "hubport":
            return self.create_hubport(option, name, p)
        if btype == "socket":
            modes = [k for k in ("fd", "listen", "connect", "mcast", "udp") if k in p]
            if len(modes) != 1:
                self.error(
                    option, "exactly one of listen=, connect=, mcast= or udp= is required"
                )
                return None
            if "localaddr" in p and modes[0] not in ("mcast", "udp"):
                self.error(option, "localaddr= is only valid with mcast= or udp=")
                return None
            if modes[0] == "udp" and "localaddr" not in p:
                self.error(option, "localaddr= is mandatory with udp=")
                return None
        elif btype == "stream":
            if not any(k == "addr" or k.startswith("addr.") for k in p):
                self.error(option, "Parameter 'addr' is missing")
                return None
        elif btype == "dgram":
            has_local = any(k.startswith("local") for k in p)
            has_remote = any(k.startswith("remote") for k in p)
            if not has_local:
                self.error(option, "dgram requires local= parameter")
                return None
            if not has_remote and p.get("local.type", "") in ("inet", "unix"):
                self.error(option, "type=inet or type=unix requires remote parameter")
                return None
        elif btype == "tap":
            if _on(p.get("vhost")) and self.path_exists and not self.path_exists("/dev/vhost-net"):
                if self.version >= (6, 0):
                    self.error(option, f"tap: open vhost char device failed: {_ENOENT}")
                    return None
                self.notes.append(f"{option.text}: no /dev/vhost-net; QEMU goes on without vhost")
        elif btype == "bridge":
            if self.path_exists and not self.path_exists("/etc/qemu/bridge.conf"):
                self.notes.append(f"{option.text}: /etc/qemu/bridge.conf is missing")
                self.error(option, "bridge helper failed")
                return None
            self.notes.append(f"{option.text}: the bridge helper's ACL decides if this starts")
        elif btype == "vde":
            sock = p.get("sock")
            if self.path_exists and (sock is None or not self.path_exists(sock)):
                self.error(option, f"Could not open vde: {_ENOENT}")
                return None
        elif btype == "vhost-user":
            self.notes.append(
                f"{option.text}: QEMU waits for the vhost-user peer before it starts"
            )
        client = _Client(name, btype, "backend", option, params=params, auto_name=auto)
        if peer is not None:
            client.peer, peer.peer = peer, client
            client.hub = peer.hub
        self.clients.append(client)
        return client

    def create_hubport(self, option: Option, name: str, p: Mapping[str, str]) -> _Client | None:
        if "hubid" not in p:
            self.error(option, "Parameter 'hubid' is missing")
            return None
        try:
            hub_id = int(p["hubid"], 0)
        except ValueError:
            self.error(option, "Parameter 'hubid' expects int32")
            return None
        bound: _Client | None = None
        if "netdev" in p:
            bound = self.find(p["netdev"])
            if bound is None:
                self.error(option, f"netdev '{p['netdev']}' not found")
                return None
            if bound.peer is not None:
                self.error(option, f"netdev '{p['netdev']}' is already in use")
                return None
        port = self.add_port(hub_id, name, option)
        if bound is not None:
            port.peer, bound.peer = bound, port
            bound.hub = hub_id
        return port

    def netdev(self, option: Option, params: list[tuple[str, str]]) -> None:
        p = dict(params)
        btype = p.get("type")
        nid = p.get("id")
        if btype is None:
            self.error(option, "Parameter 'type' is missing")
            return
        if not self.check_type(option, btype, netdev=True):
            return
        if nid is None:
            self.error(option, "Parameter 'id' is missing")
            return
        if not self.check_keys(option, btype, params):
            return
        if self.find(nid) is not None:
            self.error(option, f"Duplicate ID '{nid}'")
            return
        self.create_backend(option, btype, nid, _strip(params, "type", "id"), None)

    def check_type(self, option: Option, btype: str, *, netdev: bool) -> bool:
        since = _TYPES_SINCE.get(btype)
        if btype in ("nic", "none") and netdev:
            self.error(option, f"network backend '{btype}' is not compiled into this binary")
            return False
        if btype not in NETDEV_TYPES and btype not in ("nic", "none"):
            self.error(option, f"Parameter 'type' does not accept value '{btype}'")
            return False
        if since is not None and self.version < since:
            self.error(option, f"Invalid parameter '{btype}'")
            return False
        return True

    # ----------------------------------------------------------- -nic / -net
    def take_nd_slot(self, option: Option, message: str) -> bool:
        if len(self.nd_table) >= MAX_NICS:
            self.error(option, message)
            return False
        return True

    def nic_option(self, option: Option, params: list[tuple[str, str]]) -> None:
        """net_param_nic: a backend (auto named unless id=) plus an nd_table NIC entry."""
        p = dict(params)
        btype = p.get("type", "user")
        if btype == "none":
            return
        if not self.check_type(option, btype, netdev=False):
            return
        if not self.take_nd_slot(option, "no more on-board/default NIC slots available"):
            return
        mac_text = p.get("mac")
        if not self.check_legacy_mac(option, mac_text):
            return
        mac = self.assign_mac(mac_text)
        nid = p.get("id")
        if nid is not None and self.find(nid) is not None:
            self.error(option, f"Duplicate ID '{nid}'")
            return
        index = len(self.nd_table)
        name = nid or self.auto_name("nic", index)
        backend_params = _strip(params, "type", "id", "mac", "model")
        if not self.check_keys(option, btype, backend_params):
            return
        backend = self.create_backend(
            option, btype, name, backend_params, None, auto=nid is None
        )
        if backend is None:
            return
        self.nd_table.append(_LegacyNic(option, p.get("model"), mac, mac_text is not None, backend))

    def net_option(self, option: Option, params: list[tuple[str, str]]) -> None:
        """net_client_init1 with is_netdev=false: a hub 0 port, then the client on it."""
        p = dict(params)
        btype = p.get("type")
        index = self.legacy_index
        self.legacy_index += 1
        if btype is None:
            self.error(option, "Parameter 'type' is missing")
            return
        if btype == "none":
            return
        if btype == "hubport":
            self.error(option, "network backend 'hubport' is only supported with -netdev/-nic")
            return
        if not self.check_type(option, btype, netdev=False):
            return
        if not self.check_keys(option, btype, params):
            return
        nid = p.get("id")
        if btype == "nic":
            self.legacy_nic(option, p)
            return
        if nid is not None and self.find(nid) is not None:
            self.error(option, f"Duplicate ID '{nid}'")
            return
        port = self.add_port(0, None, option)
        name = nid or self.auto_name("net", index)
        self.create_backend(
            option, btype, name, _strip(params, "type", "id"), port, auto=nid is None
        )

    def legacy_nic(self, option: Option, p: Mapping[str, str]) -> None:
        if "id" not in p and self.version >= (6, 0):
            self.auto_counter += 1  # QEMU generates an id for every -net option
        peer = None if "netdev" in p else self.add_port(0, None, option)
        if not self.take_nd_slot(option, "too many NICs"):
            return
        if "netdev" in p:
            peer = self.find(p["netdev"])
            if peer is None:
                self.error(option, f"netdev '{p['netdev']}' not found")
                return
        mac_text = p.get("macaddr")
        if not self.check_legacy_mac(option, mac_text):
            return
        mac = self.assign_mac(mac_text)
        self.nd_table.append(
            _LegacyNic(option, p.get("model"), mac, mac_text is not None, peer,
                       _strip(p.items(), "type", "id"))
        )

    def check_legacy_mac(self, option: Option, mac_text: str | None) -> bool:
        if mac_text is None:
            return True
        if not _valid_mac(mac_text):
            self.error(option, "invalid syntax for ethernet address")
            return False
        if int(_norm_mac(mac_text)[:2], 16) & 1:
            self.error(option, "NIC cannot have multicast MAC address (odd 1st byte)")
            return False
        return True

    # ----------------------------------------------------------- NICs
    def realize_legacy_nics(self, default_model: str) -> None:
        for nd in self.nd_table:
            model = nd.model or default_model
            model = LEGACY_MODEL_ALIASES.get(model, model)
            if model in ("help", "?"):
                self.notes.append(f"{nd.option.text}: model=help lists the models and exits")
                continue
            if model not in LEGACY_NIC_MODELS or not self.device_exists(model):
                self.error(None, f"Unsupported NIC model: {model}")
                continue
            nic = _Client(self.nic_name(model), "nic", "nic", nd.option, model=model, mac=nd.mac,
                          mac_explicit=nd.mac_explicit, params=nd.params)
            self.attach_nic(nic, nd.peer, auto_name=True)

    def device_exists(self, driver: str) -> bool:
        since = _SINCE_DEVICE.get(driver)
        return since is None or self.version >= since

    def device(self, option: Option, params: list[tuple[str, str]]) -> None:
        p = dict(params)
        driver = p.get("driver", "")
        driver = DEVICE_ALIASES.get(driver, driver)
        if driver not in NIC_DRIVERS and "netdev" not in p:
            return  # not a NIC: other devices do not touch the network
        if not self.device_exists(driver):
            self.error(option, f"'{driver}' is not a valid device model name")
            return
        if driver not in NIC_DRIVERS:
            self.notes.append(f"{option.text}: '{driver}' is taken to be a NIC (it has netdev=)")
        dev_id = p.get("id")
        if dev_id is not None and not _ID_RE.match(dev_id):
            self.error(option, _ID_MSG)
            return
        peer: _Client | None = None
        if "netdev" in p:
            peer = self.find(p["netdev"])
            if peer is None:
                self.error(option, f"Property '{driver}.netdev' can't find value '{p['netdev']}'")
                return
            if peer.peer is not None:
                self.error(
                    option,
                    f"Property '{driver}.netdev' can't take value '{p['netdev']}', it's in use",
                )
                return
        mac_text = p.get("mac")
        if mac_text is not None and not _valid_mac(mac_text):
            self.error(option, f"Property '{driver}.mac' doesn't take value '{mac_text}'")
            return
        mac = self.assign_mac(mac_text)
        nic = _Client(dev_id or self.nic_name(driver), "nic", "nic", option, model=driver, mac=mac,
                      mac_explicit=mac_text is not None)
        self.attach_nic(nic, peer, auto_name=dev_id is None)

    def attach_nic(self, nic: _Client, peer: _Client | None, *, auto_name: bool) -> None:
        """Wire the NIC; it gets one queue per queue of its peer (a multiqueue tap), each
        auto-named queue taking the next ``<model>.<n>``."""
        if peer is not None:
            nic.peer, peer.peer = peer, nic
            nic.hub = peer.hub if peer.kind == "hubport" else None
            queues = _queues(peer)
            if auto_name and nic.model is not None:
                base = int(nic.name.rsplit(".", 1)[1])
                nic.queue_names = [f"{nic.model}.{base + q}" for q in range(1, queues)]
            else:
                nic.queue_names = [nic.name] * (queues - 1)
        self.clients.append(nic)

    # ----------------------------------------------------------- filters
    def filter_object(self, option: Option, params: list[tuple[str, str]]) -> None:
        p = dict(params)
        qom_type = p.get("qom-type", "")
        if not qom_type.startswith("filter-"):
            return
        target = self.find(p.get("netdev", ""))
        if target is None:
            self.error(None, "Parameter 'netdev' expects a network backend id")
            return
        given = {k: v for k, v in params if k not in ("qom-type", "id")}
        # QOM prints the class's own properties first, then the netfilter ones (7.2+ order)
        props: dict[str, str] = {}
        for key, default in (*_FILTER_PROPS.get(qom_type, ()), *_NETFILTER_PROPS):
            value = given.pop(key, default)
            if value is not None:
                props[key] = _bool_text(value) if key == "vnet_hdr_support" else value
        props.update(given)
        raw = ",".join([f"type={qom_type}", *(f"{k}={v}" for k, v in props.items())])
        target.filters.append(
            Filter(id=p.get("id", ""), type=qom_type, props=MappingProxyType(props), raw=raw)
        )


# --------------------------------------------------------------------------- entry point
def predict(
    argv: Sequence[str],
    *,
    qemu_version: Version = DEFAULT_VERSION,
    path_exists: Callable[[str], bool] | None = None,
) -> ArgvTopology:
    """Replay the network options of ``argv`` as QEMU ``qemu_version`` would; never raises.

    ``argv`` may start with the QEMU binary or with the first option. ``path_exists`` (for
    example ``os.path.exists``) lets host checks run: ``/dev/vhost-net`` for ``vhost=on``, the
    bridge helper's ACL, a vde socket; without it those are not judged.
    """
    binary, options, errors = split_argv(argv)
    sim = _Sim(qemu_version, path_exists)
    sim.errors.extend(errors)

    parsed: list[tuple[Option, list[tuple[str, str]]]] = []
    vm_name: str | None = None
    machine = "pc"
    nodefaults = False
    explicit_net = False
    implied = {"net": "type", "netdev": "type", "nic": "type", "device": "driver",
               "object": "qom-type", "name": "guest", "M": "type", "machine": "type"}
    for opt in options:
        if opt.name == "nodefaults":
            nodefaults = True
        if opt.name not in implied:
            continue
        if opt.name in ("netdev", "device", "object") and opt.value.lstrip().startswith("{"):
            params = _json_keyvals(opt.value, opt, sim.errors)
        else:
            params = parse_keyvals(opt.value, implied[opt.name])
        if opt.name in ("net", "netdev", "nic"):
            explicit_net = True
            ident = dict(params).get("id")
            if ident is not None and not _ID_RE.match(ident):
                sim.error(opt, _ID_MSG)
                continue
        if opt.name == "name":
            vm_name = dict(params).get("guest") or vm_name
        elif opt.name in ("M", "machine"):
            machine = dict(params).get("type", machine)
        parsed.append((opt, params))

    # Duplicate -netdev ids are refused while the command line is read, before anything runs.
    seen_ids: set[str] = set()
    netdevs: list[tuple[Option, list[tuple[str, str]]]] = []
    for opt, params in parsed:
        if opt.name != "netdev":
            continue
        ident = dict(params).get("id")
        if ident is not None and ident in seen_ids:
            sim.error(opt, f"Duplicate ID '{ident}' for netdev")
            continue
        if ident is not None:
            seen_ids.add(ident)
        netdevs.append((opt, params))

    modern = qemu_version >= (7, 2)
    for opt, params in netdevs:
        if modern and dict(params).get("type") in _MODERN_TYPES:
            sim.netdev(opt, params)
    for opt, params in netdevs:
        if not (modern and dict(params).get("type") in _MODERN_TYPES):
            sim.netdev(opt, params)
    for opt, params in parsed:
        if opt.name == "nic":
            sim.nic_option(opt, params)
    default_net = not explicit_net and not nodefaults
    legacy = [(o, p) for o, p in parsed if o.name == "net"]
    if default_net:
        legacy = [(Option("net", "nic", -1, -1), [("type", "nic")]),
                  (Option("net", "user", -1, -1), [("type", "user")])]
        sim.notes.append("no network option and no -nodefaults: QEMU adds -net nic -net user")
    for opt, params in legacy:
        sim.net_option(opt, params)
    sim.realize_legacy_nics(default_nic_model(machine))
    for opt, params in parsed:
        if opt.name == "device":
            sim.device(opt, params)
    for opt, params in parsed:
        if opt.name == "object":
            sim.filter_object(opt, params)
    if machine not in ("pc", "q35") and not re.match(r"^pc-(i440fx|q35)-", machine):
        sim.notes.append(f"machine {machine!r}: the default NIC model is taken to be e1000")

    return ArgvTopology(
        topology=_to_topology(sim, qemu_version),
        errors=tuple(sim.errors),
        notes=tuple(sim.notes),
        clients=tuple(_freeze(c, sim.clients) for c in sim.clients),
        options=tuple(options),
        argv=tuple(argv),
        binary=binary,
        vm_name=vm_name,
        machine=machine,
        qemu_version=qemu_version,
        default_net=default_net,
    )


def default_nic_model(machine: str) -> str:
    """The model of ``-net nic``/``-nic`` without ``model=`` on this x86 machine type."""
    if machine == "q35" or machine.startswith("pc-q35-"):
        return "e1000e"
    return "e1000"


# --------------------------------------------------------------------------- output
def _to_topology(sim: _Sim, version: Version) -> Topology:
    cache: dict[int, NetClient] = {}

    def model_of(c: _Client, with_peer: bool) -> NetClient:
        key = id(c) * 2 + int(with_peer)
        if key not in cache:
            info, raw = _info(c, version)
            peer = model_of(c.peer, False) if with_peer and c.peer is not None else None
            cache[key] = NetClient(
                name=c.name, type=c.type, info=MappingProxyType(info), info_raw=raw,
                filters=tuple(c.filters), peer=peer,
            )
        return cache[key]

    hubs = tuple(
        Hub(
            id=hub_id,
            ports=tuple(
                HubPort(name=p.name, peer=model_of(p.peer, False) if p.peer else None)
                for p in ports
            ),
        )
        for hub_id, ports in sim.hubs.items()
    )
    top: list[NetClient] = []
    for c in sim.clients:
        if c.kind == "hubport" or (c.peer is not None and c.peer.kind == "hubport"):
            continue
        if c.kind == "nic":
            top.append(model_of(c, True))
            if c.peer is not None:
                top.extend(_extra_queues(c, c.peer))
        elif c.peer is None:
            top.append(model_of(c, False))
    dialect = "hub" if hubs or top else "empty"
    return Topology(hubs=hubs, clients=tuple(top), dialect=dialect)


def _queues(backend: _Client) -> int:
    return max(1, _int(dict(backend.params).get("queues", "1"))) if backend.type == "tap" else 1


def _extra_queues(nic: _Client, backend: _Client) -> list[NetClient]:
    """Queues 1.. of a multiqueue tap and of its NIC (the NIC gets as many queues as its peer).

    QEMU sets the NIC info string on queue 0 only, and tap queues >= 1 print no scripts.
    """
    out: list[NetClient] = []
    ifname = dict(backend.params).get("ifname", "tap0")
    for q, name in enumerate(nic.queue_names, start=1):
        raw = f"ifname={ifname},script=no,downscript=no"
        info = {"ifname": ifname, "script": "no", "downscript": "no"}
        peer = NetClient(backend.name, backend.type, index=q, info=MappingProxyType(info),
                         info_raw=raw)
        out.append(NetClient(name, "nic", index=q, peer=peer))
    return out


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        return 1


def _info(c: _Client, version: Version) -> tuple[dict[str, str], str]:
    """The info string QEMU would print for ``c`` (best effort for backends, see module doc)."""
    p = dict(c.params)
    if c.kind == "nic":
        info = {"model": c.model or "", "macaddr": c.mac or ""}
        return info, f"model={info['model']},macaddr={info['macaddr']}"
    if c.type == "user":
        net = p.get("net", "10.0.2.0").split("/")[0]
        info = {"net": net, "restrict": "on" if _on(p.get("restrict")) else "off"}
        return info, f"net={info['net']},restrict={info['restrict']}"
    if c.type == "tap":
        if "fd" in p:
            return {"fd": p["fd"]}, f"fd={p['fd']}"
        info = {
            "ifname": p.get("ifname", "tap0"),
            "script": p.get("script", "/etc/qemu-ifup"),
            "downscript": p.get("downscript", "/etc/qemu-ifdown"),
        }
        return info, ",".join(f"{k}={v}" for k, v in info.items())
    if c.type == "socket":
        for key in ("udp", "mcast"):
            if key in p:
                return {}, f"socket: {key}={p[key]}"
        if "connect" in p:
            return {}, f"socket: connect to {p['connect']}"
        if "fd" in p:
            return {}, f"socket: fd={p['fd']}"
        return {}, ""
    if c.type == "stream":
        if _on(p.get("server")):
            return {}, "listening" if version >= (9, 0) else ""
        if p.get("addr.type") == "inet":
            return {}, f"tcp:{p.get('addr.host', '')}:{p.get('addr.port', '')}"
        if p.get("addr.type") == "unix":
            return {}, f"unix:{p.get('addr.path', '')}"
        return {}, ""
    if c.type == "dgram":
        if p.get("local.type") == "unix":
            raw = f"udp={p.get('local.path', '')}:{p.get('remote.path', '')}"
        else:
            local = f"{p.get('local.host', '')}:{p.get('local.port', '')}"
            raw = f"udp={local}/{p.get('remote.host', '')}:{p.get('remote.port', '')}"
        return {"udp": raw[4:]}, raw
    if c.type == "l2tpv3":
        return {}, "l2tpv3: connected"
    return {}, ""


def _freeze(c: _Client, order: list[_Client]) -> PlannedClient:
    index = next(i for i, x in enumerate(order) if x is c)
    peer_index = (
        next(i for i, x in enumerate(order) if x is c.peer) if c.peer is not None else None
    )
    return PlannedClient(
        name=c.name, type=c.type, kind=c.kind, option=c.option,
        peer=c.peer.name if c.peer is not None else None, hub=c.hub, model=c.model, mac=c.mac,
        mac_explicit=c.mac_explicit, params=tuple(c.params), auto_name=c.auto_name,
        index=index, peer_index=peer_index,
    )


def _strip(params: Iterable[tuple[str, str]], *keys: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in params if k not in keys]


def _on(value: str | None) -> bool:
    return value is not None and value.lower() in ("on", "yes", "true", "y")


def _bool_text(value: str) -> str:
    return "true" if _on(value) else "false"


def _valid_mac(text: str) -> bool:
    return bool(_MAC_RE.match(text))


def _norm_mac(text: str) -> str:
    return ":".join(f"{int(part, 16):02x}" for part in re.split(r"[:-]", text))


_HOSTFWD_RE = re.compile(
    r"^(?P<proto>tcp|udp)?:(?P<src>[^:]*):(?P<sport>\d+)-(?P<dst>[^:]*):(?P<dport>\d+)$"
)


def usernet_forwards(result: ArgvTopology) -> tuple[UsernetForward, ...]:
    """The host forwards (``hostfwd=``) of every user backend, as ``info usernet`` lists them.

    An empty host address is every address (``*``); an empty guest address is the first DHCP
    address (``x.x.x.15`` of the backend's ``net=``). Malformed forwards are skipped.
    """
    out: list[UsernetForward] = []
    for c in result.clients:
        if c.type != "user":
            continue
        params = dict(c.params)
        net = params.get("net", "10.0.2.0").split("/")[0].rsplit(".", 1)[0]
        dhcp = params.get("dhcpstart", f"{net}.15")
        for key, value in c.params:
            m = _HOSTFWD_RE.match(value) if key == "hostfwd" else None
            if m is None:
                continue
            out.append(
                UsernetForward(
                    netdev=c.name,
                    hub=c.hub if c.hub is not None else -1,
                    protocol=(m["proto"] or "tcp").upper(),
                    state="HOST_FORWARD",
                    src_addr=m["src"] or "*",
                    src_port=int(m["sport"]),
                    dst_addr=m["dst"] or dhcp,
                    dst_port=int(m["dport"]),
                )
            )
    return tuple(out)


def listen_addresses(argv: Sequence[str]) -> dict[str, str]:
    """netdev id -> ``HOST:PORT`` for every ``-netdev socket,listen=`` and ``-netdev stream``
    server on inet that names its host (QEMU never prints a listen address in ``info network``).
    """
    _, options, _ = split_argv(argv)
    found: dict[str, str] = {}
    for opt in options:
        if opt.name != "netdev":
            continue
        params = dict(parse_keyvals(opt.value, implied="type"))
        netdev_id = params.get("id")
        if not netdev_id:
            continue
        if params.get("type") == "socket" and params.get("listen"):
            host, _, port = params["listen"].rpartition(":")
            if host and port:
                found[netdev_id] = f"{host}:{port}"
        elif params.get("type") == "stream" and _on(params.get("server")):
            addr_host, addr_port = params.get("addr.host"), params.get("addr.port")
            if params.get("addr.type", "inet") == "inet" and addr_host and addr_port:
                found[netdev_id] = f"{addr_host}:{addr_port}"
    return found
