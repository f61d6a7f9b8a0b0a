"""qnetinspect.migrate: -net/-nic -> -netdev/-device with the same segments and MACs.

Pure tests check the rewrite; the ``qemu`` tests start the migrated command lines on the
installed QEMU and read ``info network`` back over QMP.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from test_argv_helpers import (
    capture_files,
    capture_id,
    load,
    localize,
    net_args_of,
    segments,
    startup_info_network,
    version_of,
)

from qnetinspect.migrate import migrate_argv
from qnetinspect.models import Severity, Snapshot, Topology
from qnetinspect.parse import parse_info_network
from qnetinspect.parse.argv import predict
from qnetinspect.rules import evaluate

SEED = ["qemu-system-x86_64", "-nodefaults", "-net", "nic,model=e1000", "-net", "nic,model=rtl8139",
        "-net", "user", "-net", "socket,listen=127.0.0.1:42000"]


def _rules(t: Topology) -> set[str]:
    return {f.rule for f in evaluate([Snapshot(target="t", topology=t, live=False)])}


def _legacy_options(argv: tuple[str, ...]) -> list[str]:
    return [
        f"{a} {b}" for a, b in itertools.pairwise(argv)
        if a in ("-net", "-nic") and b != "none"
    ]


# ----------------------------------------------------------------------------- pure
def test_one_nic_one_backend_becomes_a_direct_pair() -> None:
    """-net nic -net user is -netdev user + -device with the MAC QEMU gave; the rest stays."""
    r = migrate_argv(["qemu-system-x86_64", "-m", "512", "-nodefaults", "-net", "nic,model=virtio",
                      "-net", "user,hostfwd=tcp:127.0.0.1:2222-:22", "disk.img"])
    assert r.argv == (
        "qemu-system-x86_64", "-m", "512", "-nodefaults",
        "-netdev", "user,id=user0,hostfwd=tcp:127.0.0.1:2222-:22",
        "-device", "virtio-net-pci,netdev=user0,mac=52:54:00:12:34:56",
        "disk.img",
    )
    assert r.changes and r.errors == ()


def test_larger_hub_becomes_hubports_with_the_same_segment() -> None:
    """Two NICs + user + socket on hub 0 stay one segment, as -netdev hubport ports of hub 0."""
    r = migrate_argv(SEED)
    assert r.after is not None
    assert segments(r.after.topology) == segments(r.before.topology)
    assert _legacy_options(r.argv) == []
    assert [h.id for h in r.after.topology.hubs] == [0]
    assert "legacy-net" in _rules(r.before.topology)
    assert "legacy-net" not in _rules(r.after.topology)


def test_migrated_nics_precede_existing_devices_so_macs_and_names_hold() -> None:
    """A -device NIC before the -net options keeps its name and default MAC after the rewrite."""
    argv = ["-nodefaults", "-device", "e1000", "-net", "nic", "-net", "user", "-nic", "user"]
    r = migrate_argv(argv)
    assert r.after is not None
    assert segments(r.after.topology) == segments(r.before.topology)
    first_device = r.argv.index("-device")
    assert r.argv[first_device + 1].startswith("e1000,netdev=")  # a migrated NIC comes first


def test_user_chosen_backend_id_is_kept() -> None:
    """-net user,id=foo becomes -netdev user,id=foo (its name does not change)."""
    r = migrate_argv(["-nodefaults", "-net", "user,id=foo", "-net", "nic"])
    assert "user,id=foo" in r.argv


def test_nic_option_becomes_netdev_and_device() -> None:
    """-nic user,model=virtio,... is a -netdev user with the options and a virtio-net-pci."""
    r = migrate_argv(["-nodefaults", "-nic", "user,model=virtio,restrict=on"])
    assert r.argv == ("-nodefaults", "-netdev", "user,id=user0,restrict=on",
                      "-device", "virtio-net-pci,netdev=user0,mac=52:54:00:12:34:56")


def test_net_none_becomes_nic_none() -> None:
    """-net none keeps its meaning (no default network) as -nic none."""
    assert migrate_argv(["-net", "none"]).argv == ("-nic", "none")


def test_commas_are_escaped_and_the_line_shell_quoted() -> None:
    """Values keep ',,' escapes, and command_line quotes what the shell would split."""
    r = migrate_argv(["-nodefaults", "-net", "nic", "-net", "user,smb=/srv/a,,b,hostname=my host"])
    assert "user,id=user0,smb=/srv/a,,b,hostname=my host" in r.argv
    assert "'user,id=user0,smb=/srv/a,,b,hostname=my host'" in r.command_line


def test_default_network_is_written_out() -> None:
    """No network option and no -nodefaults: QEMU's implicit -net nic -net user becomes a pair."""
    r = migrate_argv(["qemu-system-x86_64", "-m", "256"])
    assert r.argv == ("qemu-system-x86_64", "-m", "256", "-netdev", "user,id=user0",
                      "-device", "e1000,netdev=user0,mac=52:54:00:12:34:56")


