"""Cross-VM segments through a listening socket, matched by the listener's command line."""

from __future__ import annotations

import json

import pytest

from qnetinspect.cli import main
from qnetinspect.vmrunner import free_loopback_port
from tests.conftest import StartQemu


@pytest.mark.qemu
def test_socket_listener_and_connector_share_a_segment(
    start_vm: StartQemu, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two VMs joined by socket listen/connect with one MAC give a critical duplicate-mac."""
    port = free_loopback_port()
    mac = "52:54:00:aa:bb:01"
    listener = start_vm(
        [
            "-netdev",
            f"socket,id=s0,listen=127.0.0.1:{port}",
            "-device",
            f"e1000,netdev=s0,id=n0,mac={mac}",
        ],
        name="lis",
        vm_name="listener",
    )
    connector = start_vm(
        [
            "-netdev",
            f"socket,id=s1,connect=127.0.0.1:{port}",
            "-device",
            f"e1000,netdev=s1,id=n1,mac={mac}",
        ],
        name="con",
        vm_name="connector",
    )
    code = main(["check", "--format", "json", str(listener.qmp_path), str(connector.qmp_path)])
    out = json.loads(capsys.readouterr().out)
    dup = [f for f in out["findings"] if f["rule"] == "duplicate-mac"]
    assert code == 2
    assert dup and all(f["severity"] == "critical" for f in dup)
    assert {f["target"] for f in dup} == {str(listener.qmp_path), str(connector.qmp_path)}


@pytest.mark.qemu
def test_vms_on_separate_nats_with_one_mac_are_no_finding(
    start_vm: StartQemu, capsys: pytest.CaptureFixture[str]
) -> None:
    """QEMU's default MAC in two VMs that each have only a user NAT: the MACs never meet (each
    slirp is its own network), so no duplicate-mac; two VMs on unjoined sockets with that MAC
    are a warning that names only each other."""
    from qnetinspect.vmrunner import free_loopback_port

    a = start_vm(["-netdev", "user,id=u0", "-device", "e1000,netdev=u0"], name="a")
    b = start_vm(["-net", "nic", "-net", "user"], name="b")
    main(["check", "--format", "json", str(a.qmp_path), str(b.qmp_path)])
    out = json.loads(capsys.readouterr().out)
    assert [f for f in out["findings"] if f["rule"] == "duplicate-mac"] == []
    assert all(f["rule"] != "duplicate-mac" for t in out["targets"] for f in t["findings"])

    c, d = (
        start_vm(["-netdev", f"socket,id=s,listen=127.0.0.1:{free_loopback_port()}",
                  "-device", "e1000,netdev=s"], name=n)
        for n in ("c", "d")
    )
    main(["check", "--format", "json", *(str(v.qmp_path) for v in (a, b, c, d))])
    out = json.loads(capsys.readouterr().out)
    dup = [f for f in out["findings"] if f["rule"] == "duplicate-mac"]
    assert {f["target"] for f in dup} == {str(c.qmp_path), str(d.qmp_path)}
    assert all(f["severity"] == "warning" for f in dup)
    named = {t["target"]: t["vm"]["name"] or t["target"] for t in out["targets"]}
    for f in dup:
        other = named[str(d.qmp_path if f["target"] == str(c.qmp_path) else c.qmp_path)]
        assert f"as {other}/e1000.0, on separate segments" in f["message"], f["message"]
