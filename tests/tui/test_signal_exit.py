"""The TUI ends on SIGTERM/SIGHUP even when its terminal stopped reading under heavy redraw, and
a file: target that cannot be read is shown as unreachable (issue 14, item 9)."""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import sys
import termios
import time
from pathlib import Path
from typing import Any

import pytest

from qnetinspect.live import VmState
from tests.conftest import PtyProcess

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
CAPTURE = FIXTURES / "captures" / "qemu-7.2.22" / "legacy_seed_user_socket_listen.json"


def _wait_without_reading(tui: PtyProcess, limit: float) -> int | None:
    """waitpid for up to ``limit`` seconds while nobody reads the terminal (None: still runs)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        pid, status = os.waitpid(tui.pid, os.WNOHANG)
        if pid:
            tui.status = status
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    return None


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_tui_exits_on_signal_when_its_terminal_stopped_reading(signum: int) -> None:
    """The terminal stops reading while resizes force full redraws (the output thread blocks
    on a full pty): SIGTERM/SIGHUP still end the TUI with 128+signal, without a reader."""
    argv = [sys.executable, "-m", "qnetinspect", "tui", f"file:{CAPTURE}"]
    with PtyProcess(argv) as tui:
        tui.read_until(lambda out: b"hub0port3" in out, timeout=30)
        for i in range(60):  # each resize is a full redraw nobody reads
            rows, cols = (40 + i % 20, 120 + i % 40)
            fcntl.ioctl(tui.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            os.kill(tui.pid, signal.SIGWINCH)
            time.sleep(0.02)
        os.kill(tui.pid, signum)
        # bounded wait (not a timing assertion): a deadlocked exit never ends at all
        assert _wait_without_reading(tui, 30) == 128 + signum


async def test_missing_file_target_is_unreachable_not_static(tmp_path: Path) -> None:
    """A file: target that does not exist shows as unreachable with its error, not static."""
    from qnetinspect.inventory import gather
    from qnetinspect.live import Watcher
    from qnetinspect.targets import expand_targets

    missing = expand_targets([f"file:{tmp_path / 'gone.txt'}"])
    static = {s.target: s for s in await gather(missing)}
    updates: list[object] = []
    watcher = Watcher([], static=static)
    import anyio

    with anyio.move_on_after(0.5):
        await watcher.run(updates.append)
    states = [(getattr(u, "state", None), getattr(u, "error", None)) for u in updates]
    assert any(state is VmState.UNREACHABLE and error is not None and error.kind == "not-found"
               for state, error in states), states
    assert not any(state is VmState.STATIC for state, _ in states)


@pytest.mark.qemu
def test_tui_never_sends_a_vm_names_escape_sequence(start_vm: Any) -> None:
    """A real QEMU named with an OSC sequence (which retitles a terminal) and markup: the TUI on
    a terminal draws the name escaped; the raw sequence never reaches the terminal."""
    vm = start_vm(["-netdev", "user,id=u0", "-device", "e1000,netdev=u0"], name="osc",
                  vm_name="guest=web\x1b]0;pwned\x07[/oops]")
    argv = [sys.executable, "-m", "qnetinspect", "tui", str(vm.qmp_path)]
    with PtyProcess(argv) as tui:
        tui.read_until(lambda out: b"pwned" in out, timeout=30)
        tui.read_until(lambda out: b"[/oops]" in out, timeout=30)
        assert b"\x1b]0;pwned" not in tui.output
        assert b"web\\x1b]0;pwned\\x07" in tui.output
        assert tui.signal_and_wait(signal.SIGTERM, timeout=20) == 128 + signal.SIGTERM


async def test_peer_error_text_with_markup_is_drawn_as_text(tmp_path: Path) -> None:
    """A live peer rejecting `info network` with `[/oops]`, `[b]` and an OSC sequence: the TUI
    shows the VM unreachable with that text, escaped, and does not crash (MarkupError)."""
    from fakepeers import fake_peer

    from qnetinspect.live import Watcher
    from qnetinspect.tui.app import QNetInspectApp
    from qnetinspect.tui.widgets.panes import DetailPane
    from qnetinspect.tui.widgets.vm_tree import VmTree

    from .conftest import wait_until

    sock = tmp_path / "markup.sock"
    with fake_peer(sock, "markup"):
        app = QNetInspectApp(Watcher([str(sock)], interval=0.3, backoff=(0.1, 0.4)))
        async with app.run_test(size=(160, 40)) as pilot:
            tree = app.query_one("#tree", VmTree)
            await wait_until(pilot, lambda: any(
                "DOWN" in str(n.label) for n in tree.root.children))
            await pilot.press("down")
            await pilot.pause()
            shown = app.query_one("#detail", DetailPane).shown_text
            tree.show(list(app.model.vms.values()), {})  # redrawn: the error becomes a leaf
            await pilot.pause()
            leaves = [str(c.label) for n in tree.root.children for c in n.children]
    assert "[/oops] [b]bold \\x1b]0;pwned\\x07" in shown, shown
    assert any("[/oops] [b]bold \\x1b]0;pwned\\x07" in leaf for leaf in leaves), leaves
