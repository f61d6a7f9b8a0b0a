"""Hot-plug on real QEMU: add, refuse, roll back, dry-run, remove, link, q35 root ports, audit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import StartQemu

from qnetinspect.cli import main
from qnetinspect.hotplug import (
    AddRequest,
    ApplyFailed,
    UnplugTimeout,
    apply_plan,
    plan_add,
    plan_link,
    plan_remove,
    read_context,
    read_snapshot,
)
from qnetinspect.hotplug.plan import PlanContext
from qnetinspect.parse import parse_info_network
from qnetinspect.qmp.session import QmpSession
from qnetinspect.vmrunner import QemuProcess, free_loopback_port

pytestmark = pytest.mark.qemu

Q35 = ("-M", "q35", "-S", "-nodefaults", "-display", "none")


@pytest.fixture(autouse=True)
def _state_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    # the NIC model cache is per QEMU version: keep it out of the user's home, but shared by
    # the tests of this run
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path.parent / "hotplug-cache"))
    yield tmp_path / "state" / "qnetinspect" / "audit.jsonl"


async def _info(vm: QemuProcess) -> str:
    async with QmpSession(str(vm.qmp_path)) as s:
        return await s.hmp("info network")


def _names(text: str) -> set[str]:
    topo = parse_info_network(text)
    names = {c.name for c in topo.iter_clients()}
    for hub in topo.hubs:
        names.update(p.name for p in hub.ports if p.name)
    return names


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_add_user_virtio_shows_up_in_info_network(
    start_vm: StartQemu, _state_dirs: Path
) -> None:
    """Adding user + virtio-net-pci works, is confirmed in info network and audited."""
    vm = start_vm([])
    async with QmpSession(str(vm.qmp_path)) as s:
        snap = await read_snapshot(s, "vm")
        ctx = await read_context(s, snap)
        plan = plan_add(
            snap, AddRequest("user", id="hu1", options=(("hostfwd", "tcp:127.0.0.1:0-:22"),)), ctx
        )
        result = await apply_plan(s, plan)
    assert result.topology is not None
    pair = next(c for c in result.topology.clients if c.name == "hu1-nic")
    assert pair.model == "virtio-net-pci" and pair.peer is not None and pair.peer.name == "hu1"
    assert {"hu1", "hu1-nic"} <= _names(await _info(vm))
    entry = json.loads(_state_dirs.read_text().splitlines()[-1])
    assert entry["result"] == "ok" and entry["target"] == "vm"
    assert [c["execute"] for c in entry["commands"]] == ["netdev_add", "device_add"]


def test_external_into_nat_hub_refused_then_forced(
    start_vm: StartQemu, capsys: pytest.CaptureFixture[str]
) -> None:
    """socket listen joined to hub 0 (legacy NIC + NAT) is refused naming NAT and hub 0; nothing
    is sent; with --force it is applied and hub 0 then holds the socket."""
    vm = start_vm(["-net", "nic", "-net", "user"])
    sock = str(vm.qmp_path)
    import anyio

    before = anyio.run(_info, vm)
    args = [
        "add",
        sock,
        "socket",
        "--id",
        "sx",
        "-o",
        f"listen=127.0.0.1:{free_loopback_port()}",
        "--hub",
        "0",
    ]
    code, out, err = _cli(capsys, *args, "--yes")
    assert code == 1
    assert "nat-external-hub" in err and "NAT" in err and "hub 0" in err
    assert err.count("\n") == 1
    assert '"netdev_add"' in out  # the plan is printed first
    assert anyio.run(_info, vm) == before
    code, out, err = _cli(capsys, *args, "--yes", "--force")
    assert code == 0, err
    hub = parse_info_network(anyio.run(_info, vm)).hub(0)
    assert hub is not None and "sx" in {c.name for c in hub.peers}


async def test_failing_device_add_rolls_back_the_netdev(
    start_vm: StartQemu, _state_dirs: Path
) -> None:
    """device_add of an unknown model fails: the new netdev is deleted again, the error names
    the model, and the audit log records the rollback."""
    vm = start_vm(["-netdev", "user,id=keep", "-device", "e1000,netdev=keep,id=k0"])
    before = await _info(vm)
    async with QmpSession(str(vm.qmp_path)) as s:
        snap = await read_snapshot(s, "vm")
        # a context without the model list: the plan does not catch the model, QEMU does
        plan = plan_add(snap, AddRequest("user", id="half", device="nosuchnic"), PlanContext())
        with pytest.raises(ApplyFailed, match="nosuchnic") as err:
            await apply_plan(s, plan)
    assert [c.execute for c in err.value.rolled_back] == ["netdev_del"]
    after = await _info(vm)
    assert "half" not in _names(after) and after == before
    entry = json.loads(_state_dirs.read_text().splitlines()[-1])
    assert entry["result"] == "failed" and entry["rollback"][0]["arguments"] == {"id": "half"}


def test_dry_run_changes_nothing(start_vm: StartQemu, capsys: pytest.CaptureFixture[str]) -> None:
    """--dry-run prints the exact QMP commands and leaves info network byte-identical."""
    import anyio

    vm = start_vm(["-netdev", "user,id=u0", "-device", "e1000,netdev=u0,id=n0"])
    before = anyio.run(_info, vm)
    code, out, _ = _cli(capsys, "add", str(vm.qmp_path), "user", "--id", "dry", "--dry-run")
    assert code == 0
    assert '{"execute": "netdev_add", "arguments": {"type": "user", "id": "dry"}}' in out
    assert "nothing was sent" in out
    assert anyio.run(_info, vm) == before


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--id", "9lives"], "--id '9lives' is not a valid QEMU id"),
        (["--id", "u0"], "id 'u0' is already used"),
        (["-o", "restrict=maybe"], "-o restrict=maybe: expected on or off"),
        (["-o", "bogus=1"], "-o bogus: unknown option here"),
        (["--mac", "01:00:5e:00:00:01"], "multicast"),
        (["--device", "nosuchnic"], "'nosuchnic' is not a NIC model of QEMU 7.2"),
    ],
)
def test_bad_input_gives_one_clear_line(
    start_vm: StartQemu, capsys: pytest.CaptureFixture[str], extra: list[str], needle: str
) -> None:
    """A bad id, option, MAC or model gives exit 2 and one stderr line naming it."""
    vm = start_vm(["-netdev", "user,id=u0", "-device", "e1000,netdev=u0,id=n0"])
    code, _, err = _cli(capsys, "add", str(vm.qmp_path), "user", *extra, "--yes")
    assert code == 2
    assert needle in err and err.count("\n") == 1


def test_no_tty_and_no_yes_is_refused(
    start_vm: StartQemu, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --yes and without a terminal the change is refused, nothing sent."""
    import io

    import anyio

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    vm = start_vm([])
    code, _, err = _cli(capsys, "add", str(vm.qmp_path), "user", "--id", "ask")
    assert code == 2 and "stdin is not a terminal (pass --yes)" in err
    assert anyio.run(_info, vm) == ""


