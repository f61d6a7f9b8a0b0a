"""qnetinspect.parse.argv: QEMU option syntax and the topology QEMU would build (pure, no QEMU)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_argv_helpers import (
    capture_files,
    capture_id,
    load,
    segments,
    startup_info_network,
    version_of,
)

from qnetinspect.parse import parse_info_network
from qnetinspect.parse.argv import (
    parse_keyvals,
    parse_version,
    predict,
    read_proc_cmdline,
    split_argv,
    usernet_forwards,
)
from qnetinspect.report.info_network import render_info_network

CAPTURES = capture_files()
OK = [p for p in CAPTURES if load(p).get("outcome") == "ok" and load(p).get("argv")]
REJECTED = [
    p for p in CAPTURES if load(p).get("outcome") == "qemu_rejected" and load(p).get("argv")
]


def _mask(text: str) -> str:
    """Auto backend names are random in 6.0+: compare them by shape only."""
    import re

    return re.sub(r"#net\d+", "#net?", text.replace("\r\n", "\n")).strip()


def _predict_capture(path: Path, **kwargs: Any) -> Any:
    return predict(load(path)["argv"], qemu_version=version_of(path), **kwargs)


# ----------------------------------------------------------------------------- syntax
def test_keyvals_implied_first_key_and_escaped_comma() -> None:
    """The first bare item is the implied key; ',,' is a literal comma in a value."""
    assert parse_keyvals("user,id=a,smb=/x,,y", "type") == [
        ("type", "user"),
        ("id", "a"),
        ("smb", "/x,y"),
    ]


def test_keyvals_flags_are_on_and_no_prefix_is_off() -> None:
    """A bare key after the first is key=on; 'nokey' is key=off (QemuOpts)."""
    assert parse_keyvals("user,restrict,noipv6", "type") == [
        ("type", "user"),
        ("restrict", "on"),
        ("ipv6", "off"),
    ]


def test_keyvals_implied_value_may_hold_an_escaped_comma() -> None:
    """'-name a,,b' names the guest 'a,b'."""
    assert parse_keyvals("a,,b,process=p", "guest") == [("guest", "a,b"), ("process", "p")]


def test_split_argv_binary_double_dash_and_flags() -> None:
    """argv[0] is the binary; '--opt' is '-opt'; flag options take no argument."""
    binary, options, errors = split_argv(
        ["/usr/bin/qemu-system-x86_64", "-S", "--netdev", "user,id=u", "disk.img", "-m", "512"]
    )
    assert binary == "/usr/bin/qemu-system-x86_64"
    assert [(o.name, o.value) for o in options] == [
        ("S", ""),
        ("netdev", "user,id=u"),
        ("m", "512"),
    ]
    assert errors == []


def test_split_argv_without_binary() -> None:
    """An argv that starts with an option has no binary."""
    binary, options, _ = split_argv(["-net", "nic"])
    assert binary is None and options[0].text == "-net nic"


def test_equals_form_is_an_invalid_option() -> None:
    """QEMU has no '-net=nic' form: it says 'invalid option'."""
    result = predict(["-nodefaults", "-net=nic"])
    assert [str(e) for e in result.errors] == ["-net=nic: invalid option"]


def test_missing_argument_is_an_error() -> None:
    """A trailing option without its value is reported, not a traceback."""
    assert "requires an argument" in str(predict(["-netdev"]).errors[0])


def test_parse_version() -> None:
    """Versions come as '7.2', '10.0.13' or QEMU's banner."""
    assert parse_version("QEMU emulator version 7.2.22 (Debian)") == (7, 2)
    assert parse_version("10.0") == (10, 0)
    with pytest.raises(ValueError):
        parse_version("seven")


def test_proc_cmdline_is_nul_separated() -> None:
    """/proc/PID/cmdline bytes become argv, the trailing NUL dropped."""
    assert read_proc_cmdline(b"qemu\0-net\0nic\0") == ["qemu", "-net", "nic"]


# ----------------------------------------------------------------------------- behaviour
def test_netdev_hubport_is_created_before_legacy_net() -> None:
    """-netdev runs before -net whatever the order: the hubport takes hub0port0."""
    top = predict(["-nodefaults", "-net", "nic", "-netdev", "hubport,id=hp,hubid=0"]).topology
    assert [p.name for p in top.hubs[0].ports] == ["hp", "hub0port1"]


def test_nic_option_nics_come_first_for_macs_and_names() -> None:
    """-nic NICs are created before -net NICs, which come before -device NICs."""
    top = predict(
        ["-nodefaults", "-device", "e1000", "-net", "nic", "-net", "user", "-nic", "user"]
    ).topology
    macs = {n.name: n.mac for n in top.nics()}
    assert macs == {
        "e1000.0": "52:54:00:12:34:56",
        "e1000.1": "52:54:00:12:34:57",
        "e1000.2": "52:54:00:12:34:58",
    }


