"""Pure hot-plug planning: ids, MACs, schema-typed options, predicted topology, new findings."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qnetinspect import rules
from qnetinspect.errors import HotplugError, UsageError
from qnetinspect.hotplug import ids
from qnetinspect.hotplug.plan import (
    AddRequest,
    PlanContext,
    format_plan,
    plan_add,
    plan_link,
    plan_remove,
    refuse_critical,
)
from qnetinspect.hotplug.schema import NetdevSchema, build_netdev_args, parse_option
from qnetinspect.models import QomNic, Snapshot, VmInfo
from qnetinspect.parse import parse_info_network

# Legacy hub 0 (NIC + NAT) plus a -netdev/-device pair, as QEMU 7.2 prints it.
LEGACY = (
    "hub 0\r\n"
    " \\ hub0port1: #net173: index=0,type=user,net=10.0.2.0,restrict=off\r\n"
    " \\ hub0port0: e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\r\n"
    "n0: index=0,type=nic,model=virtio-net-pci,macaddr=52:54:00:aa:00:01\r\n"
    " \\ u0: index=0,type=user,net=10.0.2.0,restrict=off\r\n"
)
LEAK = (
    "hub 0\r\n"
    " \\ hub0port2: #net174: index=0,type=socket,\r\n"
    " \\ hub0port1: #net173: index=0,type=user,net=10.0.2.0,restrict=off\r\n"
    " \\ hub0port0: e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\r\n"
)

# The parts of QEMU 7.2's query-qmp-schema that netdev_add uses (entity names as QEMU masks them).
_B = {"meta-type": "builtin"}
SCHEMA: list[dict[str, Any]] = [
    {"name": "str", **_B, "json-type": "string"},
    {"name": "int", **_B, "json-type": "int"},
    {"name": "bool", **_B, "json-type": "boolean"},
    {"name": "netdev_add", "meta-type": "command", "arg-type": "100", "ret-type": "0"},
    {
        "name": "100",
        "meta-type": "object",
        "tag": "type",
        "members": [{"name": "id", "type": "str"}, {"name": "type", "type": "347"}],
        "variants": [
            {"case": "nic", "type": "348"},
            {"case": "user", "type": "349"},
            {"case": "socket", "type": "352"},
            {"case": "stream", "type": "353"},
            {"case": "hubport", "type": "357"},
        ],
    },
    {"name": "347", "meta-type": "enum", "values": ["nic", "user", "socket", "stream", "hubport"]},
    {
        "name": "349",
        "meta-type": "object",
        "members": [
            {"name": "restrict", "default": None, "type": "bool"},
            {"name": "net", "default": None, "type": "str"},
            {"name": "ipv6-prefixlen", "default": None, "type": "int"},
            {"name": "hostfwd", "default": None, "type": "[574]"},
        ],
    },
    {
        "name": "352",
        "meta-type": "object",
        "members": [
            {"name": "listen", "default": None, "type": "str"},
            {"name": "connect", "default": None, "type": "str"},
        ],
    },
    {
        "name": "353",
        "meta-type": "object",
        "members": [
            {"name": "addr", "type": "365"},
            {"name": "server", "default": None, "type": "bool"},
        ],
    },
    {
        "name": "357",
        "meta-type": "object",
        "members": [
            {"name": "hubid", "type": "int"},
            {"name": "netdev", "default": None, "type": "str"},
        ],
    },
    {
        "name": "365",
        "meta-type": "object",
        "tag": "type",
        "members": [{"name": "type", "type": "554"}],
        "variants": [{"case": "inet", "type": "536"}, {"case": "unix", "type": "575"}],
    },
    {"name": "554", "meta-type": "enum", "values": ["inet", "unix"]},
    {
        "name": "536",
        "meta-type": "object",
        "members": [{"name": "host", "type": "str"}, {"name": "port", "type": "str"}],
    },
    {"name": "575", "meta-type": "object", "members": [{"name": "path", "type": "str"}]},
    {"name": "574", "meta-type": "object", "members": [{"name": "str", "type": "str"}]},
    {"name": "[574]", "meta-type": "array", "element-type": "574"},
]


def _schema() -> NetdevSchema:
    s = NetdevSchema.from_reply(SCHEMA)
    assert s is not None
    return s


def _snap(text: str = LEGACY, **kw: Any) -> Snapshot:
    return Snapshot(
        target="vm.qmp", topology=parse_info_network(text), vm=VmInfo(qemu_version="7.2.22"), **kw
    )


def _opts(*texts: str) -> tuple[tuple[str, str], ...]:
    return tuple(parse_option(t) for t in texts)


# ---------------------------------------------------------------- ids and MACs
@pytest.mark.parametrize("bad", ["1net", "a b", "-x", "", "ü1", "n:1"])
def test_bad_ids_are_refused_naming_the_id(bad: str) -> None:
    """An id QEMU would refuse (digit first, space, colon ...) gives a UsageError naming it."""
    with pytest.raises(UsageError, match="not a valid QEMU id"):
        ids.check_id(bad, "--id")


def test_good_ids_pass() -> None:
    """Ids with letters, digits, '.', '-', '_' after a first letter are accepted."""
    assert ids.check_id("h9.b-c_") == "h9.b-c_"


def test_generated_mac_is_unicast_local_unique_and_not_qemu_default() -> None:
    """Generated MACs are locally administered unicast, unused, never 52:54:00:12:34:xx."""
    taken = {f"52:54:00:00:00:{i:02x}" for i in range(256)}
    rng = random.Random(1)
    for _ in range(500):
        mac = ids.generate_mac(taken, rng)
        first = int(mac[:2], 16)
        assert first & 0x02 and not first & 0x01
        assert not mac.startswith("52:54:00:12:34:")
        assert mac not in taken
        taken.add(mac)


def test_generated_mac_skips_taken_values() -> None:
    """With a seeded generator, the value it would return first is skipped when taken."""
    first = ids.generate_mac(set(), random.Random(7))
    assert ids.generate_mac({first}, random.Random(7)) != first


@pytest.mark.parametrize(
    ("mac", "message"),
    [
        ("52:54:00:zz:00:01", "expected six hex bytes"),
        ("01:00:5e:00:00:01", "multicast"),
        ("00:00:00:00:00:00", "all-zero"),
        ("52:54:00:AA:00:01", "already used"),
    ],
)
def test_user_macs_are_checked(mac: str, message: str) -> None:
    """A user MAC is refused for bad format, multicast bit, all zero, or a duplicate."""
    with pytest.raises(UsageError, match=message):
        ids.check_mac(mac, {"52:54:00:aa:00:01"})


# ---------------------------------------------------------------- options against the schema
def test_hostfwd_becomes_qemus_list_form() -> None:
    """hostfwd given twice becomes a list of {"str": ...}, as QEMU 5.0+ netdev_add wants."""
    args = build_netdev_args(
        _schema(), "user", "u1", _opts("hostfwd=tcp:127.0.0.1:2222-:22", "hostfwd=udp::53-:53")
    )
    assert args["hostfwd"] == [{"str": "tcp:127.0.0.1:2222-:22"}, {"str": "udp::53-:53"}]
    assert args["type"] == "user" and args["id"] == "u1"


def test_bool_and_int_options_are_converted() -> None:
    """restrict=on becomes true and ipv6-prefixlen=64 an integer."""
    args = build_netdev_args(_schema(), "user", "u1", _opts("restrict=on", "ipv6-prefixlen=64"))
    assert args["restrict"] is True and args["ipv6-prefixlen"] == 64


def test_nested_union_option_uses_dotted_keys() -> None:
    """stream addr.type=inet selects the inet branch and its host/port members."""
    args = build_netdev_args(
        _schema(),
        "stream",
        "s1",
        _opts("addr.type=inet", "addr.host=127.0.0.1", "addr.port=5000", "server=off"),
    )
    assert args["addr"] == {"type": "inet", "host": "127.0.0.1", "port": "5000"}
    assert args["server"] is False


@pytest.mark.parametrize(
    ("backend", "options", "message"),
    [
        ("user", ("restrict=maybe",), r"-o restrict=maybe: expected on or off"),
        ("user", ("ipv6-prefixlen=x",), r"-o ipv6-prefixlen=x: expected an integer"),
        ("user", ("nosuch=1",), r"-o nosuch: unknown option here \(expected one of: restrict"),
        ("stream", ("server=on",), r"missing required option -o addr=\.\.\."),
        ("stream", ("addr=127.0.0.1",), r"-o addr: this option is an object"),
        ("stream", ("addr.type=tcp", "addr.host=h"), r"-o addr.type=tcp: expected one of inet"),
        ("bogus", (), r"backend 'bogus' is not available in this QEMU"),
    ],
)
def test_bad_options_give_one_line_naming_them(
    backend: str, options: tuple[str, ...], message: str
) -> None:
    """A wrong value, unknown key, missing member or unknown backend names the option."""
    with pytest.raises(UsageError, match=message) as err:
        build_netdev_args(_schema(), backend, "x1", _opts(*options))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("text", ["novalue", "=x", "a..b=1"])
def test_malformed_option_text(text: str) -> None:
    """-o without KEY=VALUE shape is refused naming the text."""
    with pytest.raises(UsageError, match="expected KEY=VALUE"):
        parse_option(text)


def test_without_schema_known_lists_and_bools_still_convert() -> None:
    """With no schema (old QEMU), hostfwd is still a list form and restrict a bool."""
    args = build_netdev_args(None, "user", "u1", _opts("hostfwd=tcp::1-:2", "restrict=off"))
    assert args == {
        "type": "user",
        "id": "u1",
        "hostfwd": [{"str": "tcp::1-:2"}],
        "restrict": False,
    }


# ---------------------------------------------------------------- plans
def test_plan_add_user_nic_commands_and_prediction() -> None:
    """user + virtio NIC: netdev_add then device_add with id, netdev, a fresh MAC; the NIC pair
    appears in the predicted topology."""
    plan = plan_add(_snap(), AddRequest("user", id="web"), PlanContext(schema=_schema()))
    assert [c.execute for c in plan.commands] == ["netdev_add", "device_add"]
    dev = plan.commands[1].arguments
    assert dev["driver"] == "virtio-net-pci" and dev["id"] == "web-nic" and dev["netdev"] == "web"
    assert dev["mac"] not in {"52:54:00:12:34:56", "52:54:00:aa:00:01"}
    pair = next(c for c in plan.after.clients if c.name == "web-nic")
    assert pair.peer is not None and pair.peer.name == "web" and pair.peer.type == "user"
    assert plan.expect_present == ("web", "web-nic")
    assert '"execute": "device_add"' in format_plan(plan)


def test_external_backend_into_nat_hub_is_critical_and_refused() -> None:
    """A socket joined to hub 0 (which holds NAT) creates nat-external-hub; refused unless force."""
    plan = plan_add(
        _snap(), AddRequest("socket", id="s1", hub=0, options=_opts("listen=127.0.0.1:4000"))
    )
    assert [c.execute for c in plan.commands] == ["netdev_add", "netdev_add"]
    assert plan.commands[1].arguments == {
        "type": "hubport",
        "id": "s1-port",
        "hubid": 0,
        "netdev": "s1",
    }
    assert [f.rule for f in plan.critical] == ["nat-external-hub"]
    with pytest.raises(HotplugError, match=r"nat-external-hub \(hub 0\).*NAT") as err:
        refuse_critical(plan, force=False)
    assert "--force" in str(err.value)
    refuse_critical(plan, force=True)


def test_adding_to_a_hub_that_already_leaks_is_refused() -> None:
    """Hub 0 already joins NAT and a socket: adding another socket (or a NIC) to it deepens the
    leak and is refused like creating it; adding a separate pair is not."""
    leak = _snap(LEAK)
    assert any(f.rule == "nat-external-hub" for f in rules.evaluate([leak]))
    plan = plan_add(leak, AddRequest("socket", id="s2", hub=0, options=_opts("listen=:4001")))
    assert [f.rule for f in plan.critical] == ["nat-external-hub"]
    assert "adds a member to hub 0" in plan.critical[0].message
    with pytest.raises(HotplugError, match="--force"):
        refuse_critical(plan, force=False)
    nic = plan_add(leak, AddRequest("hubport", id="hp0", hub=0), PlanContext(schema=_schema()))
    assert [f.rule for f in nic.critical] == ["nat-external-hub"]
    assert plan_add(leak, AddRequest("user", id="own")).critical == ()


def test_generated_mac_is_the_same_for_dry_run_and_apply() -> None:
    """Two plans of one add on one VM (the --dry-run, then the apply) choose the same MAC."""
    first = plan_add(_snap(), AddRequest("user", id="m1"))
    second = plan_add(_snap(), AddRequest("user", id="m1"))
    assert first.commands[1].arguments["mac"] == second.commands[1].arguments["mac"]
    assert first.commands == second.commands


def test_new_nic_on_a_hub_via_hubport() -> None:
    """hubport --hub 5: a new hub 5 with a port whose peer is the new NIC."""
    plan = plan_add(_snap(), AddRequest("hubport", id="hp5", hub=5), PlanContext(schema=_schema()))
    assert plan.commands[0].arguments == {"type": "hubport", "id": "hp5", "hubid": 5}
    hub = plan.after.hub(5)
    assert hub is not None and [p.peer.name for p in hub.ports if p.peer] == ["hp5-nic"]


def test_duplicate_id_is_refused_before_sending() -> None:
    """An id already used by a client of the VM is refused naming it."""
    with pytest.raises(UsageError, match="'u0' is already used"):
        plan_add(_snap(), AddRequest("user", id="u0"))


def test_unknown_model_refused_when_models_known() -> None:
    """A model not in the live QEMU's NIC list is refused naming it."""
    ctx = PlanContext(nic_models=frozenset({"e1000", "virtio-net-pci"}))
    with pytest.raises(UsageError, match="'nosuchnic' is not a NIC model"):
        plan_add(_snap(), AddRequest("user", device="nosuchnic"), ctx)