def test_remove_usb_net_completes(start_vm: StartQemu, capsys: pytest.CaptureFixture[str]) -> None:
    """usb-net unplugs at once (DEVICE_DELETED), then its backend is deleted: nothing is left."""
    import anyio

    vm = start_vm(
        ["-device", "qemu-xhci", "-netdev", "user,id=ub", "-device", "usb-net,netdev=ub,id=usbn"]
    )
    code, out, err = _cli(capsys, "remove", str(vm.qmp_path), "usbn", "--yes")
    assert code == 0, err
    assert '"device_del"' in out and "done: remove" in out
    assert anyio.run(_info, vm) == ""


async def test_remove_pci_nic_in_paused_guest_times_out_with_reason(start_vm: StartQemu) -> None:
    """A PCI NIC in a paused (prelaunch) guest is never released: the timeout says why, the
    backend is left alone; --keep-netdev only requests the unplug."""
    vm = start_vm(["-netdev", "user,id=pb", "-device", "e1000,netdev=pb,id=pn"])
    async with QmpSession(str(vm.qmp_path)) as s:
        snap = await read_snapshot(s, "vm")
        ctx = await read_context(s, snap)
        plan = plan_remove(snap, "pn", context=ctx)
        assert any("prelaunch" in n for n in plan.notes)
        with pytest.raises(UnplugTimeout, match="running guest OS") as err:
            await apply_plan(s, plan, unplug_timeout=0.3)
        assert "--keep-netdev" in str(err.value) and "netdev_del pb was not sent" in str(err.value)
        kept = plan_remove(snap, "pn", keep_netdev=True, context=ctx)
        result = await apply_plan(s, kept, unplug_timeout=0.3)
    assert result.pending
    assert {"pn", "pb"} <= _names(await _info(vm))


