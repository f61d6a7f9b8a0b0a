"""End to end through the CLI: pasted ``info network`` text reads alike in ``parse``, ``show``
and ``check``, from stdin (``-``) and from a file (``file:``), and nothing read is never OK."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.paste_corpus import (
    COMBINED,
    hotplug_pastes,
    render,
    seed_captures,
    single_artifacts,
)

SEEDS = dict(seed_captures())
VARIANTS = [*single_artifacts(), *COMBINED]


def _id(layers: list[str], enc: str) -> str:
    return "+".join([*layers, enc])


def _cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data: bytes, *args: str
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    return run_cli(capsys, *args)


@pytest.mark.parametrize(("layers", "enc"), VARIANTS, ids=[_id(*v) for v in VARIANTS])
def test_seed_leak_in_every_pasted_form_is_critical_everywhere(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    layers: list[str],
    enc: str,
) -> None:
    """The seed leak of 5.2, 7.2 and 10.0, pasted in this form, is CRITICAL in parse,
    show -, show file:, check - and check file:, with no line left unread."""
    for version, text in SEEDS.items():
        data = render(text, layers, enc)
        f = tmp_path / "pasted.txt"
        f.write_bytes(data)
        what = f"{version} {layers} {enc}"

        # a guest's console line in the middle stays a line not understood: a warning more
        half = "guest-output" in layers
        code, out, err = _cli(monkeypatch, capsys, b"", "parse", str(f))
        assert code == 0 and "CRITICAL nat-external-hub" in out, (what, out, err)
        assert ("WARNING  unparsed-lines" in out) == half, what
        code, out, err = _cli(monkeypatch, capsys, data, "parse", "-")
        assert code == 0 and "CRITICAL nat-external-hub" in out, (what, err)
        for target in ("-", f"file:{f}"):
            code, out, err = _cli(monkeypatch, capsys, data, "show", target)
            assert code == 0 and "CRITICAL nat-external-hub [hub 0]" in out, (what, target, out)
            assert "UNREACHABLE" not in out, (what, target)
            assert ("unparsed-lines" in out) == half, (what, target)
            code, out, err = _cli(monkeypatch, capsys, data, "check", target)
            assert code == 2, (what, target, out, err)
            assert out.startswith("QNETINSPECT CRITICAL - 1 VM: 1 critical (nat-external-hub")
            assert ("unparsed-lines" in out) == half and "unreadable" not in out, (what, target)


@pytest.mark.parametrize(
    "enc", [b"\xef\xbb\xbf", b"\r", b"\r\n", b"\xef\xbb\xbf\r"], ids=["bom", "cr", "crlf", "bom-cr"]
)
def test_parse_show_and_check_decode_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    enc: bytes,
) -> None:
    """A BOM, CR-only or CRLF file reads the same in parse, show file: and check file: (once a
    BOM file was CRITICAL in parse and OK in show/check, and CR-only the reverse)."""
    text = SEEDS["qemu-7.2.22/legacy_seed_user_socket_listen"].replace("\r\n", "\n")
    bom = enc.startswith(b"\xef\xbb\xbf")
    newline = enc[3:] if bom else enc
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode().replace(b"\n", newline or b"\n")
    f = tmp_path / "seed.txt"
    f.write_bytes(data)
    code, out, _ = _cli(monkeypatch, capsys, b"", "parse", str(f), "--format", "json")
    assert code == 0 and '"nat-external-hub"' in out
    code, out, _ = _cli(monkeypatch, capsys, b"", "show", f"file:{f}", "--format", "json")
    assert code == 0 and '"nat-external-hub"' in out
    code, out, _ = _cli(monkeypatch, capsys, b"", "check", f"file:{f}")
    assert code == 2 and out.startswith("QNETINSPECT CRITICAL")


NOTHING = {
    "empty": b"",
    "blank": b"\n  \n",
    "virsh-error": b"error: failed to get domain 'web1'\n",
    "html-error-page": (
        b"<!DOCTYPE html><!-- proxy | gateway -->\n<html><head><title>502 Bad Gateway</title>\n"
        b"<body><h1>Bad Gateway | proxy</h1><p>The server returned an invalid response.</p>"
        b"</body></html>\n"
    ),
    "qmp-error-reply": (
        b'{"id":"libvirt-21","error":{"class":"CommandNotFound",'
        b'"desc":"The command info network has not been found"}}\n'
    ),
}


@pytest.mark.parametrize("kind", sorted(NOTHING))
def test_check_stdin_with_nothing_readable_is_unknown_in_one_line(kind: str) -> None:
    """check - on an empty input, a virsh error, an HTML error page or a QMP error reply: exit 3
    UNKNOWN, one line naming why, no traceback (a real process)."""
    proc = subprocess.run(
        [sys.executable, "-m", "qnetinspect", "check", "-"],
        input=NOTHING[kind], capture_output=True, check=False, timeout=60,
    )
    out = proc.stdout.decode()
    assert proc.returncode == 3, (out, proc.stderr)
    assert out.count("\n") == 1 and out.startswith("QNETINSPECT UNKNOWN - 1 VM: 1 unreadable (-: ")
    assert "no network client read" in out
    assert out.count("|") == 1  # the reason cannot break the perfdata apart
    assert b"Traceback" not in proc.stderr


@pytest.mark.parametrize("kind", sorted(NOTHING))
def test_show_and_parse_with_nothing_readable_fail_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    kind: str,
) -> None:
    """show - / show file: exit 1 naming the target unreadable; parse exits 2 with one line."""
    f = tmp_path / "in.txt"
    f.write_bytes(NOTHING[kind])
    for target in ("-", f"file:{f}"):
        code, out, _ = _cli(monkeypatch, capsys, NOTHING[kind], "show", target)
        assert code == 1 and "UNREACHABLE unreadable: no network client read" in out, out
    code, out, err = _cli(monkeypatch, capsys, NOTHING[kind], "parse", "-")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("qnetinspect: -: unreadable: no network client read")


def test_half_read_text_is_a_warning_never_ok(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A text with a client and lines not understood: check is at least WARNING
    (unparsed-lines), show lists the lines with their reasons, JSON has them with reasons."""
    data = (b"n0: index=0,type=nic,model=virtio-net-pci,macaddr=52:54:00:aa:bb:cc\n"
            b" \\ u0: index=0,type=user,net=10.0.2.0,restrict=off\n"
            b"eth1 link/ether 52:54:00:12:34:57 brd ff:ff:ff:ff:ff:ff\n")
    code, out, _ = _cli(monkeypatch, capsys, data, "check", "-")
    assert code == 1 and out.startswith("QNETINSPECT WARNING") and "unparsed-lines" in out
    code, out, _ = _cli(monkeypatch, capsys, data, "show", "-")
    assert "Unparsed lines (1):" in out and "line 3: 'eth1 link/ether" in out
    code, out, _ = _cli(monkeypatch, capsys, data, "check", "-", "--format", "json")
    assert '"reason": "not a hub header' in out and '"rule": "unparsed-lines"' in out


