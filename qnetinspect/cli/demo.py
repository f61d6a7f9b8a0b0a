"""``qnetinspect demo``: start a few real QEMUs showing the seed's cases, then look at them.

Every QEMU it started is stopped on the way out, whatever the way: normal exit, Ctrl-C, SIGTERM,
SIGHUP, a crash (``qemu_fleet`` try/finally), even SIGKILL (the QEMUs carry PR_SET_PDEATHSIG).
A signal first SIGTERMs the VMs, then unwinds through the ``finally`` blocks (which reap them);
a watchdog thread finishes the job and exits if that unwinding hangs (Textual's shutdown can,
when an exception is thrown into its event loop), restoring the terminal.
Without ``qemu-system-x86_64`` (or with ``--replay``) it serves recorded captures of the same VMs.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from qnetinspect.cli import exit_codes

if TYPE_CHECKING:
    from qnetinspect.vmrunner import QemuProcess

TITLE = "qnetinspect demo"
_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
_GRACE = 5.0  # seconds the normal unwinding may take after a signal before the watchdog acts
# leave the alternate screen, show the cursor, stop mouse reporting: what a TUI that could not
# shut down properly would have left behind
_TERMINAL_RESET = "\x1b[?1049l\x1b[?25h\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1015l"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="start demo VMs (the NAT-leak cases) and inspect them",
        description=(
            "Start five paused, disk-less QEMU VMs on 127.0.0.1 showing a NAT leak on a legacy "
            "hub, the same backends on separate hubs, a clean pair and two VMs on one socket "
            "segment with the same default MAC, then open the TUI on them. Every VM is stopped "
            "on exit. Without qemu-system-x86_64, recorded captures of the same VMs are used."
        ),
    )
    parser.add_argument(
        "--no-tui",
        action="store_true",
        help="print each VM's diagram and the findings instead of opening the TUI",
    )
    parser.add_argument(
        "--hold",
        action="store_true",
        help="with --no-tui: keep the VMs running until Ctrl-C, SIGTERM or SIGHUP "
        "(inspect their sockets from another terminal)",
    )
    parser.add_argument(
        "--keep-dir",
        action="store_true",
        help="keep the temporary directory (QMP sockets, QEMU logs) after exit",
    )
    parser.add_argument(
        "--replay",
        action="store_true",
        help="serve recorded captures of the demo VMs instead of starting QEMU",
    )
    parser.set_defaults(func=run)


class _Signalled(SystemExit):
    """Raised by the SIGTERM/SIGHUP handler. A SystemExit, so asyncio (the TUI) lets it through
    instead of storing it in a task, and every ``finally`` on the way out runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


