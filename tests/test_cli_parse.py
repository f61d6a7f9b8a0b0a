"""``qnetinspect parse``: files, stdin, capture JSON, malformed input, unreadable files."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "fixtures" / "captures" / "qemu-7.2.22" / "legacy_seed_user_socket_listen.json"
SEED_GOLDEN = ROOT / "fixtures" / "goldens" / "qemu-7.2.22" / "legacy_seed_user_socket_listen.json"


def _seed_text() -> str:
    text: str = json.loads(SEED.read_text(encoding="utf-8"))["info_network"]
    return text


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    return run_cli(capsys, "parse", *argv)


def _json(capsys: pytest.CaptureFixture[str], path: Path) -> dict[str, Any]:
    code, out, err = _run(capsys, str(path), "--format", "json")
    assert code == 0, err
    assert "Traceback" not in err
    doc: dict[str, Any] = json.loads(out)
    return doc


def test_text_output_of_the_seed_leak(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Text output has the diagram with the NAT+external mark, the clients and findings."""
    f = tmp_path / "seed.txt"
    f.write_text(_seed_text(), encoding="utf-8")
    code, out, err = _run(capsys, str(f))
    assert code == 0
    assert "!! NAT + external" in out
    assert "hub 0 hub0port3  #net351" in out
    assert "Findings (" in out
    assert "Unparsed" not in out and err == ""


def test_json_output_matches_golden(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """JSON output is schema 1 with the golden topology and a findings list."""
    f = tmp_path / "seed.txt"
    f.write_text(_seed_text(), encoding="utf-8")
    doc = _json(capsys, f)
    assert doc["schema"] == 1
    assert doc["topology"] == json.loads(SEED_GOLDEN.read_text(encoding="utf-8"))["topology"]
    assert isinstance(doc["findings"], list)
    assert all({"rule", "severity", "message"} <= set(x) for x in doc["findings"])


def test_capture_json_file_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    """A capture JSON file parses to the same topology as its raw info network text."""
    doc = _json(capsys, SEED)
    assert [p["name"] for p in doc["topology"]["hubs"][0]["ports"]] == [
        f"hub0port{i}" for i in range(4)
    ]
    assert doc["topology"]["unparsed"] == []


@pytest.mark.parametrize(
    ("kind", "make"),
    [
        ("missing", lambda d: d / "nope.txt"),
        ("directory", lambda d: d),
    ],
)
def test_unreadable_file_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, make: Any
) -> None:
    """An unreadable FILE gives one line 'qnetinspect: FILE: <reason>' and exit 2."""
    path = make(tmp_path)
    code, out, err = _run(capsys, str(path))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"qnetinspect: {path}: ")


def _malformed() -> dict[str, bytes]:
    text = _seed_text()
    lines = text.split("\r\n")
    shuffled = lines[:]
    random.Random(7).shuffle(shuffled)
    return {
        "truncated": text[: len(text) // 2 + 7].encode(),
        "shuffled": "\r\n".join(shuffled).encode(),
        "binary": bytes(range(256)) * 4 + b"\n \\ \xff\xfe: index=0,type=\x00,\n",
        "unknown": b'Name: value\n\tindented\nhub x\n \\ \nfilters:\n  - f\n{"no": 1}\n',
        "empty": b"",
    }


@pytest.mark.parametrize("kind", ["truncated", "shuffled"])
def test_malformed_input_exits_0_with_unparsed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """Truncated or shuffled input that still holds clients: exit 0, unparsed lines reported
    with reasons, and an unparsed-lines warning (a half-read VM is never OK)."""
    data = _malformed()[kind]
    f = tmp_path / "in.txt"
    f.write_bytes(data)
    doc = _json(capsys, f)
    unparsed = doc["topology"]["unparsed"]
    assert unparsed, "malformed input must report unparsed lines"
    assert all(isinstance(u["line"], int) and u["line"] >= 1 and u["reason"] for u in unparsed)
    assert "unparsed-lines" in {x["rule"] for x in doc["findings"]}
    code, out, err = _run(capsys, str(f))
    assert code == 0 and "Traceback" not in err
    assert "Unparsed lines" in out
    assert f"{len(unparsed)} unparsed line" in err


@pytest.mark.parametrize("kind", ["binary", "unknown", "empty"])
def test_input_without_any_client_is_unreadable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """Binary junk, unknown text or nothing at all: one line 'unreadable: <reason>', exit 2
    (nothing read is never a success); JSON says the same in its error."""
    f = tmp_path / "in.txt"
    f.write_bytes(_malformed()[kind])
    code, out, err = _run(capsys, str(f))
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith(f"qnetinspect: {f}: unreadable: ")
    code, out, err = _run(capsys, str(f), "--format", "json")
    assert code == 2
    doc = json.loads(out)
    assert doc["error"]["kind"] == "unreadable" and doc["findings"] == []


def test_stdin_dash_and_no_argument() -> None:
    """'-' and no FILE read stdin, through the installed entry point (a real process)."""
    for argv in (["parse", "-", "--format", "json"], ["parse", "--format", "json"]):
        proc = subprocess.run(
            [sys.executable, "-m", "qnetinspect", *argv],
            input=_seed_text().encode(),
            capture_output=True,
            check=False,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        assert doc["source"] == "-"
        assert len(doc["topology"]["hubs"][0]["ports"]) == 4
