"""Parser of HMP ``info network`` for every format QEMU printed.

Formats (see the QEMU network reference §1.4 and fixtures/captures/README.md):

- ``hub`` (1.2+, port names printed)::

      hub 0
       \\ hub0port1: #net106: index=0,type=user,net=10.0.2.0,restrict=off
       \\ hub0port0: e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56
      nic0: index=0,type=nic,model=virtio-net-pci,macaddr=52:54:00:12:34:57
       \\ net0: index=0,type=user,net=10.0.2.0,restrict=off
      filters:
        - fb: type=filter-buffer,interval=1000,...

- ``hub-unnamed`` (1.2 to ~2.x): port lines carry the peer's line only (`` \\ e1000.0: ...``),
  and before multiqueue (1.5) a client line has no ``index=``.
- ``vlan`` (before 1.2): ``VLAN 0 devices:`` / ``  name: info`` and ``Devices not on any VLAN:``
  / ``  name: info peer=other``. There is no ``type=``: it is guessed from the info string or the
  auto name (``user.0``), ``unknown`` otherwise (which counts as external: fail-safe).

QEMU prints hubs and hub ports newest first; the model stores them in creation order, so they are
reversed here (VLANs were printed in creation order and are kept as printed).

Every non-blank line ends up in the model or in ``Topology.unparsed`` with a reason: the parser
never raises on any text. It is pure (no I/O) and uses precompiled regexes only.

``NetClient.info`` holds ``key=value`` fields where the backend prints them as such, plus a few
fixed phrases turned into fields (documented in ``parse_client_info``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from qnetinspect.models import Filter, Hub, HubPort, NetClient, Topology, UnparsedLine
from qnetinspect.parse.consistency import check_listing
from qnetinspect.parse.untrusted import valid_text

__all__ = [
    "line_kind",
    "parse_client_info",
    "parse_client_line",
    "parse_filter_props",
    "parse_info_network",
]

# <name>: [index=<q>,]type=<type>,<info>   (names never contain ':'; info may contain anything;
# QEMU always prints the comma after the type, so a line cut inside the type is not a client)
_CLIENT = re.compile(
    r"(?P<name>[^:\s][^:]*): (?:index=(?P<index>\d+),)?type=(?P<type>[^,]*),(?P<info>.*)\Z"
)
# <port>: <client line>
_PORT_WITH_PEER = re.compile(r"(?P<port>[^:\s][^:]*): (?P<client>.*)\Z")
_PORT_ALONE = re.compile(r"[^:\s][^:]*\Z")
_HUB = re.compile(r"hub (-?\d+)\Z")
_VLAN = re.compile(r"VLAN (-?\d+) devices:\Z")
_NO_VLAN = "Devices not on any VLAN:"
_FILTER = re.compile(r"  - (?P<id>[^:\s][^:]*): (?P<raw>type=(?P<type>[^,]*)(?:,(?P<props>.*))?)\Z")
# old VLAN-era entry: two spaces, name, colon, info, optional " peer=<name>"
_VLAN_ENTRY = re.compile(r"  (?P<name>[^:\s-][^:]*): (?P<info>.*?)(?: peer=(?P<peer>[^\s:]+))?\Z")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
_KV_SIMPLE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*=[^,=]*(?:,[A-Za-z_][A-Za-z0-9_.-]*=[^,=]*)*\Z")
_SOCKET_PHRASE = re.compile(r"(?P<verb>connect to|connection from) (?P<addr>\S+)\Z")
_SOCKET_FD_MCAST = re.compile(r"fd=(?P<fd>-?\d+) \((?P<cloned>cloned)? ?mcast=(?P<mcast>[^)]*)\)\Z")
_STREAM_ADDR = re.compile(r"(?P<kind>tcp|unix|vsock|fd):(?P<addr>.*)\Z")
_PER_QUEUE_TO = re.compile(r"(?P<kind>vhost-user|af-xdp)(?P<queue>\d+) to (?P<what>.+)\Z")
_AUTO_NAME = re.compile(r"(?P<model>[A-Za-z][A-Za-z0-9_-]*)\.\d+\Z")

_PREFIXED_KINDS = frozenset({"socket", "netmap", "l2tpv3", "tap"})
_OLD_BACKEND_NAMES = frozenset(
    {"user", "tap", "socket", "vde", "bridge", "dump", "l2tpv3", "netmap"}
)

BACKSLASH_PREFIX = " \\ "


def parse_kv(text: str) -> dict[str, str]:
    """Split ``a=1,b=x,y`` into fields; a piece without ``key=`` continues the previous value.

    QEMU prints paths verbatim, so ``script=/a,b`` must stay one value. Returns ``{}`` when the
    text does not start with ``key=`` (it is not a key=value string at all).
    """
    if _KV_SIMPLE.match(text):
        # fast path (nearly every real info string): distinct plain key=value pieces
        pairs = [piece.split("=", 1) for piece in text.split(",")]
        if len(pairs) == len({k for k, _ in pairs}):
            return dict(pairs)
    # pieces are collected and joined once: adding to a growing string value is quadratic on a
    # long line of repeated keys
    parts: dict[str, list[str]] = {}
    last: list[str] | None = None
    for piece in text.split(","):
        key, eq, value = piece.partition("=")
        if eq and _KEY.match(key) and key not in parts:
            last = parts[key] = [value]
        elif last is not None:
            last.append(piece)
        else:
            return {}
    return {key: ",".join(pieces) for key, pieces in parts.items()}


@functools.lru_cache(maxsize=4096)  # results are read-only; info strings repeat a lot
def parse_client_info(type_: str, raw: str) -> Mapping[str, str]:
    """The fields of one client's info string (``raw`` is the text after ``type=<t>,``).

    - nic, user, tap (also bridge, printed as tap), vde, dgram, unknown kinds: ``key=value``
      fields as printed (``udp`` of dgram keeps ``local/remote`` or ``lpath:rpath`` as one value);
    - socket: the ``socket: `` prefix is dropped; ``udp=``/``mcast=``/``fd=`` as fields,
      ``connect to A:P`` -> ``{"connect": "A:P"}``, ``connection from A:P`` ->
      ``{"connection_from": "A:P"}``, ``fd=N (cloned mcast=G:P)`` -> ``{"fd", "mcast"}``;
      listening (empty) -> ``{}``;
    - stream: ``tcp:A:P`` -> ``{"tcp": "A:P"}`` (likewise ``unix:``, ``vsock:``, ``fd:``),
      ``listening``/``initializing``/``connecting``/``connected`` -> ``{"state": ...}``,
      ``connection from A:P`` -> ``{"connection_from": "A:P"}``; empty (7.2 listening) -> ``{}``;
    - netmap/l2tpv3/tap on Windows (``<kind>: ...``): the prefix is dropped, then as above
      (``l2tpv3: connected`` -> ``{"state": "connected"}``);
    - vhost-user / af-xdp (``vhost-user0 to chr0``) -> ``{"chardev": "chr0"}`` /
      ``{"ifname": "eth0"}``.
    """
    if not raw:
        return _EMPTY_INFO
    text = raw
    prefix, sep, after = raw.partition(": ")
    if sep and prefix in _PREFIXED_KINDS:
        text = after
    if type_ in ("socket", "stream") or prefix in _PREFIXED_KINDS:
        m = _SOCKET_PHRASE.match(text)
        if m:
            key = "connect" if m["verb"] == "connect to" else "connection_from"
            return _freeze({key: m["addr"]})
        m = _SOCKET_FD_MCAST.match(text)
        if m:
            return _freeze({"fd": m["fd"], "mcast": m["mcast"]})
        m = _STREAM_ADDR.match(text) if type_ == "stream" else None
        if m:
            return _freeze({m["kind"]: m["addr"]})
        if text.isalpha():
            return _freeze({"state": text})
    m = _PER_QUEUE_TO.match(text)
    if m:
        return _freeze({"chardev" if m["kind"] == "vhost-user" else "ifname": m["what"]})
    if " " in text.partition("=")[0]:
        return _EMPTY_INFO
    return _freeze(parse_kv(text))


def parse_filter_props(text: str) -> Mapping[str, str]:
    """``a=1,b=,c=x`` of a filter line (after ``type=<t>,``); empty values are kept."""
    return _freeze(parse_kv(text)) if text else _EMPTY_INFO


def parse_client_line(text: str, line: int = 0) -> NetClient | None:
    """``<name>: [index=<q>,]type=<type>,<info>`` -> NetClient, or None if it is not one."""
    m = _CLIENT.match(text)
    if m is None:
        return None
    raw = m["info"] or ""
    type_ = m["type"]
    return NetClient(
        name=m["name"],
        type=type_,
        index=int(m["index"] or 0),
        info=parse_client_info(type_, raw),
        info_raw=raw,
        line=line,
    )


_EMPTY_INFO: Mapping[str, str] = MappingProxyType({})


def _freeze(d: dict[str, str]) -> Mapping[str, str]:
    return MappingProxyType(d) if d else _EMPTY_INFO


# --- mutable builders, frozen at the end -------------------------------------------------------


@dataclass(slots=True)
class _Client:
    proto: NetClient
    filters: list[Filter] = field(default_factory=list)
    has_filter_block: bool = False
    peer: _Client | None = None
    vlan_peer: str | None = None  # " peer=<name>" of the VLAN era

    def freeze(self) -> NetClient:
        p = self.proto
        if not self.filters and self.peer is None:
            return p  # already complete: skip building it twice
        return NetClient(
            name=p.name,
            type=p.type,
            index=p.index,
            info=p.info,
            info_raw=p.info_raw,
            filters=tuple(self.filters),
            peer=self.peer.freeze() if self.peer is not None else None,
            line=p.line,
        )


@dataclass(slots=True)
class _Port:
    name: str | None
    peer: _Client | None
    line: int


@dataclass(slots=True)
class _Hub:
    id: int
    line: int
    vlan: bool
    ports: list[_Port] = field(default_factory=list)


class _Parser:
    def __init__(self) -> None:
        self.hubs: list[_Hub] = []
        self.clients: list[_Client] = []
        self.unparsed: list[UnparsedLine] = []
        self.hub: _Hub | None = None  # the open hub/VLAN section
        self.in_no_vlan = False  # inside "Devices not on any VLAN:"
        self.top: _Client | None = None  # last column-0 client (owner of a following " \ " line)
        self.last: _Client | None = None  # last client line of any kind (owner of "filters:")
        self.filter_owner: _Client | None = None  # open "filters:" block
        self.unnamed_ports = False
        self.vlan = False

    def bad(self, no: int, text: str, reason: str) -> None:
        self.unparsed.append(UnparsedLine(no, text, reason))

    def feed(self, no: int, text: str) -> None:
        if text.startswith(BACKSLASH_PREFIX):
            self.filter_owner = None
            self.backslash(no, text, text[len(BACKSLASH_PREFIX) :])
        elif text.startswith("  - "):
            self.filter_line(no, text)
        elif text == "filters:":
            self.filters_header(no, text)
        elif text.startswith("  "):
            self.filter_owner = None
            self.vlan_entry(no, text)
        elif text[:1].isspace():
            self.bad(no, text, "unexpected indentation")
        else:
            self.filter_owner = None
            self.column0(no, text)

    def column0(self, no: int, text: str) -> None:
        m = _HUB.match(text)
        if m:
            self.hub = _Hub(int(m[1]), no, vlan=False)
            self.hubs.append(self.hub)
            self.in_no_vlan = False
            self.top = self.last = None
            return
        m = _VLAN.match(text)
        if m:
            self.vlan = True
            self.hub = _Hub(int(m[1]), no, vlan=True)
            self.hubs.append(self.hub)
            self.in_no_vlan = False
            self.top = self.last = None
            return
        if text == _NO_VLAN:
            self.vlan = True
            self.hub = None
            self.in_no_vlan = True
            self.top = self.last = None
            return
        client = parse_client_line(text, no)
        if client is None:
            self.bad(no, text, "not a hub header, client line, peer line or filter line")
            return
        self.hub = None  # a column-0 client line ends the hub section
        self.in_no_vlan = False
        self.top = self.last = _Client(client)
        self.clients.append(self.top)

    def backslash(self, no: int, text: str, rest: str) -> None:
        if self.hub is not None and not self.hub.vlan:
            self.port(no, text, rest)
            return
        owner = self.top
        if owner is None:
            self.bad(no, text, "peer line without a client line above it")
            return
        if owner.peer is not None:
            self.bad(no, text, f"second peer line for {owner.proto.name!r}")
            return
        client = parse_client_line(rest, no)
        if client is None:
            self.bad(no, text, "peer line is not '<name>: index=<q>,type=<type>,<info>'")
            return
        owner.peer = self.last = _Client(client)

    def port(self, no: int, text: str, rest: str) -> None:
        assert self.hub is not None
        # old format: the peer's client line directly (no port name); a cheap look after the
        # first colon spares the full match on every named port
        after = rest[rest.find(":") :]
        old = after.startswith((": index=", ": type="))
        client = parse_client_line(rest, no) if old else None
        if client is not None:
            self.unnamed_ports = True
            peer = self.last = _Client(client)
            self.hub.ports.append(_Port(None, peer, no))
            return
        m = _PORT_WITH_PEER.match(rest)
        if m:
            client = parse_client_line(m["client"], no)
            if client is None:
                self.bad(no, text, "hub port peer is not '<name>: index=<q>,type=<type>,<info>'")
                return
            peer = self.last = _Client(client)
            self.hub.ports.append(_Port(m["port"], peer, no))
            return
        if _PORT_ALONE.match(rest):
            self.last = None
            self.hub.ports.append(_Port(rest, None, no))
            return
        self.bad(no, text, "hub port line is not ' \\ <port>[: <client line>]'")

    def filters_header(self, no: int, text: str) -> None:
        owner = self.last
        if owner is None:
            self.bad(no, text, "'filters:' without a client line above it")
        elif owner.has_filter_block:
            self.bad(no, text, f"second 'filters:' block for {owner.proto.name!r}")
        else:
            owner.has_filter_block = True
            self.filter_owner = owner

    def filter_line(self, no: int, text: str) -> None:
        owner = self.filter_owner
        if owner is None:
            self.bad(no, text, "filter line outside a 'filters:' block")
            return
        m = _FILTER.match(text)
        if m is None:
            self.bad(no, text, "filter line is not '  - <id>: type=<type>,<prop>=<value>...'")
            return
        owner.filters.append(
            Filter(
                id=m["id"],
                type=m["type"],
                props=parse_filter_props(m["props"] or ""),
                raw=m["raw"],
            )
        )

    def vlan_entry(self, no: int, text: str) -> None:
        if not (self.in_no_vlan or (self.hub is not None and self.hub.vlan)):
            self.bad(no, text, "indented line outside a VLAN section")
            return
        m = _VLAN_ENTRY.match(text)
        if m is None:
            self.bad(no, text, "VLAN entry is not '  <name>: <info>'")
            return
        client = parse_client_line(f"{m['name']}: {m['info']}", no)
        if client is None:
            info = m["info"]
            type_ = _guess_type(m["name"], info)
            client = NetClient(
                name=m["name"],
                type=type_,
                info=parse_client_info(type_, info),
                info_raw=info,
                line=no,
            )
        entry = _Client(client)
        if self.hub is not None:
            if m["peer"] is not None:
                self.bad(no, text, "'peer=' inside a VLAN section")
                return
            self.hub.ports.append(_Port(None, entry, no))
        else:
            entry.vlan_peer = m["peer"]
            self.clients.append(entry)
        self.last = entry
        self.top = None

    def finish(self) -> Topology:
        clients = _fold_vlan_peers(self.clients) if self.vlan else self.clients
        hub_hubs = [h for h in self.hubs if not h.vlan]
        vlan_hubs = [h for h in self.hubs if h.vlan]
        hubs = [_freeze_hub(h, reverse=True) for h in reversed(hub_hubs)]
        hubs += [_freeze_hub(h, reverse=False) for h in vlan_hubs]
        if self.vlan:
            dialect = "vlan"
        elif self.unnamed_ports:
            dialect = "hub-unnamed"
        elif not self.hubs and not clients and not self.unparsed:
            dialect = "empty"
        else:
            dialect = "hub"
        return Topology(
            hubs=tuple(hubs),
            clients=tuple(c.freeze() for c in clients),
            unparsed=tuple(self.unparsed),
            dialect=dialect,
        )


def _freeze_hub(h: _Hub, *, reverse: bool) -> Hub:
    ports = reversed(h.ports) if reverse else iter(h.ports)
    return Hub(
        id=h.id,
        ports=tuple(
            HubPort(name=p.name, peer=p.peer.freeze() if p.peer else None, line=p.line)
            for p in ports
        ),
        line=h.line,
    )


def _fold_vlan_peers(clients: list[_Client]) -> list[_Client]:
    """VLAN era: ``nic peer=net`` and ``net peer=nic`` become one NIC entry with ``peer``."""
    by_name: dict[str, _Client] = {}
    for c in clients:
        by_name.setdefault(c.proto.name, c)
    folded: set[int] = set()
    for c in clients:
        if c.vlan_peer is None or id(c) in folded or c.peer is not None:
            continue
        other = by_name.get(c.vlan_peer)
        if other is None or other is c or id(other) in folded or other.vlan_peer != c.proto.name:
            continue
        # keep the NIC (or else the later line) as the owner, the other as its peer
        owner, peer = (c, other) if c.proto.is_nic or not other.proto.is_nic else (other, c)
        owner.peer = peer
        folded.add(id(peer))
    return [c for c in clients if id(c) not in folded]


def _guess_type(name: str, info: str) -> str:
    """Type of a VLAN-era entry, which prints no ``type=``: from the info text, else the name."""
    if info.startswith("model="):
        return "nic"
    if info.startswith(("net=", "user")):
        return "user"
    if info.startswith(("ifname=", "fd=", "helper=", "script=")):
        return "tap"
    if info.startswith("socket"):
        return "socket"
    if info.startswith(("sock=", "vde")):
        return "vde"
    m = _AUTO_NAME.match(name)
    if m and m["model"] in _OLD_BACKEND_NAMES:
        return m["model"]
    return "unknown"


def parse_info_network(text: str, *, pasted: bool = False) -> Topology:
    """Parse ``info network`` text; never raises, unreadable lines go to ``unparsed``.

    ``pasted``: the text came from a person (file, stdin, ``parse``), not from QEMU. When it
    shows signs of pasting, or leaves lines unparsed, it is read again through the paste
    reading step (parse/paste.py), which records what it did in ``removed`` and ``notes``.
    QEMU's own replies (live, capture JSON) are read exactly: no heuristic may be triggered by a
    string a VM controls.

    The result carries the structural cross-checks of ``parse/consistency.py``
    (``Topology.contradictions`` and ``alternatives``).
    """
    text = valid_text(text)  # a lone surrogate from a peer must not reach an encoder later
    topology = _parse(text)
    if pasted:
        from qnetinspect.parse.paste import looks_pasted, normalize_paste

        if topology.unparsed or looks_pasted(text):
            read = normalize_paste(text)
            topology = replace(_parse_lines(read.lines), removed=read.removed, notes=read.notes)
            # the cross-checks read the lines as the paste step left them (same numbers)
            text = _renumbered(read.lines)
    return check_listing(topology, text, _parse)


def _parse(text: str) -> Topology:
    """The parser proper (no cross-checks, no paste reading)."""
    return _parse_lines(_numbered(text))


def _renumbered(lines: Iterable[tuple[int, str]]) -> str:
    """Numbered lines back to a text in which each sits on its own line number ("" when the
    numbers do not rise: then only the checks that need no text run)."""
    out: list[str] = []
    for no, line in lines:
        if no <= len(out):
            return ""
        out.extend([""] * (no - len(out) - 1))
        out.append(line)
    return "\n".join(out)


def _numbered(text: str) -> Iterator[tuple[int, str]]:
    # split on "\n" only (HMP over QMP ends lines with "\r\n"): line numbers match an editor's
    for no, line in enumerate(text.split("\n"), start=1):
        if line.endswith("\r"):
            line = line.rstrip("\r")
        yield no, line


def _parse_lines(lines: Iterable[tuple[int, str]]) -> Topology:
    parser = _Parser()
    for no, line in lines:
        if not line.strip():
            continue
        parser.feed(no, line)
    return parser.finish()


def line_kind(text: str) -> str | None:
    """What one line is on its own, as QEMU prints it, or None when it is none of them:
    ``hub``, ``vlan``, ``no-vlan``, ``filters``, ``filter``, ``port-client`` (a hub port with
    its peer, or a peer line), ``port`` (a port alone), ``client``, ``vlan-entry``."""
    if text.startswith(BACKSLASH_PREFIX):
        rest = text[len(BACKSLASH_PREFIX) :]
        if parse_client_line(rest) is not None:
            return "port-client"
        m = _PORT_WITH_PEER.match(rest)
        if m:
            return "port-client" if parse_client_line(m["client"]) is not None else None
        return "port" if _PORT_ALONE.match(rest) else None
    if text.startswith("  - "):
        return "filter" if _FILTER.match(text) else None
    if text == "filters:":
        return "filters"
    if text.startswith("  "):
        return "vlan-entry" if _VLAN_ENTRY.match(text) else None
    if _HUB.match(text):
        return "hub"
    if _VLAN.match(text):
        return "vlan"
    if text == _NO_VLAN:
        return "no-vlan"
    return "client" if parse_client_line(text) is not None else None