def test_capture_json_with_usernet_is_checked_in_show_and_check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A capture JSON that saved info usernet gets its host forwards checked (no 'needs a live
    QMP target'), in show file:, check file: and parse."""
    root = Path(__file__).resolve().parent.parent
    cap = root / "fixtures" / "captures" / "qemu-7.2.22" / "user_hostfwd_all.json"
    code, out, _ = _cli(monkeypatch, capsys, b"", "check", f"file:{cap}")
    assert code == 1 and "hostfwd-all-addresses" in out and "needs a live" not in out
    code, out, _ = _cli(monkeypatch, capsys, b"", "show", f"file:{cap}")
    assert "WARNING  hostfwd-all-addresses" in out and "needs a live" not in out
    code, out, _ = _cli(monkeypatch, capsys, b"", "parse", str(cap))
    assert "WARNING  hostfwd-all-addresses" in out and "needs a live" not in out


def test_pasted_and_unreadable_json_match_the_published_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """check --format json of a pasted text (with what was taken out, and why) next to an
    unreadable one validates against docs/schema/check.schema.json."""
    jsonschema = pytest.importorskip("jsonschema")
    root = Path(__file__).resolve().parent.parent
    schema = json.loads((root / "docs" / "schema" / "check.schema.json").read_text())
    seed = SEEDS["qemu-7.2.22/legacy_seed_user_socket_listen"]
    f = tmp_path / "pasted.txt"
    f.write_bytes(render(seed, ["mail-wrap-72", "qemu-prompt-echo"], "crlf"))
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    code, out, _ = _cli(monkeypatch, capsys, b"", "check", "--format", "json",
                        f"file:{f}", f"file:{empty}")
    doc = json.loads(out)
    jsonschema.Draft202012Validator(schema).validate(doc)
    pasted, unreadable = doc["targets"]
    reasons = {u["reason"] for u in pasted["topology"]["pasted"]["removed"]}
    assert "the command echo (network)" in reasons and "joined to line 5 (wrapped)" in reasons
    assert unreadable["error"]["kind"] == "unreadable" and unreadable["topology"] is None
    assert code == 2 and doc["status"] == "critical"


def test_live_reply_with_nothing_readable_is_unknown_but_an_empty_vm_is_read(
    tmp_path: Path, qemu_dir: Path
) -> None:
    """A live monitor whose info network reply holds no client but text we cannot read is
    `unreadable` (check UNKNOWN, one status line); a VM that truly has no network (QEMU's empty
    reply, replayed from the real capture) is a reading, not a failure. Replies are read
    exactly: no paste heuristic runs on them."""
    from qnetinspect.qmp.replay import ReplayFleet

    root = Path(__file__).resolve().parent.parent
    real = root / "fixtures" / "captures" / "qemu-7.2.22" / "empty.json"
    doc = json.loads(real.read_text())
    doc["info_network"] = "(qemu) Error: something went wrong\r\n"
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps(doc))
    with ReplayFleet([odd, real], qemu_dir, names=["odd", "empty"]) as fleet:
        odd_sock, empty_sock = (str(p) for p in fleet.sockets)
        proc = subprocess.run([sys.executable, "-m", "qnetinspect", "check", odd_sock],
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 3, proc.stdout
        assert proc.stdout.count("\n") == 1 and "1 unreadable" in proc.stdout
        assert "line 1: '(qemu) Error: something went wrong'" in proc.stdout
        proc = subprocess.run([sys.executable, "-m", "qnetinspect", "check", empty_sock],
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0 and proc.stdout.startswith("QNETINSPECT OK"), proc.stdout


def test_check_of_a_pasted_hot_plug_session_judges_the_state_after_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """check - on a pasted session that hot-adds a socket to the legacy NAT hub: CRITICAL
    for the state after the change (the earlier output is left out, not merged)."""
    (pasted, _), *_ = [(p, a) for n, p, a in hotplug_pastes()
                       if n == "qemu-7.2.22/hotadd_hubport_to_legacy_hub"]
    code, out, _ = _cli(monkeypatch, capsys, pasted.encode(), "check", "-")
    assert code == 2 and "nat-external-hub" in out and "unparsed-lines" not in out
    code, out, _ = _cli(monkeypatch, capsys, pasted.encode(), "show", "-")
    assert "2 outputs of info network in the text" in out and "hp_sock" in out