@dataclass
class _Cleanup:
    """What must happen on the way out even if unwinding hangs: the VMs stopped, the directory
    removed. ``vms`` is the live list of started QEMUs (filled while they start)."""

    workdir: Path
    keep_dir: bool
    vms: list[QemuProcess] = field(default_factory=list)
    tty_state: list[Any] | None = None  # termios attributes of stdin before any UI changed them

    def save_terminal(self) -> None:
        with contextlib.suppress(ImportError, OSError):
            import termios

            if sys.stdin.isatty():
                self.tty_state = termios.tcgetattr(sys.stdin.fileno())

    def signal_vms(self) -> None:
        """SIGTERM every VM now, without waiting (safe inside a signal handler); the orderly
        path, or the watchdog, reaps them."""
        for vm in list(self.vms):
            with contextlib.suppress(OSError):
                os.kill(vm.pid, signal.SIGCONT)
                os.kill(vm.pid, signal.SIGTERM)

    def remove_dir(self) -> None:
        if self.keep_dir:
            _log(f"kept {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def force_exit(self, code: int) -> None:
        """The watchdog: unwinding did not finish in time (e.g. a UI task that ignores
        cancellation); stop everything ourselves and leave."""
        for vm in list(self.vms):
            vm.stop(timeout=2.0)
        if self.tty_state is not None:
            with contextlib.suppress(ImportError, OSError):
                import termios

                os.write(sys.stdout.fileno(), _TERMINAL_RESET.encode())
                termios.tcsetattr(sys.stdin.fileno(), termios.TCSANOW, self.tty_state)
        _log(f"cleanup did not finish within {_GRACE:g}s after the signal: forced it")
        self.remove_dir()
        os._exit(code)


@contextmanager
def _signals_unwind(cleanup: _Cleanup) -> Iterator[None]:
    """On the first SIGTERM/SIGHUP/SIGINT: SIGTERM the VMs at once, arm a watchdog that forces
    the cleanup and exits if the rest hangs, then ask a running TUI to quit, or else raise an
    exception that unwinds through every ``finally`` (reaping the VMs, removing the directory).
    Later signals are ignored, so they cannot cut the cleanup short."""
    fired = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal fired
        if fired:
            return
        fired = True
        cleanup.signal_vms()  # the VMs go now, whatever the unwinding below does
        watchdog = threading.Timer(_GRACE, cleanup.force_exit, args=(128 + signum,))
        watchdog.daemon = True
        watchdog.start()
        if _ask_textual_to_exit(128 + signum):
            return  # the TUI leaves like on its quit key; run_tui returns 128+N
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise _Signalled(signum)

    previous = {sig: signal.signal(sig, handler) for sig in _SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _ask_textual_to_exit(code: int) -> bool:
    """If a Textual app runs this thread's event loop, ask it to exit with ``code`` and say so.

    Throwing an exception into Textual's loop instead leaves its shutdown waiting on message
    pumps that were cancelled half-way (seen with Textual 8), so the polite way comes first.
    The app is found as the ``self`` of a running task (its message loop), not through
    Textual's private state.
    """
    import asyncio

    try:
        loop = asyncio.get_running_loop()
        from textual.app import App
    except (RuntimeError, ImportError):
        return False
    for task in asyncio.all_tasks(loop):
        frame = getattr(task.get_coro(), "cr_frame", None)
        app = frame.f_locals.get("self") if frame is not None else None
        if isinstance(app, App):
            loop.call_soon(functools.partial(app.exit, return_code=code))
            return True
    return False


def _log(message: str) -> None:
    print(f"demo: {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from qnetinspect.vmrunner import QEMU_BINARY, find_qemu

    cleanup = _Cleanup(Path(tempfile.mkdtemp(prefix="qni-demo-")), args.keep_dir)
    workdir = cleanup.workdir
    cleanup.save_terminal()
    try:
        with _signals_unwind(cleanup):
            if args.replay:
                return _run_replay(workdir, args)
            if find_qemu() is None:
                print(
                    f"qnetinspect: {QEMU_BINARY} not found; install it for live VMs "
                    "(Debian/Ubuntu: apt-get install qemu-system-x86; "
                    "Fedora: dnf install qemu-system-x86) - "
                    "showing recorded captures instead",
                    file=sys.stderr,
                )
                return _run_replay(workdir, args)
            return _run_live(cleanup, args)
    except _Signalled as exc:
        _log(f"stopped by signal {signal.Signals(exc.signum).name}")
        return 128 + exc.signum
    finally:
        cleanup.remove_dir()


def _run_live(cleanup: _Cleanup, args: argparse.Namespace) -> int:
    from qnetinspect.demo import DEMO_VMS, start_demo_vms
    from qnetinspect.vmrunner import qemu_fleet

    workdir = cleanup.workdir
    with qemu_fleet() as vms:
        cleanup.vms = vms  # the same list: the watchdog sees each VM as soon as it starts
        start_demo_vms(workdir, vms)
        pids = " ".join(str(vm.pid) for vm in vms)
        _log(f"started {len(vms)} QEMU VMs in {workdir} (pids {pids})")
        try:
            return _present([str(vm.qmp_path) for vm in vms], [v.what for v in DEMO_VMS], args)
        finally:
            _log(f"stopping {len(vms)} QEMU VMs")


def _run_replay(workdir: Path, args: argparse.Namespace) -> int:
    from qnetinspect.demo import DEMO_VMS, bundled_captures
    from qnetinspect.qmp.replay import ReplayFleet

    recorded = bundled_captures()
    names = [name for name, _ in recorded]
    with ReplayFleet([cap for _, cap in recorded], workdir, names=names) as fleet:
        _log(f"serving {len(names)} recorded VMs in {workdir} (replay, no QEMU)")
        return _present([str(p) for p in fleet.sockets], [v.what for v in DEMO_VMS], args)


def _present(targets: Sequence[str], whats: Sequence[str], args: argparse.Namespace) -> int:
    from qnetinspect.cli.tui import terminal_missing

    if not args.no_tui and terminal_missing() is not None:
        _log("no terminal: printing the report instead of opening the TUI")
    elif not args.no_tui:
        try:
            from qnetinspect.tui.app import run_tui
        except ImportError:
            _log("the TUI is not available; printing the report instead")
        else:
            result = run_tui(list(targets), title=TITLE)
            return result if isinstance(result, int) else exit_codes.OK
    _print_report(targets, whats)
    if args.hold:
        _log("ready; VMs keep running until Ctrl-C, SIGTERM or SIGHUP")
        while True:
            time.sleep(3600)
    return exit_codes.OK


def _print_report(targets: Sequence[str], whats: Sequence[str]) -> None:
    """What each VM shows, then ``qnetinspect show``'s text: per VM its diagram and findings."""
    from qnetinspect.config import Config
    from qnetinspect.migrate import with_migrated_fixes
    from qnetinspect.report.text import render_text
    from qnetinspect.service import inspect

    done = inspect(list(targets), config=Config())  # the demo ignores the user's config
    snapshots = done.snapshots
    findings = with_migrated_fixes(done.findings, snapshots)
    width = max(len(s.label) for s in snapshots)
    legend = [f"{TITLE}: {len(snapshots)} VMs"]
    legend += [f"  {s.label:<{width}}  {what}" for s, what in zip(snapshots, whats, strict=True)]
    sys.stdout.write("\n".join(legend) + "\n\n" + render_text(snapshots, findings))
    sys.stdout.flush()
