"""Unit tests of parse_info_network, one per format surprise (fixtures/captures/README.md)."""

from __future__ import annotations

from qnetinspect.models import NetClient
from qnetinspect.parse import parse_info_network
from qnetinspect.parse.info_network import parse_client_info
from qnetinspect.report.info_network import render_info_network

SEED = (
    "hub 0\r\n"
    " \\ hub0port3: #net351: index=0,type=socket,\r\n"
    " \\ hub0port2: #net218: index=0,type=user,net=10.0.2.0,restrict=off\r\n"
    " \\ hub0port1: rtl8139.0: index=0,type=nic,model=rtl8139,macaddr=52:54:00:12:34:57\r\n"
    " \\ hub0port0: e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\r\n"
)


def test_crlf_and_empty_output() -> None:
    """#1: \\r\\n line endings are stripped; "" is an empty topology of dialect 'empty'."""
    t = parse_info_network(SEED)
    assert t.unparsed == ()
    assert t.hubs[0].ports[0].peer is not None
    assert not t.hubs[0].ports[0].peer.info_raw.endswith("\r")
    empty = parse_info_network("")
    assert (empty.hubs, empty.clients, empty.unparsed, empty.dialect) == ((), (), (), "empty")


def test_hubs_and_ports_stored_in_creation_order() -> None:
    """#2: hubs and ports printed newest first are stored oldest first."""
    t = parse_info_network(
        "hub 2\n \\ b2: x: index=0,type=user,\nhub 1\n \\ b1: y: index=0,type=user,\n" + SEED
    )
    assert [h.id for h in t.hubs] == [0, 1, 2]
    assert [p.name for p in t.hubs[0].ports] == [f"hub0port{i}" for i in range(4)]


def test_port_line_holds_the_peer_line() -> None:
    """#3: ' \\ PORT: CLIENT-LINE' gives the port name and the peer client, with line numbers."""
    port = parse_info_network(SEED).hubs[0].ports[3]
    assert port.name == "hub0port3"
    assert port.peer == NetClient(name="#net351", type="socket", index=0, info={}, info_raw="")
    assert (port.line, port.peer.line) == (2, 2)


def test_port_without_peer() -> None:
    """#4: ' \\ NAME' alone is a port without a peer (not unparsed)."""
    t = parse_info_network(
        "hub 1\n \\ hp2\n \\ hp1: r.0: index=0,type=nic,model=rtl8139,macaddr=52:54:00:12:34:5a\n"
    )
    assert [(p.name, p.peer is None) for p in t.hubs[0].ports] == [("hp1", False), ("hp2", True)]
    assert t.unparsed == ()


def test_nic_pair_and_unpaired_backend_at_column_0() -> None:
    """#5: a NIC line with its ' \\ ' backend; a lone backend at column 0 keeps its own type."""
    t = parse_info_network(
        "nic0: index=0,type=nic,model=virtio-net-pci,macaddr=52:54:00:12:34:56\r\n"
        " \\ net0: index=0,type=user,net=10.0.2.0,restrict=off\r\n"
        "hpu0: index=0,type=user,net=10.0.2.0,restrict=off\r\n"
        "lonely: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:57\r\n"
    )
    nic, backend, lonely = t.clients
    assert nic.peer is not None and nic.peer.name == "net0" and nic.peer.type == "user"
    assert (backend.type, backend.peer) == ("user", None)
    assert (lonely.is_nic, lonely.peer) == (True, None)


def test_non_hub_section_after_hubs_ends_hub() -> None:
    """#2/#6: the first column-0 client line ends the hub section; later ' \\ ' lines are peers."""
    t = parse_info_network(
        SEED + "vn1: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:58\n"
        " \\ u1: index=0,type=user,net=10.0.2.0,restrict=off\n"
    )
    assert len(t.hubs[0].ports) == 4
    assert t.clients[0].peer is not None and t.clients[0].peer.name == "u1"


def test_filters_attach_to_peer_line_above() -> None:
    """#8: a filters: block belongs to the client line just above it, here the ' \\ ' peer."""
    t = parse_info_network(
        "fn1: index=0,type=nic,model=virtio-net-pci,macaddr=52:54:00:12:34:57\r\n"
        " \\ f1: index=0,type=user,net=10.0.2.0,restrict=off\r\n"
        "filters:\r\n"
        "  - fred: type=filter-redirector,vnet_hdr_support=false,indev=,outdev=red0,queue=rx\r\n"
        "  - fd: type=filter-dump,file=/tmp/a,b.pcap,maxlen=128\r\n"
    )
    nic = t.clients[0]
    assert nic.filters == ()
    assert nic.peer is not None
    red, dump = nic.peer.filters
    assert (red.id, red.type) == ("fred", "filter-redirector")
    assert dict(red.props) == {
        "vnet_hdr_support": "false",
        "indev": "",
        "outdev": "red0",
        "queue": "rx",
    }
    assert dump.props["file"] == "/tmp/a,b.pcap"


