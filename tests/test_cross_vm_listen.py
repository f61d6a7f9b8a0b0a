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
def test_unrelated_vms_with_one_mac_are_only_a_warning(
    start_vm: StartQemu, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same MAC in two VMs that share no segment is a warning, not critical."""
    mac = "52:54:00:aa:bb:02"
    a = start_vm(["-netdev", "user,id=u0", "-device", f"e1000,netdev=u0,mac={mac}"], name="a")
    b = start_vm(["-netdev", "user,id=u1", "-device", f"e1000,netdev=u1,mac={mac}"], name="b")
    main(["check", "--format", "json", str(a.qmp_path), str(b.qmp_path)])
    out = json.loads(capsys.readouterr().out)
    dup = [f for f in out["findings"] if f["rule"] == "duplicate-mac"]
    assert dup and all(f["severity"] == "warning" for f in dup)
