"""Acceptance: the rules on real QEMU 7.2 processes read over QMP (info network, info usernet)."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from qnetinspect.models import Finding, Severity, Snapshot, VmInfo
from qnetinspect.parse import parse_info_network, parse_usernet
from qnetinspect.qmp.session import QmpSession
from qnetinspect.rules import evaluate
from qnetinspect.vmrunner import QemuProcess, free_loopback_port

pytestmark = pytest.mark.qemu

StartVm = Callable[..., QemuProcess]


async def _snapshot(vm: QemuProcess, name: str | None = None) -> Snapshot:
    async with QmpSession(str(vm.qmp_path)) as qmp:
        text = await qmp.hmp("info network")
        usernet = await qmp.hmp("info usernet")
    topology = parse_info_network(text)
    assert not topology.unparsed, text
    return Snapshot(
        target=str(vm.qmp_path),
        vm=VmInfo(name=name),
        topology=topology,
        usernet=parse_usernet(usernet),
        info_network_raw=text,
    )


def _of(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


async def test_seed_legacy_mix_is_critical_on_hub_0(start_vm: StartVm) -> None:
    """-net nic -net user -net nic -net socket,listen gives nat-external-hub critical on hub 0."""
    port = free_loopback_port()
    vm = start_vm(
        ["-net", "nic", "-net", "user", "-net", "nic", "-net", f"socket,listen=127.0.0.1:{port}"]
    )
    snap = await _snapshot(vm, "seed")
    (f,) = _of(evaluate([snap]), "nat-external-hub")
    assert f.severity is Severity.CRITICAL and f.hub == 0
    assert snap.topology is not None
    hub = snap.topology.hub(0)
    assert hub is not None
    by_type = {c.type: c.name for c in hub.backends}
    assert f.clients == (by_type["user"], by_type["socket"])
    assert f.message.startswith("seed: hub 0 ")
    assert "-netdev user,id=nat0" in f.fix and "-netdev socket,id=ext0,listen=" in f.fix


async def test_hubport_mix_is_critical_on_hub_3(start_vm: StartVm) -> None:
    """The same mix made of -netdev hubport netdevs on hub 3 is reported on hub 3."""
    port = free_loopback_port()
    vm = start_vm(
        [
            "-netdev", "hubport,id=hp_nic,hubid=3",
            "-device", "e1000,netdev=hp_nic,id=n3",
            "-netdev", "user,id=nat3",
            "-netdev", "hubport,id=hp_nat,hubid=3,netdev=nat3",
            "-netdev", f"socket,id=sock3,listen=127.0.0.1:{port}",
            "-netdev", "hubport,id=hp_sock,hubid=3,netdev=sock3",
        ]
    )  # fmt: skip
    (f,) = _of(evaluate([await _snapshot(vm)]), "nat-external-hub")
    assert (f.severity, f.hub, f.clients) == (Severity.CRITICAL, 3, ("nat3", "sock3"))
    assert "hp_sock, hp_nat, hp_nic" in f.fix


async def test_nat_and_external_kept_apart_give_none(start_vm: StartVm) -> None:
    """NAT and external backends on separate pairs and separate hubs give no nat-external-hub."""
    p1, p2 = free_loopback_port(), free_loopback_port()
    vm = start_vm(
        [
            "-netdev", "user,id=nat0", "-device", "e1000,netdev=nat0",
            "-netdev", f"socket,id=ext0,listen=127.0.0.1:{p1}", "-device", "e1000,netdev=ext0",
            "-netdev", "hubport,id=h1n,hubid=1", "-device", "e1000,netdev=h1n",
            "-netdev", "user,id=u1", "-netdev", "hubport,id=h1u,hubid=1,netdev=u1",
            "-netdev", "hubport,id=h2n,hubid=2", "-device", "e1000,netdev=h2n",
            "-netdev", f"socket,id=s2,listen=127.0.0.1:{p2}",
            "-netdev", "hubport,id=h2s,hubid=2,netdev=s2",
        ]
    )  # fmt: skip
    found = evaluate([await _snapshot(vm)])
    assert _of(found, "nat-external-hub") == []
    assert _of(found, "bridged-externals") == []
    assert {f.hub for f in _of(found, "socket-disconnected")} == {None, 2}


async def test_nic_without_backend_is_reported(start_vm: StartVm) -> None:
    """A -device NIC with no netdev is reported by nic-without-backend."""
    vm = start_vm(["-device", "e1000,id=lonely"])
    (f,) = _of(evaluate([await _snapshot(vm)]), "nic-without-backend")
    assert (f.severity, f.hub, f.clients) == (Severity.WARNING, None, ("lonely",))


async def test_two_nics_one_mac_are_reported(start_vm: StartVm) -> None:
    """Two NICs with one MAC in one VM are reported by duplicate-mac."""
    vm = start_vm(
        [
            "-netdev", "user,id=d0", "-device", "e1000,netdev=d0,id=dA,mac=52:54:00:12:34:56",
            "-netdev", "user,id=d1", "-device", "rtl8139,netdev=d1,id=dB,mac=52:54:00:12:34:56",
        ]
    )  # fmt: skip
    (f,) = _of(evaluate([await _snapshot(vm)]), "duplicate-mac")
    assert (f.severity, f.clients) == (Severity.WARNING, ("dA", "dB"))


async def test_duplicate_mac_across_vms_joined_by_dgram_is_critical(start_vm: StartVm) -> None:
    """Two VMs linked by a dgram pair, both with the default MAC, are critical in both."""
    pa, pb = free_loopback_port(socket.SOCK_DGRAM), free_loopback_port(socket.SOCK_DGRAM)

    def dgram(local: int, remote: int) -> list[str]:
        return [
            "-netdev",
            f"dgram,id=dg,local.type=inet,local.host=127.0.0.1,local.port={local},"
            f"remote.type=inet,remote.host=127.0.0.1,remote.port={remote}",
            "-device", "virtio-net-pci,netdev=dg,id=dgn",
        ]  # fmt: skip

    a = await _snapshot(start_vm(dgram(pa, pb)), "vmA")
    b = await _snapshot(start_vm(dgram(pb, pa)), "vmB")
    found = _of(evaluate([a, b]), "duplicate-mac")
    assert [(f.target, f.severity, f.clients) for f in found] == sorted(
        [(a.target, Severity.CRITICAL, ("dgn",)), (b.target, Severity.CRITICAL, ("dgn",))]
    )
    assert "vmB/dgn" in next(f.message for f in found if f.target == a.target)


async def test_hostfwd_on_every_address_is_reported(start_vm: StartVm) -> None:
    """hostfwd=tcp::PORT-:22 is read from info usernet and reported."""
    port = free_loopback_port()
    vm = start_vm(
        ["-netdev", f"user,id=u,hostfwd=tcp::{port}-:22", "-device", "virtio-net-pci,netdev=u"]
    )
    (f,) = _of(evaluate([await _snapshot(vm)]), "hostfwd-all-addresses")
    assert (f.severity, f.clients) == (Severity.WARNING, ("u",))
    assert str(port) in f.message
    assert f"hostfwd=tcp:127.0.0.1:{port}-:22" in f.fix


async def test_clean_vm_has_no_critical_or_warning(start_vm: StartVm) -> None:
    """A virtio NIC on its own user backend, loopback-only hostfwd, own MAC: nothing above info."""
    port = free_loopback_port()
    vm = start_vm(
        [
            "-netdev", f"user,id=net0,hostfwd=tcp:127.0.0.1:{port}-:22",
            "-device", "virtio-net-pci,netdev=net0,id=nic0,mac=52:54:00:5e:a1:07",
        ]
    )  # fmt: skip
    found = evaluate([await _snapshot(vm)])
    assert [f for f in found if f.severity >= Severity.WARNING] == []
    assert found == []
