"""show/check offer the migrated command line as the fix for a live VM's hub leak."""

from __future__ import annotations

import json
import socket

import pytest

from qnetinspect.cli import main
from tests.conftest import StartQemu


@pytest.mark.qemu
def test_live_leak_fix_is_the_split_command_line(
    start_vm: StartQemu, capsys: pytest.CaptureFixture[str]
) -> None:
    """nat-external-hub on a local VM gets `-netdev`/`-device` options that split NAT off."""
    leaky_hub = ["-net", "nic", "-net", "user", "-net", "nic"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    vm = start_vm([*leaky_hub, "-net", f"socket,listen=127.0.0.1:{port}"])
    assert main(["show", "--format", "json", str(vm.qmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    leak = [f for f in out["findings"] if f["rule"] == "nat-external-hub"]
    assert len(leak) == 1
    fix = leak[0]["fix"]
    assert "-netdev user" in fix and "-device" in fix and "-net " not in fix
    assert "qnetinspect migrate --split" in fix


@pytest.mark.qemu
def test_stale_command_line_is_not_offered_as_the_fix(
    start_vm: StartQemu, capsys: pytest.CaptureFixture[str], tmp_path: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a hot-plug the VM's argv no longer describes its network: the leak's fix is then
    the (verified) rewiring of the live topology, not a rewrite of the stale command line."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    vm = start_vm(["-net", "nic", "-net", "user", "-net", f"socket,listen=127.0.0.1:{port}"])
    assert main(["add", str(vm.qmp_path), "user", "--id", "later", "--yes"]) == 0
    capsys.readouterr()
    assert main(["show", "--format", "json", str(vm.qmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    (leak,) = [f for f in out["findings"] if f["rule"] == "nat-external-hub"]
    assert "qnetinspect migrate" not in leak["fix"]
    assert "-netdev socket,id=ext0,listen=HOST:PORT -device e1000,netdev=ext0,mac=" in leak["fix"]