def test_explicit_default_range_mac_takes_its_slot() -> None:
    """A MAC given in 52:54:00:12:34:xx is taken; the next NIC gets the lowest free one."""
    top = predict(
        ["-nodefaults", "-nic", "user,mac=52:54:00:12:34:56", "-device", "e1000"]
    ).topology
    assert sorted(n.mac or "" for n in top.nics()) == ["52:54:00:12:34:56", "52:54:00:12:34:57"]


def test_nic_names_count_per_model_including_ids() -> None:
    """Auto NIC names count every earlier NIC of the model, named ones too."""
    top = predict(["-nodefaults", "-device", "e1000,id=a", "-device", "e1000"]).topology
    assert [n.name for n in top.nics()] == ["a", "e1000.1"]


def test_legacy_model_alias_and_machine_default() -> None:
    """'model=virtio' is virtio-net-pci; q35's default NIC is e1000e."""
    top = predict(["-M", "q35", "-nodefaults", "-net", "nic", "-net", "nic,model=virtio"]).topology
    assert [n.model for n in top.nics()] == ["e1000e", "virtio-net-pci"]


def test_default_network_without_nodefaults() -> None:
    """No network option and no -nodefaults: QEMU adds -net nic -net user on hub 0."""
    result = predict(["qemu-system-x86_64", "-device", "e1000"])
    assert result.default_net
    assert [c.type for c in result.topology.hubs[0].peers] == ["nic", "user"]
    assert len(result.topology.nics()) == 2


def test_none_options_create_nothing() -> None:
    """-net none and -nic none create no client and suppress the default network."""
    for opt in ("-net", "-nic"):
        result = predict([opt, "none"])
        assert not result.errors and segments(result.topology) == []


def test_auto_backend_names_are_a_stable_placeholder() -> None:
    """6.0+ auto names get a fixed placeholder; 5.2 names are QEMU's exact ones."""
    argv = ["-nodefaults", "-net", "nic", "-net", "user"]
    assert predict(argv).topology.hubs[0].ports[1].peer.name == "#net100"  # type: ignore[union-attr]
    old = predict(argv, qemu_version=(5, 2)).topology.hubs[0].ports[1].peer
    assert old is not None and old.name == "__org.qemu.net1"


def test_json_netdev_and_device() -> None:
    """JSON -netdev/-device are read like the key=value form."""
    top = predict(
        ["-nodefaults", "-netdev", '{"type":"user","id":"u"}',
         "-device", '{"driver":"virtio-net-pci","netdev":"u","id":"n"}']
    ).topology
    assert segments(top) == [[("nic", "n", "52:54:00:12:34:56"), ("user", "", "")]]


def test_name_option_gives_the_vm_name() -> None:
    """-name guest=NAME,... and -name NAME both name the VM."""
    assert predict(["-name", "guest=web,debug-threads=on"]).vm_name == "web"
    assert predict(["-name", "db"]).vm_name == "db"


def test_filters_attach_to_their_netdev_in_qemu_order() -> None:
    """-object filter-* is printed under its netdev with QOM's property order and defaults."""
    top = predict(
        ["-nodefaults", "-netdev", "user,id=f0", "-device", "e1000,netdev=f0",
         "-object", "filter-buffer,id=fb,netdev=f0,interval=1000"]
    ).topology
    peer = top.clients[0].peer
    assert peer is not None
    assert peer.filters[0].raw == (
        "type=filter-buffer,interval=1000,position=tail,status=on,insert=behind,netdev=f0,"
        "queue=all"
    )