async def test_link_down_and_up(start_vm: StartQemu, _state_dirs: Path) -> None:
    """set_link down then up is accepted for a NIC and both are audited; an unknown name is not
    sent."""
    vm = start_vm(["-netdev", "user,id=lu", "-device", "virtio-net-pci,netdev=lu,id=ln"])
    async with QmpSession(str(vm.qmp_path)) as s:
        snap = await read_snapshot(s, "vm")
        for up in (False, True):
            await apply_plan(s, plan_link(snap, "ln", up))
    lines = [json.loads(line) for line in _state_dirs.read_text().splitlines()]
    # each change: its intent, each command before and after, then the outcome
    assert [e["result"] for e in lines] == ["intent", "sending", "sent", "ok"] * 2
    entries = [e for e in lines if "step" not in e and e["result"] != "intent"]
    assert [e["commands"][0]["arguments"]["up"] for e in entries] == [False, True]
    assert all(e["result"] == "ok" for e in entries)


def test_link_cli_unknown_name(start_vm: StartQemu, capsys: pytest.CaptureFixture[str]) -> None:
    """link on a name that is not in info network exits 2 naming it."""
    vm = start_vm(["-netdev", "user,id=lu", "-device", "virtio-net-pci,netdev=lu,id=ln"])
    code, _, err = _cli(capsys, "link", str(vm.qmp_path), "nope", "down", "--yes")
    assert code == 2 and "no NIC or netdev named 'nope'" in err


async def test_q35_add_uses_free_root_port(start_vm: StartQemu) -> None:
    """On q35 the NIC goes on the free pcie-root-port (not the busy one) and shows up."""
    vm = start_vm(
        [
            "-device",
            "pcie-root-port,id=rp1,chassis=1,slot=1",
            "-device",
            "pcie-root-port,id=rp2,chassis=2,slot=2",
            "-netdev",
            "user,id=busy",
            "-device",
            "virtio-net-pci,netdev=busy,bus=rp1,id=bn",
        ],
        base_args=Q35,
    )
    async with QmpSession(str(vm.qmp_path)) as s:
        snap = await read_snapshot(s, "vm")
        ctx = await read_context(s, snap)
        assert ctx.is_q35 and ctx.free_root_ports == ("rp2",)
        plan = plan_add(snap, AddRequest("user", id="qn"), ctx)
        assert plan.commands[1].arguments["bus"] == "rp2"
        await apply_plan(s, plan)
    assert {"qn", "qn-nic"} <= _names(await _info(vm))


def test_q35_without_root_port_says_what_to_add(
    start_vm: StartQemu, capsys: pytest.CaptureFixture[str]
) -> None:
    """On q35 with no pcie-root-port the add is refused with the -device line to add."""
    import anyio

    vm = start_vm([], base_args=Q35)
    code, _, err = _cli(capsys, "add", str(vm.qmp_path), "user", "--yes")
    assert code == 1
    assert "pcie.0 is not hot-pluggable" in err
    assert "-device pcie-root-port,id=rp0,chassis=1,slot=1" in err
    assert anyio.run(_info, vm) == ""


