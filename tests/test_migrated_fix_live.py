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
