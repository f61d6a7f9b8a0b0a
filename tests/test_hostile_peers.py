"""Hostile QMP peers (issue 14): their replies never crash a run, hide the other targets or
outlive --timeout, and every fault gets its own message."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fakepeers import fake_peer

from tests.conftest import run_cli


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def _check_json(capsys: pytest.CaptureFixture[str], *targets: str) -> dict[str, dict[str, str]]:
    _, out, err = run_cli(capsys, "check", "--timeout", "2", "--format", "json", *targets)
    assert "Traceback" not in err
    doc = json.loads(out)
    return {t["target"]: t["error"] for t in doc["targets"]}


def test_oversized_reply_and_bad_json_have_their_own_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reply over the size limit, or a listing over its own, is `too-large`; invalid JSON
    mid-session is `not-qmp` saying so; none says "disconnected"."""
    flood, bad, big = tmp_path / "flood.sock", tmp_path / "bad.sock", tmp_path / "big.sock"
    with fake_peer(flood, "flood"), fake_peer(bad, "badjson"), fake_peer(big, "big"):
        errors = _check_json(capsys, str(flood), str(bad), str(big))
    assert errors[str(big)] == {"kind": "too-large", "message": "info network: the listing is "
                                "larger than 524288 bytes"}
    assert errors[str(flood)]["kind"] == "too-large"
    assert errors[str(flood)]["message"].endswith(": a reply is larger than 4194304 bytes")
    assert errors[str(bad)]["kind"] == "not-qmp"
    assert "not valid" in errors[str(bad)]["message"] and "JSON" in errors[str(bad)]["message"]


def test_long_listing_is_parsed_and_reported_beside_other_targets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three peers flooding and one with a long listing under the limit: the long one's leak is
    found, the floods are named, all in one report."""
    socks = [tmp_path / f"f{i}.sock" for i in range(3)]
    long = tmp_path / "long.sock"
    with fake_peer(socks[0], "flood"), fake_peer(socks[1], "flood"), \
            fake_peer(socks[2], "flood"), fake_peer(long, "long"):
        code, out, err = run_cli(capsys, "check", "--timeout", "2", *map(str, [*socks, long]))
    assert code == 2, out + err
    assert out.startswith("QNETINSPECT CRITICAL - 4 VMs: 1 critical (nat-external-hub")
    assert out.count(": too-large: ") == 3


def test_regular_file_and_directory_targets_say_what_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A regular file or a directory given as a socket is named as such, not "refused"."""
    saved = tmp_path / "net.txt"
    saved.write_text("hub 0\n")
    errors = _check_json(capsys, str(saved), str(tmp_path))
    assert errors[str(saved)] == {
        "kind": "not-qmp",
        "message": f"is a regular file, not a QMP socket (saved `info network` text is read "
                   f"with file:{saved})"}
    assert errors[str(tmp_path)] == {"kind": "not-qmp",
                                     "message": "is a directory, not a QMP socket"}


def test_timeout_message_names_the_users_seconds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A peer that hangs after the greeting times out "within 1s", not within 0.98662s."""
    mute = tmp_path / "mute.sock"
    with fake_peer(mute, "mute"):
        code, out, _ = run_cli(capsys, "check", "--timeout", "1", str(mute))
    assert code == 1
    assert "timeout" in out and ("within 1s" in out or "within 0.9s" in out), out


def test_hostile_peer_strings_give_a_report_without_crash(tmp_path: Path) -> None:
    """Lone surrogates, an OSC sequence, markup and perfdata from a peer, under the C locale
    cron uses: every format reports the leak; no ESC byte, one status line."""
    peer = tmp_path / "hostile.sock"
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "NO_COLOR": "1",
           "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    with fake_peer(peer, "hostile"):
        for args in (["check"], ["check", "--format", "json"], ["check", "--format", "prometheus"],
                     ["show"], ["show", "--format", "dot"]):
            res = subprocess.run([sys.executable, "-m", "qnetinspect", *args, str(peer)],
                                 capture_output=True, env=env, timeout=60, check=False)
            assert b"Traceback" not in res.stderr, (args, res.stderr)
            assert b"\x1b" not in res.stdout + res.stderr, args
            want = b"hub0port0" if "dot" in args else b"nat-external-hub"
            assert want in res.stdout, (args, res.stdout)
            if args == ["check"]:
                assert res.returncode == 2
                first = res.stdout.decode().splitlines()[0]
                assert first.count("|") == 1 and "'critical'=1;;;0" in first


def test_socket_file_name_with_an_undecodable_byte(tmp_path: Path) -> None:
    """A QMP socket whose file name holds a non-UTF-8 byte (found by a glob): check reports it
    escaped, under the C.UTF-8 locale, with no traceback; the live view can place it too."""
    from qnetinspect.live import _spread

    peer = tmp_path / "vm\udcff.sock"  # the byte 0xff on disk
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "NO_COLOR": "1",
           "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    with fake_peer(peer, "markup"):
        res = subprocess.run([sys.executable, "-m", "qnetinspect", "check", f"{tmp_path}/*.sock"],
                             capture_output=True, env=env, timeout=60, check=False)
    assert res.returncode == 1 and b"Traceback" not in res.stderr, res.stderr
    assert b"vm\\udcff.sock: command-failed" in res.stdout, res.stdout
    assert 0 <= _spread(str(peer)) < 1


@pytest.mark.qemu
def test_real_vms_are_reported_beside_every_hostile_peer(
    start_vm: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real QEMUs (a leak, a clean VM) checked together with every hostile peer script: the
    leak is CRITICAL, the clean VM is read, each peer is named with its own kind."""
    from tests.conftest import leak_args

    leak = start_vm(leak_args(), name="leak", vm_name="leaky")
    clean = start_vm(["-netdev", "user,id=u0", "-device",
                      "virtio-net-pci,netdev=u0,mac=52:54:00:5e:00:02"], name="clean",
                     vm_name="clean")
    kinds = {"flood": "too-large", "big": "too-large", "badjson": "not-qmp",
             "markup": "command-failed", "cut": "disconnected", "garbage": "not-qmp",
             "silent": "busy"}  # a silent peer is a held monitor (issue 11)
    with contextlib.ExitStack() as stack:
        socks = {}
        for script in [*kinds, "hostile"]:
            socks[script] = tmp_path / f"{script}.sock"
            stack.enter_context(fake_peer(socks[script], script))  # type: ignore[arg-type]
        code, out, err = run_cli(capsys, "check", "--timeout", "2", "--format", "json",
                                 str(leak.qmp_path), str(clean.qmp_path),
                                 *map(str, socks.values()))
    assert code == 2 and "Traceback" not in err
    doc = json.loads(out)
    by_target = {t["target"]: t for t in doc["targets"]}
    assert by_target[str(clean.qmp_path)]["error"] is None
    assert any(f["rule"] == "nat-external-hub" and f["target"] == str(leak.qmp_path)
               for f in doc["findings"])
    for script, kind in kinds.items():
        assert by_target[str(socks[script])]["error"]["kind"] == kind, script
    assert by_target[str(socks["hostile"])]["error"] is None  # read, its strings kept exact