def test_modern_command_line_is_left_alone() -> None:
    """Nothing legacy: the argv comes back unchanged and 'changed' is false."""
    argv = ["-nodefaults", "-netdev", "user,id=u", "-device", "e1000,netdev=u"]
    r = migrate_argv(argv)
    assert r.argv == tuple(argv) and not r.changed


def test_refused_command_line_is_not_rewritten() -> None:
    """A command line QEMU would refuse comes back unchanged with QEMU's error."""
    argv = ["-nodefaults", "-net", "nic,name=x", "-net", "user"]
    r = migrate_argv(argv)
    assert r.argv == tuple(argv)
    assert [str(e) for e in r.errors] == ["-net nic,name=x: Invalid parameter 'name'"]


def test_split_gives_each_nic_its_own_backend() -> None:
    """--split on the seed: e1000 with user, rtl8139 with socket, no hub, no NAT+external mix."""
    r = migrate_argv(SEED, split=True)
    assert r.after is not None
    assert segments(r.after.topology) == [
        [("nic", "e1000.0", "52:54:00:12:34:56"), ("user", "", "")],
        [("nic", "rtl8139.0", "52:54:00:12:34:57"), ("socket", "", "")],
    ]
    assert "nat-external-hub" in _rules(r.before.topology)
    assert "nat-external-hub" not in _rules(r.after.topology)


def test_split_takes_apart_a_hubport_hub() -> None:
    """--split on a -netdev hubport hub rewires the -device in place and drops the hubports."""
    argv = ["-nodefaults", "-netdev", "hubport,id=hp_nic,hubid=3", "-device",
            "e1000,netdev=hp_nic,id=n3", "-netdev", "user,id=nat3", "-netdev",
            "hubport,id=hp_nat,hubid=3,netdev=nat3", "-netdev",
            "socket,id=sock3,listen=127.0.0.1:42008", "-netdev",
            "hubport,id=hp_sock,hubid=3,netdev=sock3"]
    r = migrate_argv(argv, split=True)
    # the socket had no NIC of its own: it gets a new one (after every existing NIC)
    assert r.argv[:7] == ("-nodefaults", "-device", "e1000,netdev=nat3,id=n3", "-netdev",
                          "user,id=nat3", "-netdev", "socket,id=sock3,listen=127.0.0.1:42008")
    assert r.argv[7] == "-device" and r.argv[8].startswith("e1000,netdev=sock3,mac=")
    assert any("gets a new NIC" in c for c in r.changes)
    assert _warnings(r.after.topology if r.after else None) <= {"socket-disconnected"}


def _warnings(t: Topology | None) -> set[str]:
    assert t is not None
    return {f.rule for f in evaluate([Snapshot(target="t", topology=t, live=False)])
            if f.severity >= Severity.WARNING}


def test_split_of_a_one_nic_leak_gives_the_guest_a_nic_per_network() -> None:
    """-net nic -net user -net socket: --split leaves no backend without a NIC (no
    dangling-backend), the new NIC has a non-default MAC, and lint of the result is clean."""
    argv = ["-nodefaults", "-net", "nic", "-net", "user", "-net", "socket,listen=127.0.0.1:42010"]
    r = migrate_argv(argv, split=True)
    assert r.errors == () and r.after is not None
    # the listening socket still waits for its peer, as before; nothing else is left
    assert _warnings(r.after.topology) == {"socket-disconnected"}
    assert len(r.after.topology.nics()) == 2
    assert segments(r.after.topology) == [
        [("nic", "e1000.0", "52:54:00:12:34:56"), ("user", "", "")],
        [("nic", "e1000.1", r.after.topology.nics()[1].mac or ""), ("socket", "", "")],
    ]


def test_split_gives_a_spare_nic_a_nat_of_its_own() -> None:
    """Three NICs, user and socket on hub 0: the third NIC gets its own user backend, not
    nothing (nic-without-backend) and not the leaking hub."""
    r = migrate_argv(["-nodefaults", "-net", "nic", "-net", "nic", "-net", "nic", "-net", "user",
                      "-net", "socket,listen=127.0.0.1:42011"], split=True)
    assert r.after is not None and r.after.topology.hubs == ()
    assert "nic-without-backend" not in _warnings(r.after.topology)
    assert any("NAT of its own" in c for c in r.changes)