def test_q35_without_free_root_port_says_what_to_add() -> None:
    """On q35 with no free pcie-root-port the refusal names the -device line to add."""
    ctx = PlanContext(machine="pc-q35-7.2-machine", pci_models=frozenset({"virtio-net-pci"}))
    with pytest.raises(HotplugError, match=r"-device pcie-root-port,id=rp0,chassis=1,slot=1"):
        plan_add(_snap(), AddRequest("user"), ctx)


def test_q35_uses_a_free_root_port() -> None:
    """On q35 a PCI NIC goes on the first free root port (bus=); usb-net needs none."""
    ctx = PlanContext(
        machine="pc-q35-7.2-machine",
        pci_models=frozenset({"virtio-net-pci"}),
        free_root_ports=("rp2",),
        root_ports=("rp1", "rp2"),
    )
    plan = plan_add(_snap(), AddRequest("user"), ctx)
    assert plan.commands[1].arguments["bus"] == "rp2"
    usb = plan_add(_snap(), AddRequest("user", device="usb-net"), ctx)
    assert "bus" not in usb.commands[1].arguments


def test_plan_remove_deletes_nic_then_backend() -> None:
    """remove: device_del of the NIC, then netdev_del of its backend; both gone from the
    prediction. --keep-netdev leaves the backend as an unpaired client."""
    snap = _snap(qom_nics=(QomNic("/machine/peripheral/n0", "n0", "virtio-net-pci", "u0", None),))
    plan = plan_remove(snap, "n0")
    assert [(c.execute, c.arguments["id"]) for c in plan.commands] == [
        ("device_del", "n0"),
        ("netdev_del", "u0"),
    ]
    assert all(c.name not in {"n0", "u0"} for c in plan.after.clients)
    kept = plan_remove(snap, "n0", keep_netdev=True)
    assert len(kept.commands) == 1 and [c.name for c in kept.after.clients] == ["u0"]