def test_remove_cli_paused_guest_explains_and_keep_netdev_requests(
    start_vm: StartQemu, capsys: pytest.CaptureFixture[str]
) -> None:
    """remove of a PCI NIC in a paused guest exits 1 explaining the guest must release it;
    with --keep-netdev it only requests the unplug and exits 0."""
    vm = start_vm(["-netdev", "user,id=pb", "-device", "virtio-net-pci,netdev=pb,id=pn"])
    code, out, err = _cli(capsys, "remove", str(vm.qmp_path), "pn", "--yes", "--timeout", "0.3")
    assert code == 1 and "guest OS" in err and "--keep-netdev" in err
    assert "prelaunch" in out  # the plan warns before anything is sent
    code, out, err = _cli(
        capsys, "remove", str(vm.qmp_path), "pn", "--yes", "--timeout", "0.3", "--keep-netdev"
    )
    assert code == 0, err
    assert "requested: QEMU has not released pn" in out


def test_new_mac_avoids_macs_of_other_vms(
    start_vm: StartQemu, capsys: pytest.CaptureFixture[str]
) -> None:
    """--mac equal to a NIC's MAC in another VM given with --with is refused."""
    other = start_vm(["-netdev", "user,id=o", "-device", "e1000,netdev=o,mac=52:54:00:ab:cd:ef"])
    vm = start_vm([])
    code, _, err = _cli(
        capsys,
        "add",
        str(vm.qmp_path),
        "user",
        "--mac",
        "52:54:00:AB:CD:EF",
        "--with",
        str(other.qmp_path),
        "--dry-run",
    )
    assert code == 2 and "already used by another NIC" in err


