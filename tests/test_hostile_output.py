"""Hostile strings from VMs and peers: escaped in every text output, never a crash (issue 14)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from qnetinspect.models import Finding, Severity, Snapshot, TargetFailure, VmInfo
from qnetinspect.parse import parse_info_network
from qnetinspect.report import escape
from qnetinspect.vmrunner import QemuProcess
from tests.conftest import leak_args, run_cli

StartVm = Callable[..., QemuProcess]
OSC = "\x1b]0;pwned\x07"
PERF = "web1 | 'critical'=0;;;0"


def qni(*args: str, stdin: bytes | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    full = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "qnetinspect", *args], capture_output=True,
                          input=stdin, timeout=60, env=full, check=False)


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def test_terminal_escapes_every_control_and_keeps_plain_text() -> None:
    """ESC, newline, DEL, C1, bidi overrides and lone surrogates become visible escapes."""
    assert escape.terminal("web-1.example #net0") == "web-1.example #net0"
    assert escape.terminal("héllo wörld") == "héllo wörld"
    out = escape.terminal(f"a{OSC}\nb\x7f\x9b\u202e\udcff")
    assert out == "a\\x1b]0;pwned\\x07\\nb\\x7f\\x9b\\u202e\\udcff"
    assert escape.nagios("a | b") == "a \\x7c b"
    assert escape.dot('a"b\n') == '"a\\"b\\\\n"'
    assert escape.mermaid('a"b') == '"a#quot;b"'
    assert escape.markup("[/oops]") == "\\[/oops]"
    from rich.markup import render

    # shown as written: a name's backslash is not doubled, an escaped control stays visible
    assert render(escape.markup("a\\b[x]")).plain == "a\\b[x]"
    assert render(escape.markup(f"v{OSC}")).plain == "v\\x1b]0;pwned\\x07"


@pytest.mark.qemu
def test_hostile_names_keep_one_status_line_and_no_escape_byte(start_vm: StartVm) -> None:
    """Real QEMUs named with perfdata, a newline and an OSC sequence: check stays CRITICAL with
    one status line and its own perfdata only; no output (nagios, prometheus, show text, dot,
    mermaid) carries an ESC byte; JSON keeps the names exact."""
    vms = [
        start_vm(leak_args(), name="perf", vm_name=f"guest={PERF}"),
        start_vm(["-netdev", "user,id=u0", "-device", "e1000,netdev=u0"], name="nl",
                 vm_name="guest=web2\nQNETINSPECT OK - fake"),
        start_vm(["-netdev", "user,id=u0", "-device", "e1000,netdev=u0"], name="osc",
                 vm_name=f"guest=web3{OSC}"),
    ]
    paths = [str(vm.qmp_path) for vm in vms]
    out = qni("check", *paths)
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stdout.decode().splitlines()
    assert lines[0].startswith("QNETINSPECT CRITICAL - 3 VMs: 1 critical (nat-external-hub on "
                               "web1 \\x7c 'critical'=0;;;0 hub 0)")
    assert lines[0].count("|") == 1 and "'critical'=1;;;0" in lines[0]
    assert not any(line.startswith("QNETINSPECT OK") for line in lines)
    assert b"\x1b" not in out.stdout + out.stderr
    for args in (["check", "--format", "prometheus"], ["show"], ["show", "--format", "dot"],
                 ["show", "--format", "mermaid"]):
        res = qni(*args, *paths)
        assert res.stdout and b"\x1b" not in res.stdout + res.stderr, args
        assert b"web3\\x1b]0;pwned\\x07" in res.stdout or b"web3\\\\x1b" in res.stdout, args
    doc = json.loads(qni("check", "--format", "json", *paths).stdout)
    names = {t["vm"]["name"] for t in doc["targets"]}
    assert names == {PERF, "web2\nQNETINSPECT OK - fake", f"web3{OSC}"}


def test_surrogate_and_undecodable_bytes_never_crash(tmp_path: Path) -> None:
    """A non-UTF-8 byte on stdin under the C locale, and lone surrogates in a name or error
    text, give a report (no traceback) in every format."""
    text = b"hub 0\n \\ hub0port1: user.0: index=0,type=user,net=10.0.2.0,restrict=off\xff\n" \
           b" \\ hub0port0: tap\xff.0: index=0,type=tap,ifname=tap0\xfe,script=no,downscript=no\n"
    for locale in ("C", "C.UTF-8", "POSIX"):
        for fmt in ("nagios", "json", "prometheus"):
            res = qni("check", "--format", fmt, "-", stdin=text,
                      env={"LC_ALL": locale, "LANG": locale})
            assert b"Traceback" not in res.stderr, (locale, fmt, res.stderr)
            assert res.returncode == 2, (locale, fmt, res.stdout, res.stderr)
    snap = Snapshot(target="/run/x.qmp", vm=VmInfo(name="vm\udcff"),
                    topology=parse_info_network("e1000.0: index=0,type=nic,model=e1000,"
                                                "macaddr=52:54:00:12:34:56\udcff"))
    down = Snapshot(target="/run/y.qmp", error=TargetFailure("not-qmp", "bad \udcff reply"))
    from qnetinspect.report.nagios import render_nagios, verdict
    from qnetinspect.report.text import render_text
    from qnetinspect.rules import evaluate

    findings = evaluate([snap, down])
    for text_out in (render_text([snap, down], findings),
                     render_nagios([snap, down], findings, verdict([snap, down], findings))):
        text_out.encode("utf-8")  # nothing left that cannot be written
        assert "\x1b" not in text_out


def test_unexpected_exception_is_one_line_and_unknown(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A bug inside check is UNKNOWN (3) with one line; --debug shows the traceback; other
    commands exit 70."""
    import qnetinspect.report.nagios as nagios

    def boom(*a: object, **k: object) -> str:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(nagios, "render_nagios", boom)
    saved = tmp_path / "net.txt"
    saved.write_text("e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\n")
    code, out, err = run_cli(capsys, "check", f"file:{saved}")
    assert code == 3 and out == ""
    assert err.count("\n") == 1 and "internal error: RuntimeError: boom second line" in err
    code, out, err = run_cli(capsys, "--debug", "check", f"file:{saved}")
    assert code == 3 and "Traceback" in err
    import qnetinspect.report.text as text

    monkeypatch.setattr(text, "render_text", boom)
    code, _, err = run_cli(capsys, "show", f"file:{saved}")
    assert code == 70 and "Traceback" not in err


