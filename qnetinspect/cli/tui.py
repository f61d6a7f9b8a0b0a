"""``qnetinspect tui [TARGET...]`` (and bare ``qnetinspect [TARGET...]``): the live TUI."""

from __future__ import annotations

import argparse
import math
from typing import Any


def _interval(text: str) -> float:
    from qnetinspect.live import MAX_INTERVAL, MIN_INTERVAL

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or not MIN_INTERVAL <= value <= MAX_INTERVAL:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected seconds between {MIN_INTERVAL:g} and {MAX_INTERVAL:g}"
        )
    return value


def register(sub: Any) -> None:
    p = sub.add_parser(
        "tui",
        help="watch VMs live in a terminal UI (the default command)",
        description="Watch the networks of running QEMU VMs live: hubs, NIC pairs, findings, "
        "changes. Read-only unless --allow-changes.",
    )
    p.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help="socket path, unix:PATH, tcp:HOST:PORT, glob, auto or file:PATH "
        "(default: the config's targets, else auto = discovery)",
    )
    p.add_argument(
        "--allow-changes",
        action="store_true",
        help="enable the add / remove / link keys (hot-plug); off by default",
    )
    p.add_argument(
        "--interval",
        type=_interval,
        default=2.0,
        metavar="S",
        help="seconds between refreshes of each VM (default 2; + and - change it live)",
    )
    p.add_argument(
        "--hold",
        action="store_true",
        help="keep one QMP session open per VM (refreshed on QMP events too); only for "
        "monitors dedicated to qnetinspect: no other client (check, Proxmox, qmp-shell) can "
        "use a monitor while it is held. Default: a brief session per refresh",
    )
    p.add_argument("--config", metavar="FILE", help="TOML config (rules, suppressions, targets)")
    p.set_defaults(func=run)


def terminal_missing() -> str | None:
    """Which of stdin/stdout is not a terminal (None: both are)."""
    import sys

    for name, stream in (("stdin", sys.stdin), ("stdout", sys.stdout)):
        try:
            if stream is None or not stream.isatty():
                return name
        except ValueError:  # closed
            return name
    return None


def run(args: argparse.Namespace) -> int:
    from qnetinspect.errors import UsageError
    from qnetinspect.targets import expand_targets

    if args.targets:  # a malformed target is named first, whatever runs us
        expand_targets(args.targets, allow_stdin=False)
    # without a terminal (cron, a pipe) a TUI would write escape codes forever
    missing = terminal_missing()
    if missing is not None:
        raise UsageError(
            f"tui needs a terminal, and {missing} is not one: use `qnetinspect show` or "
            "`qnetinspect check` from scripts and cron"
        )
    from qnetinspect.tui.app import run_tui  # textual is heavy: only load it for the TUI

    return run_tui(
        list(args.targets),
        interval=args.interval,
        allow_changes=args.allow_changes,
        config=args.config,
        hold=args.hold,
    )
