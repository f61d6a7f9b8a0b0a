"""Properties of predict() and migrate_argv() over generated QEMU command lines (pure)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_argv_helpers import segments

from qnetinspect.migrate import migrate_argv
from qnetinspect.models import Snapshot
from qnetinspect.parse.argv import predict
from qnetinspect.rules import evaluate

# Repeated entries weigh the draw towards command lines QEMU accepts; the odd ones stay.
IDS = ["a", "b", "c", "d", "e", "f", "g", "hub0port0", "0x"]
BACKENDS = ["user", "user", "user,restrict=on", "socket,listen=127.0.0.1:40001",
            "socket,listen=127.0.0.1:40001", "tap,ifname=qnitap1", "tap,ifname=qnitap1",
            "stream,server=on,addr.type=inet,addr.host=127.0.0.1,addr.port=40002", "bogus"]
MODELS = ["", "", ",model=virtio", ",model=rtl8139", ",model=e1000e", ",model=usb-net"]
MACS = ["", ",mac=52:54:00:12:34:57", ",mac=52:54:00:aa:00:01"]


@st.composite
def option(draw: st.DrawFn) -> list[str]:
    kind = draw(st.sampled_from(["net-nic", "net-nic", "net-nic", "net-backend", "net-backend",
                                 "netdev", "nic", "nic", "device", "device", "hubport",
                                 "bound-hubport", "none", "junk"]))
    ident = draw(st.sampled_from(IDS))
    backend = draw(st.sampled_from(BACKENDS))
    model = draw(st.sampled_from(MODELS))
    mac = draw(st.sampled_from(MACS))
    hub = draw(st.integers(0, 2))
    if kind == "net-nic":
        return ["-net", "nic" + model + mac.replace("mac=", "macaddr=")]
    if kind == "net-backend":
        return ["-net", backend + draw(st.sampled_from(["", f",id={ident}"]))]
    if kind == "netdev":
        return ["-netdev", f"{backend},id={ident}"]
    if kind == "nic":
        return ["-nic", backend + model + mac]
    if kind == "device":
        netdev = draw(st.sampled_from(["", *(f",netdev={i}" for i in IDS)]))
        return ["-device", draw(st.sampled_from(["e1000", "virtio-net-pci", "rtl8139"])) + netdev
                + mac]
    if kind == "hubport":
        return ["-netdev", f"hubport,id={ident},hubid={hub}"]
    if kind == "bound-hubport":
        other = draw(st.sampled_from(IDS))
        return ["-netdev", f"hubport,id={ident},hubid={hub},netdev={other}"]
    if kind == "none":
        return [draw(st.sampled_from(["-net", "-nic"])), "none"]
    return [draw(st.sampled_from(["-net", "-netdev", "-m", "-nodefaults"])),
            draw(st.sampled_from(["", ",", "=", "nic,,x", "{", "512"]))]


argvs = st.lists(option(), max_size=7).map(
    lambda opts: ["qemu-system-x86_64", "-nodefaults", *(x for o in opts for x in o)]
)


def _rules(topology: object) -> set[str]:
    snap = Snapshot(target="t", topology=topology, live=False)  # type: ignore[arg-type]
    return {f.rule for f in evaluate([snap])}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argvs)
def test_migration_keeps_segments_or_says_why(argv: list[str]) -> None:
    """predict/migrate never raise; an accepted argv migrates to the same segments with no
    -net/-nic left; a refused one comes back unchanged with QEMU's errors."""
    before = predict(argv)
    result = migrate_argv(argv)
    if before.errors:
        assert result.argv == tuple(argv) and result.errors == before.errors
        return
    assert result.errors == ()
    assert not before.errors and result.after is not None
    assert segments(result.after.topology) == segments(before.topology)
    assert not any(
        a in ("-net", "-nic") and b != "none"
        for a, b in zip(result.argv, result.argv[1:], strict=False)
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argvs)
def test_split_leaves_no_nat_external_hub(argv: list[str]) -> None:
    """--split output (when the input is accepted) has no nat-external-hub finding."""
    result = migrate_argv(argv, split=True)
    if predict(argv).errors:
        return
    assert result.errors == () and result.after is not None
    assert "nat-external-hub" not in _rules(result.after.topology)
