"""Cross-VM L2 segments: which backends of different VMs exchange frames."""

from __future__ import annotations

from qnetinspect.models import Snapshot, TargetFailure
from qnetinspect.parse import parse_info_network
from qnetinspect.rules.segments import global_segments, segment_roots


def _vm(target: str, backend_line: str, nic: str = "n0") -> Snapshot:
    text = (
        f"{nic}: index=0,type=nic,model=virtio-net-pci,macaddr=52:54:00:3e:00:01\r\n"
        f" \\ {backend_line}\r\n"
    )
    return Snapshot(target=target, topology=parse_info_network(text))


def test_dgram_pair_joins_two_vms() -> None:
    """dgram udp=L/R in one VM and udp=R/L in another form one segment."""
    a = _vm("a", "d: index=0,type=dgram,udp=127.0.0.1:4000/127.0.0.1:4001")
    b = _vm("b", "d: index=0,type=dgram,udp=127.0.0.1:4001/127.0.0.1:4000")
    (seg,) = global_segments([a, b])
    assert seg.targets == ("a", "b") and seg.spans_vms
    assert seg.links == ("udp:127.0.0.1:4000", "udp:127.0.0.1:4001")
    assert [(t, n.name) for t, n in seg.nics()] == [("a", "n0"), ("b", "n0")]


def test_dgram_to_someone_else_is_not_joined() -> None:
    """A dgram whose remote is not another VM's local address joins nothing."""
    a = _vm("a", "d: index=0,type=dgram,udp=127.0.0.1:4000/127.0.0.1:4001")
    b = _vm("b", "d: index=0,type=dgram,udp=127.0.0.1:4002/127.0.0.1:4003")
    assert global_segments([a, b]) == []


def test_multicast_group_joins_socket_and_dgram() -> None:
    """socket mcast and dgram mcast on one group:port are one segment of three VMs."""
    a = _vm("a", "m: index=0,type=socket,socket: mcast=230.0.0.1:1234")
    b = _vm("b", "m: index=0,type=dgram,mcast=230.0.0.1:1234")
    c = _vm("c", "m: index=0,type=socket,socket: mcast=230.0.0.1:1234")
    d = _vm("d", "m: index=0,type=socket,socket: mcast=230.0.0.2:1234")
    (seg,) = global_segments([a, b, c, d])
    assert seg.targets == ("a", "b", "c")
    assert seg.links == ("mcast:230.0.0.1:1234",)


def test_socket_listen_side_needs_a_hint() -> None:
    """A listening socket prints nothing: joined to its client only with a hint."""
    server = _vm("srv", "s: index=0,type=socket,socket: connection from 127.0.0.1:51234")
    client = _vm("cli", "s: index=0,type=socket,socket: connect to 127.0.0.1:42000")
    assert global_segments([server, client]) == []
    (seg,) = global_segments([server, client], hints={("srv", "s"): "127.0.0.1:42000"})
    assert seg.targets == ("cli", "srv")
    assert seg.links == ("tcp:127.0.0.1:42000",)


def test_stream_client_joins_hinted_server() -> None:
    """A stream client (tcp:A:P) joins a stream server hinted at A:P."""
    server = _vm("srv", "st: index=0,type=stream,tcp:127.0.0.1:51999")
    client = _vm("cli", "st: index=0,type=stream,tcp:127.0.0.1:42018")
    assert global_segments([server, client]) == []
    hints = {("srv", "st"): "127.0.0.1:42018"}
    assert global_segments([server, client], hints=hints)[0].targets == ("cli", "srv")


def test_bridge_helper_taps_share_their_bridge() -> None:
    """Taps made by the bridge helper (br= shown) on one bridge are one segment."""
    a = _vm("a", "b: index=0,type=tap,helper=/usr/lib/qemu/qemu-bridge-helper,br=br0")
    b = _vm("b", "b: index=0,type=tap,helper=/usr/lib/qemu/qemu-bridge-helper,br=br0")
    c = _vm("c", "t: index=0,type=tap,ifname=tap3,script=no,downscript=no")
    (seg,) = global_segments([a, b, c])
    assert seg.targets == ("a", "b") and seg.links == ("bridge:br0",)


def test_user_backends_never_join() -> None:
    """Two user (slirp) backends are separate networks."""
    a = _vm("a", "u: index=0,type=user,net=10.0.2.0,restrict=off")
    b = _vm("b", "u: index=0,type=user,net=10.0.2.0,restrict=off")
    assert global_segments([a, b]) == []
    roots = segment_roots([a, b])
    assert roots[("a", "n0")] != roots[("b", "n0")]


def test_hub_members_share_one_root() -> None:
    """segment_roots gives every client of one hub the same segment id."""
    text = (
        "hub 0\r\n"
        " \\ hub0port1: #net1: index=0,type=user,net=10.0.2.0,restrict=off\r\n"
        " \\ hub0port0: e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\r\n"
        "x: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:57\r\n"
    )
    roots = segment_roots([Snapshot(target="a", topology=parse_info_network(text))])
    assert roots[("a", "e1000.0")] == roots[("a", "#net1")] != roots[("a", "x")]


def test_unreadable_snapshots_are_skipped() -> None:
    """Snapshots with an error or no topology take no part."""
    a = _vm("a", "d: index=0,type=dgram,udp=127.0.0.1:4000/127.0.0.1:4001")
    bad = Snapshot(target="b", error=TargetFailure("timeout", "no reply"))
    assert global_segments([a, bad, Snapshot(target="c")]) == []