def test_filters_on_nic_line_then_peer() -> None:
    """#8: filters printed between a NIC line and its ' \\ ' peer attach to the NIC."""
    t = parse_info_network(
        "n: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:57\n"
        "filters:\n  - fb: type=filter-buffer,interval=10\n"
        " \\ u: index=0,type=user,net=10.0.2.0,restrict=off\n"
    )
    assert [f.id for f in t.clients[0].filters] == ["fb"]
    assert t.clients[0].peer is not None and t.clients[0].peer.name == "u"


def test_queue_index_and_multiqueue_entries() -> None:
    """#7/#27: each queue is its own entry with its index; extra NIC queues have empty info."""
    t = parse_info_network(
        "mqtn: index=0,type=nic,model=virtio-net-pci,macaddr=52:54:00:12:34:56\r\n"
        " \\ mqt: index=0,type=tap,ifname=capmq0,script=no,downscript=no\r\n"
        "mqtn: index=1,type=nic,\r\n"
        " \\ mqt: index=1,type=tap,ifname=capmq0,script=no,downscript=no\r\n"
    )
    assert [(c.name, c.index, dict(c.info)) for c in t.clients][1] == ("mqtn", 1, {})
    assert [c.peer.index for c in t.clients if c.peer] == [0, 1]
    assert [n.name for n in t.nics()] == ["mqtn"]


def test_auto_and_odd_names() -> None:
    """#12/#17: '#net123', '__org.qemu.net0' and ids with '.', '-', '_' are names verbatim."""
    t = parse_info_network(
        "hub 9\n \\ h9.b-c_: u.9-z_: index=0,type=user,net=10.0.2.0,restrict=off\n"
        " \\ hub9port0: __org.qemu.net0: index=0,type=user,net=10.0.2.0,restrict=off\n"
        "virtio-net-pci.0: index=0,type=nic,model=virtio-net-pci,macaddr=52:54:00:12:34:56\n"
        " \\ #net1012: index=0,type=user,net=10.0.2.0,restrict=off\n"
    )
    assert [(p.name, p.peer.name if p.peer else None) for p in t.hubs[0].ports] == [
        ("hub9port0", "__org.qemu.net0"),
        ("h9.b-c_", "u.9-z_"),
    ]
    assert t.clients[0].peer is not None and t.clients[0].peer.name == "#net1012"


def test_hubport_peer_shows_hubport_then_nic() -> None:
    """#16: ' \\ h0n: nic0: ...' is port h0n whose peer is the NIC nic0."""
    t = parse_info_network(
        "hub 0\n \\ h0b: u0: index=0,type=user,net=10.0.2.0,restrict=off\n"
        " \\ h0n: nic0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\n"
    )
    assert [n.name for n in t.hubs[0].nics] == ["nic0"]
    assert [b.name for b in t.hubs[0].backends] == ["u0"]


def test_duplicate_names_are_kept() -> None:
    """#18: a netdev_del'ed netdev still under its NIC and a new one with the same id both stay."""
    t = parse_info_network(
        "n: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\n"
        " \\ att0: index=0,type=user,net=10.0.2.0,restrict=off\n"
        "att0: index=0,type=user,net=10.0.2.0,restrict=off\n"
    )
    assert [c.name for c in t.clients] == ["n", "att0"]
    assert t.clients[0].peer is not None and t.clients[0].peer.name == "att0"


def test_user_info_fields() -> None:
    """#19: user prints net (no prefix length) and restrict as fields."""
    assert dict(parse_client_info("user", "net=10.9.8.0,restrict=on")) == {
        "net": "10.9.8.0",
        "restrict": "on",
    }


def test_socket_info_strings() -> None:
    """#20/#21: socket listen is empty; connect/connection from/udp/mcast become fields."""
    assert dict(parse_client_info("socket", "")) == {}
    assert dict(parse_client_info("socket", "socket: connect to 127.0.0.1:42016")) == {
        "connect": "127.0.0.1:42016"
    }
    assert dict(parse_client_info("socket", "socket: connection from 127.0.0.1:5")) == {
        "connection_from": "127.0.0.1:5"
    }
    assert dict(parse_client_info("socket", "socket: udp=127.0.0.1:42012")) == {
        "udp": "127.0.0.1:42012"
    }
    assert dict(parse_client_info("socket", "socket: mcast=230.0.0.1:5")) == {
        "mcast": "230.0.0.1:5"
    }


def test_socket_connect_line_keeps_raw() -> None:
    """#21: a line whose info has spaces and colons keeps info_raw verbatim."""
    t = parse_info_network(
        "scn: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\n"
        " \\ sc: index=0,type=socket,socket: connect to 127.0.0.1:42016\n"
    )
    peer = t.clients[0].peer
    assert peer is not None
    assert peer.info_raw == "socket: connect to 127.0.0.1:42016"
    assert peer.is_external