def test_remove_of_an_id_less_nic_without_a_qom_path_is_refused() -> None:
    """A NIC with no device id and no QOM path found for it: refused, saying why."""
    snap = _snap(qom_nics=(QomNic("/machine/peripheral/n0", "n0", "virtio-net-pci", "u0", None),))
    with pytest.raises(UsageError, match="cannot be removed: it has no device id"):
        plan_remove(snap, "e1000.0", context=PlanContext(legacy_nics=()))


def test_remove_of_a_legacy_nic_uses_its_qom_path() -> None:
    """-net nic e1000.0 on hub 0: device_del of its /machine/unattached path (found by its hub
    port), no netdev_del (QEMU refuses it for -net ports), a note saying so."""
    legacy = QomNic("/machine/unattached/device[17]", "", "e1000", "hub0port0",
                    "52:54:00:12:34:56")
    plan = plan_remove(_snap(), "e1000.0", context=PlanContext(legacy_nics=(legacy,)))
    assert [c.to_json() for c in plan.commands] == [
        {"execute": "device_del", "arguments": {"id": "/machine/unattached/device[17]"}}
    ]
    assert plan.wait_deleted == "/machine/unattached/device[17]"
    assert plan.expect_absent == ("e1000.0",)
    assert any("netdev_del cannot delete" in n for n in plan.notes)
    hub = plan.after.hub(0)
    assert hub is not None and [p.peer for p in hub.ports if p.name == "hub0port0"] == [None]