def test_one_target_failing_inside_costs_only_itself(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An exception while inspecting one target makes it `internal`; the others are reported."""
    import qnetinspect.inventory as inventory

    real = inventory._read_file_target

    def flaky(target: object) -> Snapshot:
        if "bad" in str(getattr(target, "spec", "")):
            raise KeyError("oops")
        return real(target)  # type: ignore[arg-type]

    monkeypatch.setattr(inventory, "_read_file_target", flaky)
    good = tmp_path / "good.txt"
    good.write_text("hub 0\n \\ hub0port1: user.0: index=0,type=user,net=10.0.2.0,restrict=off\n"
                    " \\ hub0port0: tap.0: index=0,type=tap,ifname=tap0,script=no,downscript=no\n")
    code, out, _ = run_cli(capsys, "check", f"file:{good}", f"file:{tmp_path / 'bad.txt'}")
    assert code == 2
    assert "nat-external-hub" in out and "internal: KeyError: 'oops'" in out


async def test_tui_shows_markup_and_escapes_from_peers_as_text() -> None:
    """A peer error text with ``[/oops]`` and a name with an OSC sequence: the TUI draws both as
    plain text (no MarkupError) and sends no ESC byte of theirs to the terminal."""
    from qnetinspect.live import StaticSource
    from qnetinspect.tui.app import QNetInspectApp
    from qnetinspect.tui.widgets.panes import DetailPane
    from qnetinspect.tui.widgets.vm_tree import VmTree

    snaps = [
        Snapshot(target="/run/a.qmp", vm=VmInfo(name=f"web{OSC}"),
                 topology=parse_info_network("hub 0\n \\ hub0port0: user.0: index=0,type=user,"
                                             "net=10.0.2.0,restrict=off\n")),
        Snapshot(target="/run/b.qmp", error=TargetFailure("command-failed", "bad [/oops] [b]x")),
    ]
    app = QNetInspectApp(StaticSource(snaps))
    async with app.run_test(size=(160, 40)) as pilot:
        tree = app.query_one("#tree", VmTree)
        detail = app.query_one("#detail", DetailPane)
        for _ in range(100):
            await pilot.pause(0.02)
            if len(tree.root.children) == 2:
                break
        labels = [str(n.label) for n in tree.root.children]
        seen = []
        for _ in range(8):  # each node's detail pane draws its strings too
            await pilot.press("down")
            await pilot.pause()
            seen.append(detail.shown_text)
        assert any("web\\x1b]0;pwned\\x07" in label for label in labels), labels
        assert any("bad [/oops] [b]x" in text for text in seen), seen
        assert not any("\x1b" in s for s in labels + seen)
        # a VM that is down when the tree is drawn gets its error as a leaf: text, not markup
        from qnetinspect.tui.model import VmView

        tree.show([VmView("/run/c.qmp", error=TargetFailure("not-qmp", "x [/oops] \x1b[2J"))], {})
        await pilot.pause()
        leaf = str(tree.root.children[0].children[0].label)
        assert leaf == "not-qmp: x [/oops] \\x1b[2J"


def test_findings_keep_exact_strings_for_json() -> None:
    """The sanitizer is for text outputs: findings and JSON keep the raw names."""
    f = Finding("x", Severity.WARNING, f"name {OSC}", target="t")
    assert escape.sanitize_findings([f])[0].message == "name \\x1b]0;pwned\\x07"
    assert f.message == f"name {OSC}"


@pytest.mark.parametrize("fmt", ["prometheus", "nagios", "json"])
def test_output_never_follows_a_planted_symlink(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--output in every format goes through one writer: a symlink planted under the name the
    temporary file gets is never followed (the victim file stays intact), the report lands
    atomically with mode 0644, and no temporary file is left."""
    import secrets

    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    monkeypatch.setattr(secrets, "token_hex", lambda n=8: "ab" * n)  # the name is now known
    planted = tmp_path / f".qnetinspect-{'ab' * 8}.tmp"
    planted.symlink_to(victim)
    saved = tmp_path / "net.txt"
    saved.write_text("e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\n")
    dest = tmp_path / "out.prom"
    code, out, err = run_cli(capsys, "check", "--format", fmt, "--output", str(dest),
                             f"file:{saved}")
    # every try draws the same planted name: refused with one line, victim untouched
    assert code == 3 and out == "" and "--output" in err and len(err.splitlines()) == 1
    assert victim.read_text() == "precious\n" and not dest.exists()
    monkeypatch.undo()
    code, out, err = run_cli(capsys, "check", "--format", fmt, "--output", str(dest),
                             f"file:{saved}")
    assert code == 1 and out == "", err  # the NIC without a backend: WARNING
    assert victim.read_text() == "precious\n"
    assert dest.stat().st_mode & 0o777 == 0o644 and dest.read_text()
    left = [p.name for p in tmp_path.iterdir() if p.name.startswith(".qnetinspect-")]
    assert left == [planted.name]


def test_a_rule_failing_on_one_vm_costs_only_that_vm(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A rule that raises on one VM's data makes that VM `internal` (the run is at least
    UNKNOWN); the other VM's leak is still reported CRITICAL."""
    from qnetinspect.rules.emulated_nic import EmulatedNic

    real = EmulatedNic.check

    def check(self: EmulatedNic, snapshot: Snapshot, topology: object) -> object:
        if "bad" in snapshot.target:
            raise ValueError("boom")
        return real(self, snapshot, topology)  # type: ignore[arg-type]

    monkeypatch.setattr(EmulatedNic, "check", check)
    leak = "hub 0\n \\ hub0port1: user.0: index=0,type=user,net=10.0.2.0,restrict=off\n" \
           " \\ hub0port0: tap.0: index=0,type=tap,ifname=tap0,script=no,downscript=no\n"
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text(leak)
    bad.write_text("e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\n")
    code, out, _ = run_cli(capsys, "check", "--unreachable", "ok", f"file:{good}", f"file:{bad}")
    assert code == 2 and "nat-external-hub" in out
    assert "internal: a rule failed on this VM: ValueError: boom" in out
    code, out, _ = run_cli(capsys, "check", "--unreachable", "ok", f"file:{bad}")
    assert code == 3 and out.startswith("QNETINSPECT UNKNOWN")


@pytest.mark.qemu
def test_lint_pid_of_a_vm_named_with_an_undecodable_byte(start_vm: StartVm) -> None:
    """`lint --pid` of a QEMU started with -name guest=vm\\xff plus an OSC sequence, under the
    C and C.UTF-8 locales: the report, no traceback, no ESC byte in the text format."""
    vm = start_vm(leak_args(), name="badname", vm_name="guest=vm\udcff" + OSC)
    for locale in ("C", "C.UTF-8"):
        for fmt in ("text", "json"):
            res = qni("lint", "--format", fmt, "--pid", str(vm.pid),
                      env={"LC_ALL": locale, "LANG": locale})
            assert res.returncode == 1, res.stderr
            assert b"Traceback" not in res.stderr and b"nat-external-hub" in res.stdout
            if fmt == "text":
                assert b"\x1b" not in res.stdout + res.stderr


def test_fix_checks_per_vm_are_bounded() -> None:
    """A listing of 200 NICs (a peer may send thousands): only the first 64 fixes are checked
    (each re-runs every rule), the others say they were not checked, and every finding stays."""
    from qnetinspect.rules import evaluate
    from qnetinspect.rules._verify import MAX_CHECKED_PER_VM

    text = "hub 0\n \\ hub0port1: #net1: index=0,type=user,net=10.0.2.0,restrict=off\n" + "".join(
        f" \\ p{i}: x{i}: index=0,type=nic,model=e1000,macaddr=52:54:00:00:00:{i:02x}\n"
        for i in range(200))
    findings = evaluate([Snapshot("vm", topology=parse_info_network(text))])
    unchecked = [f for f in findings if f.fix.startswith("not checked: this VM has more than")]
    assert len([f for f in findings if f.rule == "emulated-nic"]) == 200
    assert unchecked and len(findings) - len(unchecked) >= MAX_CHECKED_PER_VM