def test_hostfwd_becomes_usernet_forwards() -> None:
    """hostfwd= options are read as info usernet rows; an empty host address is '*'."""
    result = predict(
        ["-nodefaults", "-netdev", "user,id=u,hostfwd=tcp::2222-:22,hostfwd=udp:127.0.0.1:53-:53"]
    )
    rows = [(f.protocol, f.src_addr, f.src_port, f.dst_addr, f.dst_port, f.all_addresses)
            for f in usernet_forwards(result)]
    assert rows == [
        ("TCP", "*", 2222, "10.0.2.15", 22, True),
        ("UDP", "127.0.0.1", 53, "10.0.2.15", 53, False),
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-net", "nic,name=x"], "-net nic,name=x: Invalid parameter 'name'"),
        (["-net", "nic,vlan=1"], "-net nic,vlan=1: Invalid parameter 'vlan'"),
        (["-netdev", "user,id=0x"], "-netdev user,id=0x: Parameter 'id' expects an identifier"),
        (["-netdev", "user"], "-netdev user: Parameter 'id' is missing"),
        (["-netdev", "foo,id=x"], "-netdev foo,id=x: Parameter 'type' does not accept value 'foo'"),
        (["-netdev", "user,id=a", "-netdev", "user,id=a"],
         "-netdev user,id=a: Duplicate ID 'a' for netdev"),
        (["-netdev", "hubport,id=h"], "-netdev hubport,id=h: Parameter 'hubid' is missing"),
        (["-net", "hubport,hubid=1"],
         "-net hubport,hubid=1: network backend 'hubport' is only supported with -netdev/-nic"),
        (["-device", "e1000,netdev=nope"],
         "-device e1000,netdev=nope: Property 'e1000.netdev' can't find value 'nope'"),
        (["-net", "nic,model=usb-net"], "Unsupported NIC model: usb-net"),
        (["-netdev", "user,id=u,foo=1"], "-netdev user,id=u,foo=1: Invalid parameter 'foo'"),
        (["-net", "nic,macaddr=01:00:00:00:00:01"],
         "-net nic,macaddr=01:00:00:00:00:01: NIC cannot have multicast MAC address "
         "(odd 1st byte)"),
        (["-netdev", "dgram,id=d,local.type=inet,local.host=127.0.0.1,local.port=1"],
         "-netdev dgram,id=d,local.type=inet,local.host=127.0.0.1,local.port=1: "
         "type=inet or type=unix requires remote parameter"),
    ],
)
def test_rejections_use_qemus_words(argv: list[str], message: str) -> None:
    """Options QEMU refuses are errors in the result, with the option text, not exceptions."""
    result = predict(["-nodefaults", *argv])
    assert str(result.errors[0]) == message


def test_nine_onboard_nics_hit_the_cap() -> None:
    """-nic and -net nic share QEMU's 8 on-board NIC slots; the 9th is refused."""
    argv = ["-nodefaults"] + ["-nic", "user"] * 2 + ["-net", "nic"] * 7
    assert [str(e) for e in predict(argv).errors] == ["-net nic: too many NICs"]


def test_version_gates() -> None:
    """stream/dgram need 7.2, igb needs 8.0; 10.0 prints a listening stream as 'listening'."""
    stream = ["-nodefaults", "-netdev",
              "stream,id=s,server=on,addr.type=inet,addr.host=127.0.0.1,addr.port=5000"]
    assert "Invalid parameter 'stream'" in str(predict(stream, qemu_version=(5, 2)).errors[0])
    assert predict(stream, qemu_version=(10, 0)).topology.clients[0].info_raw == "listening"
    igb = ["-nodefaults", "-device", "igb"]
    assert predict(igb, qemu_version=(7, 2)).errors
    assert not predict(igb, qemu_version=(10, 0)).errors


def test_host_checks_only_with_a_probe() -> None:
    """vhost=on needs /dev/vhost-net: judged only when a path probe is given."""
    argv = ["-nodefaults", "-netdev", "tap,id=t,ifname=qnitap0,script=no,vhost=on"]
    assert not predict(argv).errors
    assert predict(argv, path_exists=lambda p: False).errors


# ----------------------------------------------------------------------------- captures
# One test per property, looping over every capture: each pytest item costs ~40 ms here, and
# the failure message names every capture that failed.

# Not compared as text: 5.2 prints filter properties in hash order, and captures with
# "companions" had a peer connected to a socket/stream, which changes its info at run time.
TEXT_OK = [
    p for p in OK
    if not (p.parent.name.startswith("qemu-5.2") and "filter" in p.name)
    and "companions" not in load(p)
]


def test_predicted_segments_equal_captured() -> None:
    """Every accepted capture: the segments predicted from argv are those QEMU printed."""
    failed = []
    for path in OK:
        result = _predict_capture(path)
        real = parse_info_network(startup_info_network(load(path)))
        if result.errors or segments(result.topology) != segments(real):
            failed.append(f"{capture_id(path)}: {result.errors} {segments(result.topology)}")
    assert failed == []


def test_predicted_info_network_text_equals_captured() -> None:
    """Rendered like QEMU prints it, the prediction is QEMU's text (auto names masked)."""
    failed = [
        capture_id(path)
        for path in TEXT_OK
        if _mask(render_info_network(_predict_capture(path).topology))
        != _mask(startup_info_network(load(path)))
    ]
    assert failed == []


def test_rejected_captures_are_reported() -> None:
    """Every capture QEMU refused gives an error whose message QEMU printed."""
    failed = []
    for path in REJECTED:
        doc = load(path)
        result = _predict_capture(path, path_exists=lambda p: False)
        if not result.errors or result.errors[0].message.splitlines()[0] not in doc["qemu_stderr"]:
            failed.append(f"{capture_id(path)}: {result.errors} vs {doc['qemu_stderr']!r}")
    assert failed == []


def test_capture_sets_are_present() -> None:
    """The acceptance tests above ran on real captures, not on an empty list."""
    assert len(OK) >= 30 and len(TEXT_OK) >= 30 and len(REJECTED) >= 10
