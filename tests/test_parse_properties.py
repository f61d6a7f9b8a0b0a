"""Hypothesis properties of the info network parser and renderer."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from qnetinspect.models import Filter, Hub, HubPort, NetClient, Topology
from qnetinspect.parse import parse_info_network, parse_usernet
from qnetinspect.parse.info_network import parse_client_info, parse_filter_props
from qnetinspect.report.info_network import render_info_network

ROOT = Path(__file__).resolve().parent.parent
REAL_LINES = sorted(
    {
        line
        for p in (ROOT / "fixtures" / "captures").glob("*/*.json")
        for line in (json.loads(p.read_text(encoding="utf-8")).get("info_network") or "").split(
            "\r\n"
        )
        if line
    }
)
SHAPES = [
    "hub 0",
    "hub -1",
    "filters:",
    "VLAN 1 devices:",
    "Devices not on any VLAN:",
    "  - f: type=filter-buffer,interval=1",
    " \\ ",
    " \\ p",
    "  x: model=e1000 peer=y",
]

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
names = st.builds(
    str.__add__,
    st.sampled_from(_LETTERS + "#_"),
    st.text(alphabet=_LETTERS + "0123456789._#-", max_size=12),
)
free_text = st.text(
    alphabet=st.characters(blacklist_categories=["Cs", "Cc", "Zl", "Zp"]), max_size=40
)
types = st.sampled_from(["nic", "user", "tap", "socket", "stream", "dgram", "l2tpv3", "vde"]) | (
    st.builds(str.__add__, st.sampled_from("abcxyz"), st.text(alphabet="abz09-", max_size=8))
)
info_raws = (
    st.sampled_from(
        [
            "",
            "model=e1000,macaddr=52:54:00:12:34:56",
            "net=10.0.2.0,restrict=off",
            "ifname=t0,script=no,downscript=no",
            "socket: connect to 127.0.0.1:5",
            "socket: udp=127.0.0.1:5",
            "tcp:127.0.0.1:5",
            "udp=127.0.0.1:1/127.0.0.1:2",
            "listening",
            "vhost-user0 to chr0",
        ]
    )
    | free_text
)


@st.composite
def filters(draw: st.DrawFn) -> Filter:
    type_ = "filter-" + draw(st.text(alphabet="abcdefgh", min_size=1, max_size=8))
    props = draw(st.sampled_from(["", "interval=1000,queue=all", "indev=,outdev=x"]) | free_text)
    raw = f"type={type_}" + (f",{props}" if props else "")
    return Filter(id=draw(names), type=type_, props=parse_filter_props(props), raw=raw)


@st.composite
def clients(draw: st.DrawFn, *, with_peer: bool) -> NetClient:
    type_, raw = draw(types), draw(info_raws)
    peer = draw(st.none() | clients(with_peer=False)) if with_peer else None
    return NetClient(
        name=draw(names),
        type=type_,
        index=draw(st.integers(0, 3)),
        info=parse_client_info(type_, raw),
        info_raw=raw,
        filters=tuple(draw(st.lists(filters(), max_size=2))),
        peer=peer,
    )


@st.composite
def topologies(draw: st.DrawFn) -> Topology:
    unnamed = draw(st.booleans())
    hubs = []
    for hub_id in draw(st.lists(st.integers(-2, 99), max_size=3)):
        ports = []
        for _ in range(draw(st.integers(0, 4))):
            if unnamed:
                ports.append(HubPort(name=None, peer=draw(clients(with_peer=False))))
            else:
                peer = draw(st.none() | clients(with_peer=False))
                ports.append(HubPort(name=draw(names), peer=peer))
        hubs.append(Hub(id=hub_id, ports=tuple(ports)))
    top = tuple(draw(st.lists(clients(with_peer=True), max_size=4)))
    if not hubs and not top:
        dialect = "empty"
    elif unnamed and any(h.ports for h in hubs):
        dialect = "hub-unnamed"
    else:
        dialect = "hub"
    return Topology(hubs=tuple(hubs), clients=top, dialect=dialect)


@settings(max_examples=60, deadline=None)
@given(topologies())
def test_render_then_parse_round_trip(t: Topology) -> None:
    """parse(render(t)) == t for any topology in the hub formats."""
    text = render_info_network(t)
    assert parse_info_network(text) == t
    assert parse_info_network(text.replace("\n", "\r\n")) == t


junk_lines = (
    st.sampled_from(REAL_LINES) | st.sampled_from(SHAPES) | free_text | st.text(max_size=30)
)


def _covered(t: Topology) -> set[int]:
    seen = {u.line for u in t.unparsed}
    for h in t.hubs:
        seen.add(h.line)
        for p in h.ports:
            seen.add(p.line)
    seen.update(c.line for c in t.iter_clients())
    return seen


def _assert_accounted(text: str) -> None:
    t = parse_info_network(text)
    covered = _covered(t)
    raws = {f"  - {f.id}: {f.raw}" for c in t.iter_clients() for f in c.filters}
    for no, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip() or no in covered:
            continue
        assert line in raws or line in ("filters:", "Devices not on any VLAN:"), (no, line)


@settings(max_examples=150, deadline=None)
@given(st.lists(junk_lines, max_size=25), st.sampled_from(["\n", "\r\n"]))
def test_no_exception_and_every_line_accounted_for(lines: list[str], eol: str) -> None:
    """Any text parses without raising, and every non-blank line is in the model or unparsed."""
    _assert_accounted(eol.join(lines))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_usernet_never_raises(text: str) -> None:
    """parse_usernet returns a tuple for any text."""
    assert isinstance(parse_usernet(text), tuple)


@settings(max_examples=50, deadline=None)
@given(st.permutations(REAL_LINES[:60]))
def test_shuffled_real_lines_parse(lines: list[str]) -> None:
    """Real capture lines in any order parse without raising and lose no line."""
    _assert_accounted("\r\n".join(lines))
