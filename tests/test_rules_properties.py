"""Properties of the engine over generated topologies: never raises, deterministic, complete."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from qnetinspect.models import Hub, HubPort, NetClient, Snapshot, Topology, UsernetForward
from qnetinspect.rules import evaluate, sort_findings

TYPES = ["nic", "user", "tap", "socket", "stream", "dgram", "vhost-user", "frobnicate", "hubport"]
NAMES = st.sampled_from(
    ["e1000.0", "e1000.1", "n0", "n1", "#net123", "__org.qemu.net2", "user.0", "s", "x.y-z_"]
)
RAW = {
    "nic": ["model=e1000,macaddr=52:54:00:12:34:56", "model=virtio-net-pci,macaddr=52:54:00:aa:bb:cc", ""],  # noqa: E501
    "user": ["net=10.0.2.0,restrict=off"],
    "tap": ["ifname=tap0,script=no,downscript=no", "helper=/h,br=br0", "fd=3"],
    "socket": ["", "socket: connect to 127.0.0.1:1", "socket: udp=127.0.0.1:2",
               "socket: mcast=230.0.0.1:3"],
    "stream": ["", "listening", "connecting", "tcp:127.0.0.1:4", "unix:/tmp/s"],
    "dgram": ["udp=127.0.0.1:5/127.0.0.1:6", "mcast=230.0.0.1:3", "udp=/a:/b"],
}  # fmt: skip


def _info(type_: str, raw: str) -> dict[str, str]:
    if type_ in ("socket", "stream") or "=" not in raw:
        return {}
    return dict(kv.split("=", 1) for kv in raw.split(",") if "=" in kv)


@st.composite
def clients(draw: st.DrawFn) -> NetClient:
    type_ = draw(st.sampled_from(TYPES))
    raw = draw(st.sampled_from(RAW.get(type_, ["", "whatever: text, with, commas"])))
    return NetClient(
        name=draw(NAMES),
        type=type_,
        index=draw(st.sampled_from([0, 0, 0, 1])),
        info=_info(type_, raw),
        info_raw=raw,
    )


@st.composite
def topologies(draw: st.DrawFn) -> Topology:
    hubs = tuple(
        Hub(
            id=hub_id,
            ports=tuple(
                HubPort(name=draw(st.sampled_from([None, "hub0port1", "hp"])), peer=peer)
                for peer in draw(st.lists(st.one_of(st.none(), clients()), max_size=5))
            ),
        )
        for hub_id in draw(st.lists(st.integers(-1, 6), max_size=3, unique=True))
    )
    tops = []
    for c in draw(st.lists(clients(), max_size=4)):
        peer = draw(st.one_of(st.none(), clients()))
        tops.append(NetClient(c.name, c.type, c.index, c.info, c.info_raw, peer=peer))
    return Topology(hubs=hubs, clients=tuple(tops))


forwards = st.builds(
    UsernetForward,
    netdev=NAMES,
    hub=st.integers(-1, 3),
    protocol=st.sampled_from(["TCP", "UDP"]),
    state=st.sampled_from(["HOST_FORWARD", "ESTABLISHED"]),
    src_addr=st.sampled_from(["*", "127.0.0.1", "0.0.0.0"]),
    src_port=st.integers(1, 65535),
    dst_addr=st.just("10.0.2.15"),
    dst_port=st.integers(1, 65535),
)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(topologies(), st.lists(forwards, max_size=2), st.booleans()),
        min_size=1,
        max_size=3,
    )
)
def test_evaluate_never_raises_and_is_deterministic(
    vms: list[tuple[Topology, list[UsernetForward], bool]],
) -> None:
    """Any topology gives sorted, repeatable findings that name their clients and VM."""
    snaps = [
        Snapshot(target=f"vm{i}", topology=t, usernet=tuple(u), live=live)
        for i, (t, u, live) in enumerate(vms)
    ]
    found = evaluate(snaps)
    assert found == evaluate(list(snaps))
    assert found == sort_findings(found)
    for f in found:
        assert f.message.startswith(f"{f.target}: ")
        assert all(c in f.message for c in f.clients)


@settings(max_examples=40, deadline=None)
@given(topologies())
def test_nat_external_hub_iff_a_hub_mixes(topology: Topology) -> None:
    """nat-external-hub fires for exactly the hubs holding a user and an external backend."""
    want = {
        h.id
        for h in topology.hubs
        if any(c.type == "user" for c in h.peers)
        and any(c.type not in ("nic", "user", "hubport", "none") for c in h.peers)
    }
    got = {f.hub for f in evaluate([Snapshot(target="t", topology=topology)])
           if f.rule == "nat-external-hub"}  # fmt: skip
    assert got == want
