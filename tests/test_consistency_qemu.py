"""A newline in a stream's unix path cannot hide the NAT+external leak (issue 14, item 1)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from qnetinspect.models import QomNic
from qnetinspect.parse import parse_info_network
from qnetinspect.parse.consistency import cross_check_live
from qnetinspect.vmrunner import QemuProcess
from tests.conftest import run_cli

StartVm = Callable[..., QemuProcess]


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def _crafted_vm(start_vm: StartVm, qemu_dir: Path, line: str) -> tuple[QemuProcess, socket.socket]:
    path = f"{qemu_dir}/s\n{line}"
    vm = start_vm(["-netdev", "user,id=u0",
                   "-netdev", f"stream,id=st0,server=on,addr.type=unix,addr.path={path}",
                   "-netdev", "hubport,id=p2,hubid=0", "-device", "e1000,netdev=p2",
                   "-netdev", "hubport,id=p0,hubid=0,netdev=u0",
                   "-netdev", "hubport,id=p1,hubid=0,netdev=st0"], name="crafted")
    for _ in range(200):  # QEMU opens its QMP socket before it creates the netdevs
        if Path(path).exists():
            break
        time.sleep(0.02)
    peer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    peer.connect(path)  # connected, QEMU prints "unix:<path>" and the newline with it
    return vm, peer


@pytest.mark.qemu
@pytest.mark.parametrize("line", ["hub 7", "hub 0"])
def test_newline_in_a_unix_path_keeps_the_leak_critical(
    start_vm: StartVm, qemu_dir: Path, capsys: pytest.CaptureFixture[str], line: str
) -> None:
    """QEMU 7.2 with a stream path ending in a newline and a hub header: check stays CRITICAL,
    names nat-external-hub on hub 0 and inconsistent-listing, in one status line."""
    vm, peer = _crafted_vm(start_vm, qemu_dir, line)
    with peer:
        _listing(vm)
        code, out, err = run_cli(capsys, "check", str(vm.qmp_path))
        _, doc, _ = run_cli(capsys, "check", "--format", "json", str(vm.qmp_path))
    import json

    contradictions = json.loads(doc)["targets"][0]["topology"]["contradictions"]
    assert contradictions and all(isinstance(c, str) for c in contradictions)
    jsonschema = pytest.importorskip("jsonschema")
    root = Path(__file__).resolve().parent.parent / "docs" / "schema"
    schema = json.loads((root / "check.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(json.loads(doc))
    assert code == 2, out + err
    status = out.splitlines()[0]
    assert status.startswith("QNETINSPECT CRITICAL - 1 VM: 2 critical (")
    assert "inconsistent-listing on " in status and "nat-external-hub on " in status
    assert "CRITICAL nat-external-hub: " in out and "u0 (user) with external st0" in out
    assert ("the command line puts it on hub 0" in out) or ("listed twice" in out)


@pytest.mark.qemu
def test_crafted_listing_without_command_line_is_still_flagged(
    start_vm: StartVm, qemu_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The same listing saved to a file (no command line, no QOM): the ambiguity is reported
    as CRITICAL inconsistent-listing naming the hidden nat-external-hub."""
    vm, peer = _crafted_vm(start_vm, qemu_dir, "hub 7")
    with peer:
        raw = _listing(vm)
    saved = tmp_path / "net.txt"
    saved.write_text(raw)
    code, out, _ = run_cli(capsys, "check", f"file:{saved}")
    assert code == 2, out
    assert "CRITICAL inconsistent-listing" in out and "nat-external-hub (critical) u0, st0" in out


def _listing(vm: QemuProcess) -> str:
    """QEMU's ``info network`` once it prints the connected peer's path (QEMU accepts it in its
    main loop, a moment after the connect)."""
    import anyio

    from qnetinspect.inventory import gather
    from qnetinspect.targets import expand_targets

    raw = ""
    for _ in range(100):
        snap = anyio.run(gather, expand_targets([str(vm.qmp_path)]))[0]
        raw = snap.info_network_raw or ""
        if "unix:" in raw:
            return raw
        time.sleep(0.05)
    raise AssertionError(raw)


def test_qom_pairing_that_the_listing_contradicts_is_named() -> None:
    """QOM says the NIC's netdev is p2; the listing pairs it with another port: contradiction."""
    t = parse_info_network("hub 0\n \\ p1: u0: index=0,type=user,net=10.0.2.0,restrict=off\n"
                           " \\ p0: e1000.0: index=0,type=nic,model=e1000,"
                           "macaddr=52:54:00:3e:00:01\n")
    checked = cross_check_live(t, {}, [QomNic("/machine/peripheral-anon/device[0]", "device[0]",
                                              "e1000", "p2", "52:54:00:3e:00:01")])
    assert checked.contradictions == (
        "QOM pairs NIC device[0] (52:54:00:3e:00:01) with netdev p2; the listing does not",)
    agreed = cross_check_live(t, {"p0": 0, "p1": 0}, [])
    assert agreed.contradictions == () and agreed.alternatives == ()


def test_listings_qemu_printed_are_never_called_inconsistent() -> None:
    """No false alarm: every capture, rule case and goldens text as QEMU printed it, and every
    pasted form of the captures (tests/paste_corpus.py), gives no inconsistent-listing."""
    import glob

    import paste_corpus

    from qnetinspect.models import Snapshot
    from qnetinspect.parse.decode import decode_text
    from qnetinspect.rules import evaluate

    root = Path(__file__).resolve().parent.parent / "fixtures"
    texts: list[tuple[str, bool]] = []
    for path in sorted(glob.glob(f"{root}/**/*.json", recursive=True)):
        if "inconsistent-listing" in path:
            continue
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(doc, dict):
            continue
        if isinstance(doc.get("info_network"), str):
            texts.append((doc["info_network"], False))
        texts += [(s["info_network_after"], False) for s in doc.get("steps") or []
                  if isinstance(s, dict) and isinstance(s.get("info_network_after"), str)]
        texts += [(vm["info_network"], False) for case in doc.get("cases") or []
                  for vm in case.get("vms", [])]
    for layers, encoding in paste_corpus.single_artifacts():
        for _, text in paste_corpus.captures():
            texts.append((decode_text(paste_corpus.render(text, layers, encoding)), True))
    assert len(texts) > 3000
    for text, pasted in texts:
        topology = parse_info_network(text, pasted=pasted)
        found = [f for f in evaluate([Snapshot("vm", topology=topology)], check_fixes=False)
                 if f.rule == "inconsistent-listing"]
        assert not found, (text, found)