def test_remove_of_a_nic_option_nic_deletes_its_backend_too() -> None:
    """-nic user makes a netdev (QEMU lets netdev_del delete it): the NIC goes by its QOM path,
    then its backend by name."""
    text = ("e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\r\n"
            " \\ #net015: index=0,type=user,net=10.0.2.0,restrict=off\r\n")
    legacy = QomNic("/machine/unattached/device[17]", "", "e1000", "#net015", "52:54:00:12:34:56")
    plan = plan_remove(_snap(text), "e1000.0", context=PlanContext(legacy_nics=(legacy,)))
    assert [c.to_json() for c in plan.commands] == [
        {"execute": "device_del", "arguments": {"id": "/machine/unattached/device[17]"}},
        {"execute": "netdev_del", "arguments": {"id": "#net015"}},
    ]


def test_link_plan_and_unknown_name() -> None:
    """link: one set_link command; a name not in info network is refused listing known ones."""
    plan = plan_link(_snap(), "n0", False)
    assert [c.to_json() for c in plan.commands] == [
        {"execute": "set_link", "arguments": {"name": "n0", "up": False}}
    ]
    with pytest.raises(UsageError, match="no NIC or netdev named 'zz'"):
        plan_link(_snap(), "zz", True)


def test_hubport_binds_an_unpaired_backend_into_a_hub() -> None:
    """hubport -o netdev=S binds the unpaired socket S into hub 0 (NAT): critical, and the
    predicted hub 0 holds S; a name that is not an unpaired backend is refused."""
    text = LEGACY + "s9: index=0,type=socket,\r\n"
    plan = plan_add(_snap(text), AddRequest("hubport", id="bp", hub=0, options=(("netdev", "s9"),)))
    assert [c.to_json() for c in plan.commands] == [
        {
            "execute": "netdev_add",
            "arguments": {"type": "hubport", "id": "bp", "hubid": 0, "netdev": "s9"},
        }
    ]
    hub = plan.after.hub(0)
    assert hub is not None and "s9" in {c.name for c in hub.peers}
    assert all(c.name != "s9" for c in plan.after.clients)
    assert [f.rule for f in plan.critical] == ["nat-external-hub"]
    with pytest.raises(UsageError, match="no unpaired backend named 'u0'"):
        plan_add(_snap(text), AddRequest("hubport", id="bp", hub=0, options=(("netdev", "u0"),)))


@given(st.integers(min_value=0, max_value=2**32))
def test_generated_macs_pass_the_user_mac_check(seed: int) -> None:
    """Whatever the generator draws, it is a MAC check_mac accepts (format, unicast, unused)."""
    mac = ids.generate_mac({"52:54:00:aa:00:01"}, random.Random(seed))
    assert ids.check_mac(mac, {"52:54:00:aa:00:01"}) == mac