def test_every_capture_migrates_to_the_same_segments() -> None:
    """All accepted captures: the migrated argv predicts the same segments, no -net/-nic left;
    --split leaves no NAT+external hub."""
    failed = []
    for path in capture_files():
        doc = load(path)
        if doc.get("outcome") != "ok" or not doc.get("argv"):
            continue
        plain = migrate_argv(doc["argv"], qemu_version=version_of(path))
        split = migrate_argv(doc["argv"], split=True, qemu_version=version_of(path))
        assert plain.after is not None and split.after is not None
        if plain.after.errors or segments(plain.after.topology) != segments(
            plain.before.topology
        ) or _legacy_options(plain.argv):
            failed.append(f"{capture_id(path)}: {plain.command_line}")
        if split.after.errors or "nat-external-hub" in _rules(split.after.topology):
            failed.append(f"{capture_id(path)} --split: {split.command_line}")
    assert failed == []


# ----------------------------------------------------------------------------- real QEMU
MIGRATED = [
    p for p in capture_files()
    if p.parent.name.startswith("qemu-7.2") and load(p).get("outcome") == "ok"
    and migrate_argv(load(p)["argv"]).changed | migrate_argv(load(p)["argv"], split=True).changed
]


async def _live_topology(start_vm: object, args: list[str]) -> Topology:
    """Start QEMU with ``args``, read its topology, stop it (its ports are free again)."""
    from test_argv_helpers import live_info_network

    from qnetinspect.errors import TargetError

    vm = start_vm(args)  # type: ignore[operator]
    try:
        return parse_info_network(await live_info_network(vm.qmp_path))
    except TargetError:
        vm.process.wait(10)
        raise AssertionError(f"QEMU refused {args}: {vm.output()}") from None
    finally:
        vm.stop()


@pytest.mark.qemu
async def test_migrated_captures_start_with_the_captured_segments(
    start_vm: object, qemu_dir: Path
) -> None:
    """Each migrated 7.2 capture starts on QEMU and shows the segments the capture showed;
    its --split form starts too and has no nat-external-hub finding."""
    failed = []
    for path in MIGRATED:
        doc = load(path)
        expected = segments(parse_info_network(startup_info_network(doc)))
        for split in (False, True):
            r = migrate_argv(doc["argv"], split=split, qemu_version=version_of(path))
            args = localize(net_args_of(r.argv), qemu_dir)
            live = await _live_topology(start_vm, args)
            if not split and segments(live) != expected:
                failed.append(f"{capture_id(path)}: {args} -> {segments(live)}")
            if split and "nat-external-hub" in _rules(live):
                failed.append(f"{capture_id(path)} --split: {args}")
            if "legacy-net" in _rules(live):
                failed.append(f"{capture_id(path)} still legacy: {args}")
    assert len(MIGRATED) >= 8
    assert failed == []


MIXED = [
    "-device e1000 -nic user,model=virtio -net nic,model=rtl8139 -net user"
    " -net socket,listen=127.0.0.1:{P} -netdev hubport,id=hx,hubid=0 -device e1000,netdev=hx",
    "-net nic,model=ne2k_pci,macaddr=52:54:00:12:34:58 -net nic -net user,id=lan"
    " -device virtio-net-pci -nic user,mac=52:54:00:12:34:56",
    "-net nic,model=virtio,vectors=4 -net nic,model=e1000,addr=0x9 -net user -nic hubport,hubid=4"
    " -netdev user,id=u4 -netdev hubport,id=p4,hubid=4,netdev=u4",
    "-net nic -net user -net tap,ifname=qnitap3,script=no,downscript=no -device rtl8139",
    "-net nic,model=rtl8139,netdev=u -netdev user,id=u -net nic -net user -net user",
]


@pytest.mark.qemu
async def test_mixed_command_lines_keep_their_live_segments(start_vm: object) -> None:
    """Original and migrated command lines, both run on QEMU, give the same segments."""
    from qnetinspect.vmrunner import free_loopback_port

    failed = []
    for case in MIXED:
        import shlex

        args = shlex.split(case.replace("{P}", str(free_loopback_port())))
        before = await _live_topology(start_vm, args)
        r = migrate_argv(["-nodefaults", *args])
        assert r.errors == () and r.after is not None
        after = await _live_topology(start_vm, list(r.argv[1:]))
        if segments(before) != segments(after) or segments(r.after.topology) != segments(after):
            failed.append(f"{case}\n  -> {r.command_line}\n  {segments(before)}\n  "
                          f"{segments(after)}")
    assert failed == []


def test_predicted_and_split_forms_differ_only_where_asked() -> None:
    """Without a NAT+external hub, --split gives the same command line as the plain rewrite."""
    argv = ["-nodefaults", "-net", "nic", "-net", "nic", "-net", "user"]
    assert migrate_argv(argv, split=True).argv == migrate_argv(argv).argv
    assert predict(list(migrate_argv(argv).argv)).errors == ()