def test_add_to_a_hub_that_already_leaks_is_refused(
    start_vm: StartQemu, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hub 0 already joins NAT and a listening socket: another socket on hub 0 deepens the leak,
    so it is refused (exit 1, nothing sent) until --force."""
    import anyio

    vm = start_vm(["-net", "nic", "-net", "user",
                   "-net", f"socket,listen=127.0.0.1:{free_loopback_port()}"])
    before = anyio.run(_info, vm)
    args = ["add", str(vm.qmp_path), "socket", "--id", "SOCK", "--hub", "0",
            "-o", f"listen=127.0.0.1:{free_loopback_port()}", "--yes"]
    code, out, err = _cli(capsys, *args)
    assert code == 1, out
    assert "refused" in err and "nat-external-hub" in err and "adds a member to hub 0" in err
    assert anyio.run(_info, vm) == before
    code, _, err = _cli(capsys, *args, "--force")
    assert code == 0, err
    hub = parse_info_network(anyio.run(_info, vm)).hub(0)
    assert hub is not None and "SOCK" in {c.name for c in hub.peers}


def test_dry_run_shows_the_mac_and_ids_that_are_applied(
    start_vm: StartQemu, capsys: pytest.CaptureFixture[str]
) -> None:
    """add --dry-run, then the same add applied: the same commands (ids, MAC), and info network
    shows that MAC on that NIC."""
    import anyio

    vm = start_vm(["-netdev", "user,id=u0", "-device", "e1000,netdev=u0,id=n0"])
    code, dry, _ = _cli(capsys, "add", str(vm.qmp_path), "user", "--dry-run")
    assert code == 0 and "nothing was sent" in dry
    code, applied, err = _cli(capsys, "add", str(vm.qmp_path), "user", "--yes")
    assert code == 0, err

    def commands(out: str) -> list[str]:
        return [line.strip() for line in out.splitlines() if line.strip().startswith("{")]

    assert commands(dry) == commands(applied) and len(commands(dry)) == 2
    device = json.loads(commands(applied)[1])["arguments"]
    nic = next(c for c in parse_info_network(anyio.run(_info, vm)).nics()
               if c.name == device["id"])
    assert nic.mac == device["mac"]


@pytest.fixture(scope="session")
def guest_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(kernel, initramfs) of the tiny test guest; CI must have them (.ci/run fetches them)."""
    import os

    from guest import build_initramfs, ensure_guest_files

    files = ensure_guest_files()
    if files is None:
        if os.environ.get("CI"):
            pytest.fail("no guest kernel/busybox for the unplug test: .ci/run fetches them")
        pytest.skip("no guest kernel/busybox (python3 tests/guest.py fetches them with apt)")
    kernel, busybox = files
    return kernel, build_initramfs(busybox, tmp_path_factory.mktemp("guest") / "initrd.cpio")


def _wait_for_guest(log: Path, timeout: float = 300.0) -> None:
    import time

    from guest import READY

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and READY in log.read_bytes():
            return
        time.sleep(0.2)
    tail = log.read_bytes()[-500:] if log.exists() else b""
    raise AssertionError(f"the guest did not boot: {tail!r}")


def test_remove_legacy_nic_on_a_running_guest_completes(
    start_vm: StartQemu, qemu_dir: Path, guest_files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A -net nic NIC (no device id) on a running Linux guest: --dry-run and the apply send the
    same device_del of its QOM path; the guest acknowledges, the NIC is gone from info network
    and its legacy hub port stays. A -nic NIC goes the same way, with its backend."""
    import anyio
    from guest import guest_args

    kernel, initrd = guest_files
    log = qemu_dir / "console.log"
    base = ("-M", "pc", "-nodefaults", "-display", "none", *guest_args(kernel, initrd, log))
    vm = start_vm(["-net", "nic", "-net", "user", "-net", "nic,model=rtl8139",
                   "-nic", "user,model=virtio-net-pci"], base_args=base)
    _wait_for_guest(log)
    code, dry, err = _cli(capsys, "remove", str(vm.qmp_path), "e1000.0", "--dry-run")
    assert code == 0, err
    assert '"device_del", "arguments": {"id": "/machine/unattached/device[' in dry
    assert "not running" not in dry
    code, out, err = _cli(capsys, "remove", str(vm.qmp_path), "e1000.0", "--yes",
                          "--timeout", "120")
    assert code == 0, err
    assert "done: remove" in out
    plan = [line for line in out.splitlines() if line.strip().startswith("{")]
    assert plan == [line for line in dry.splitlines() if line.strip().startswith("{")]
    topo = parse_info_network(anyio.run(_info, vm))
    assert "e1000.0" not in {c.name for c in topo.nics()}
    hub = topo.hub(0)
    assert hub is not None and [p.peer for p in hub.ports if p.name == "hub0port0"] == [None]
    assert {c.name for c in topo.nics()} == {"rtl8139.0", "virtio-net-pci.0"}
    # a -nic NIC: by its QOM path too, and its backend (a netdev to QEMU) is deleted after it
    code, out, err = _cli(capsys, "remove", str(vm.qmp_path), "virtio-net-pci.0", "--yes",
                          "--timeout", "120")
    assert code == 0, err
    assert '"netdev_del"' in out and "done: remove" in out
    topo = parse_info_network(anyio.run(_info, vm))
    assert {c.name for c in topo.nics()} == {"rtl8139.0"}
    assert topo.clients == ()


def test_remove_legacy_nic_of_a_paused_guest_says_it_waits_for_the_guest(
    start_vm: StartQemu, capsys: pytest.CaptureFixture[str]
) -> None:
    """Paused (prelaunch) guest: the plan says the unplug completes only when a running guest
    acknowledges it; device_del of the QOM path is accepted and left pending (exit 0)."""
    import anyio

    vm = start_vm(["-net", "nic", "-net", "user"])
    code, out, err = _cli(capsys, "remove", str(vm.qmp_path), "e1000.0", "--yes",
                          "--timeout", "0.3")
    assert code == 0, err
    assert "the guest is prelaunch, not running" in out and "/machine/unattached/device[" in out
    assert "requested: QEMU has not released" in out
    assert "e1000.0" in _names(anyio.run(_info, vm))