def test_stream_info_strings() -> None:
    """#22: stream empty (7.2 listening), 'listening' (10.0) and 'tcp:A:P' (connected)."""
    assert dict(parse_client_info("stream", "")) == {}
    assert dict(parse_client_info("stream", "listening")) == {"state": "listening"}
    assert dict(parse_client_info("stream", "tcp:127.0.0.1:42018")) == {"tcp": "127.0.0.1:42018"}
    assert dict(parse_client_info("stream", "unix:/tmp/s.sock")) == {"unix": "/tmp/s.sock"}


def test_dgram_info_strings() -> None:
    """#23: dgram inet 'udp=L/R' and unix 'udp=lpath:rpath' stay one value."""
    assert dict(parse_client_info("dgram", "udp=127.0.0.1:1/127.0.0.1:2")) == {
        "udp": "127.0.0.1:1/127.0.0.1:2"
    }
    assert dict(parse_client_info("dgram", "udp=/tmp/a.sock:/tmp/b.sock")) == {
        "udp": "/tmp/a.sock:/tmp/b.sock"
    }


def test_tap_info_with_commas_in_a_path() -> None:
    """#24: tap fields are split on commas, but a value with a comma stays whole."""
    assert dict(parse_client_info("tap", "ifname=t0,script=/etc/a,b,downscript=no")) == {
        "ifname": "t0",
        "script": "/etc/a,b",
        "downscript": "no",
    }
    assert dict(parse_client_info("tap", "helper=/usr/lib/qemu/qemu-bridge-helper,br=br0")) == {
        "helper": "/usr/lib/qemu/qemu-bridge-helper",
        "br": "br0",
    }


def test_other_backend_info_strings() -> None:
    """#25: l2tpv3, vhost-user, af-xdp phrases give a field; unknown phrases give none."""
    assert dict(parse_client_info("l2tpv3", "l2tpv3: connected")) == {"state": "connected"}
    assert dict(parse_client_info("vhost-user", "vhost-user0 to chr0")) == {"chardev": "chr0"}
    assert dict(parse_client_info("af-xdp", "af-xdp1 to eth0")) == {"ifname": "eth0"}
    assert dict(parse_client_info("passt", "stream,connected to pid 5")) == {}


def test_nic_fields_and_mac() -> None:
    """#26: NIC info gives model and macaddr; NetClient.mac is lowercase."""
    t = parse_info_network("n: index=0,type=nic,model=igb,macaddr=52:54:00:AB:34:56\n")
    assert (t.clients[0].model, t.clients[0].mac) == ("igb", "52:54:00:ab:34:56")


def test_old_hub_format_without_port_names() -> None:
    """Hub format of QEMU 1.2-2.x: ' \\ CLIENT-LINE' with no port name, and no index= (1.2-1.4)."""
    t = parse_info_network(
        "hub 0\n \\ user.0: type=user,net=10.0.2.0,restrict=off\n"
        " \\ e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\n"
    )
    assert t.dialect == "hub-unnamed"
    assert [(p.name, p.peer.name if p.peer else None) for p in t.hubs[0].ports] == [
        (None, "e1000.0"),
        (None, "user.0"),
    ]


def test_vlan_format() -> None:
    """Pre-1.2: VLANs become hubs with unnamed ports; 'peer=' pairs fold into NIC + peer."""
    t = parse_info_network(
        "VLAN 0 devices:\n  user.0: net=10.0.2.0,restrict=off\n"
        "  e1000.0: model=e1000,macaddr=52:54:00:12:34:56\n"
        "Devices not on any VLAN:\n"
        "  net0: net=10.0.2.0,restrict=off peer=nic0\n"
        "  nic0: model=virtio-net-pci,macaddr=52:54:00:12:34:57 peer=net0\n"
    )
    assert t.dialect == "vlan" and t.unparsed == ()
    assert [(p.name, p.peer.type if p.peer else "") for p in t.hubs[0].ports] == [
        (None, "user"),
        (None, "nic"),
    ]
    (nic,) = t.clients
    assert nic.name == "nic0" and nic.peer is not None and nic.peer.name == "net0"
    assert nic.peer.type == "user"
    assert parse_info_network(render_info_network(t)) == t


def test_unreadable_lines_are_kept_with_reason() -> None:
    """A line of no known shape goes to unparsed with its 1-based line number and a reason."""
    t = parse_info_network(
        "\n"
        "garbage here\n"
        " \\ orphan: index=0,type=user,\n"
        "  - f: type=filter-buffer\n"
        "hub 0\n"
        " \\ hub0port0: e1000.0: index=0,type=ni"
    )
    assert [u.line for u in t.unparsed] == [2, 3, 4, 6]
    assert all(u.reason for u in t.unparsed)
    assert t.hubs[0].ports == ()
