"""auto never leaves a running QEMU out: one without a QMP monitor is named, with the way to
read it, and check is not OK."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from conftest import run_cli

from qnetinspect.vmrunner import find_qemu

pytestmark = pytest.mark.qemu


def test_auto_names_a_qemu_without_a_qmp_monitor(
    capsys: pytest.CaptureFixture[str], only_this_run: str
) -> None:
    """A real QEMU with no QMP monitor: check auto reports it unreachable (no-monitor), with
    `lint --pid`, and exits non-zero."""
    exe = find_qemu()
    assert exe is not None
    name = f"{only_this_run}nomon"
    proc = subprocess.Popen([exe, "-M", "pc", "-S", "-nodefaults", "-display", "none",
                             "-name", name, "-net", "nic", "-net", "user"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        # discovery reads /proc/PID/cmdline: wait until the child has exec'd QEMU
        deadline = time.monotonic() + 30
        cmdline = Path(f"/proc/{proc.pid}/cmdline")
        while name.encode() not in cmdline.read_bytes():
            assert time.monotonic() < deadline, "QEMU did not start"
            time.sleep(0.02)
        code, out, _ = run_cli(capsys, "check", "auto", "--format", "json")
        (target,) = [t for t in json.loads(out)["targets"] if t["vm"]["name"] == name]
        assert target["error"]["kind"] == "no-monitor", target
        assert f"qnetinspect lint --pid {proc.pid}" in target["error"]["message"]
        assert target["target"] == f"pid:{proc.pid}"
        assert code != 0 and json.loads(out)["status"] != "ok"
    finally:
        proc.kill()
        proc.wait(timeout=10)
