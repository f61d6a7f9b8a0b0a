"""``qnetinspect check``: a monitoring plugin (Nagios/Icinga), JSON, or Prometheus textfile.

Exit codes follow monitoring-plugins: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (our own failure:
bad usage, unreadable config). Imports stay light (no textual, no rich): cron runs this often.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from qnetinspect.cli import exit_codes

if TYPE_CHECKING:
    from qnetinspect.config import Config
    from qnetinspect.models import Finding, Snapshot

FORMATS = ("nagios", "json", "prometheus")
#: what each format needs after the reads (imported while they run)
_REPORT_MODULE = {"nagios": "qnetinspect.report.nagios", "json": "qnetinspect.report.json",
                  "prometheus": "qnetinspect.report.prometheus"}


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of seconds > 0")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number >= 1")
    return value


def add_inspection_options(p: argparse.ArgumentParser) -> None:
    """Options shared by commands that inspect targets (check, show)."""
    p.add_argument("targets", nargs="*", metavar="TARGET",
                   help="socket path, unix:PATH, tcp:HOST:PORT, glob, auto, -, file:PATH, "
                        "libvirt:DOMAIN or libvirt: (every running domain) "
                        "(default: targets of the config file)")
    p.add_argument("--connect", metavar="URI",
                   help="libvirt URI for libvirt: targets and auto (default qemu:///system; "
                        "qemu+ssh://HOST/system reads another host through libvirt's remote "
                        "transport). Reading info network through libvirt marks the domain "
                        "tainted 'custom-monitor'")
    p.add_argument("--no-monitor", action="store_true",
                   help="libvirt: targets: read only the domain XML and the QEMU command line "
                        "and predict the network (taints nothing; no info usernet)")
    p.add_argument("--timeout", type=_positive_float, metavar="S",
                   help="seconds allowed per VM (default 5, or the config's timeout)")
    p.add_argument("--concurrency", type=_positive_int, metavar="N",
                   help="VMs inspected at once (default 128, or the config's concurrency)")
    p.add_argument("--config", metavar="FILE",
                   help="TOML config (default: $XDG_CONFIG_HOME/qnetinspect/config.toml "
                        "if present)")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="monitoring plugin: exit 0/1/2/3 with a status line (or JSON / Prometheus)",
        description="Inspect the targets and report as a monitoring plugin: exit 0 OK, "
        "1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
    )
    # usage errors of a monitoring plugin are UNKNOWN (3), not CRITICAL (2)
    p.usage_exit_code = exit_codes.NAGIOS_UNKNOWN
    add_inspection_options(p)
    p.add_argument("--format", choices=FORMATS, default="nagios")
    p.add_argument("--output", metavar="FILE",
                   help="write the report to FILE atomically (temporary file + rename) "
                        "instead of stdout, e.g. for node_exporter's textfile collector")
    p.add_argument("--unreachable", choices=("ok", "warning", "critical", "unknown"),
                   default="warning", help="state of a target that cannot be inspected "
                   "(default: warning)")
    p.set_defaults(func=run, error_exit_code=exit_codes.NAGIOS_UNKNOWN)


# ----------------------------------------------------------------------------- shared
def inspect_all(
    specs: Sequence[str], *, config_path: str | None, timeout: float | None,
    concurrency: int | None, connect: str | None = None, monitor: bool = True,
    check_fixes: bool = True, warm: Sequence[str] = (),
) -> tuple[list[Snapshot], list[Finding], float, Config]:
    """Expand targets, inspect them all, evaluate the rules; returns the wall time too.

    Raises UsageError (bad target, no target, bad config) and InputError (stdin unreadable).
    """
    from qnetinspect.service import inspect

    done = inspect(specs, config_path=config_path, timeout=timeout, concurrency=concurrency,
                   connect=connect, monitor=monitor, read_stdin=_read_stdin,
                   check_fixes=check_fixes, warm=warm)
    return done.snapshots, done.findings, done.duration, done.config


def _read_stdin() -> str:
    from qnetinspect.errors import InputError

    if sys.stdin is None:
        raise InputError("stdin", "not open")
    from qnetinspect.parse.decode import decode_text

    try:
        # bytes, decoded by the one decoder of `parse` and `file:` (BOM, CR, bad UTF-8)
        buffer = getattr(sys.stdin, "buffer", None)  # a test's StringIO has none
        return decode_text(buffer.read() if buffer else
                           sys.stdin.read().encode("utf-8", "surrogateescape"))
    except OSError as exc:
        raise InputError("stdin", f"cannot read: {exc}") from exc


def write_atomic(path: str, text: str) -> None:
    """Write FILE atomically and safely (``qnetinspect.outfile``), every format alike."""
    from qnetinspect.outfile import write_atomic as write

    write(path, text)


# ----------------------------------------------------------------------------- run
def run(args: argparse.Namespace) -> int:
    from qnetinspect.report.nagios import verdict

    snapshots, findings, duration, _ = inspect_all(
        args.targets, config_path=args.config, timeout=args.timeout,
        concurrency=args.concurrency, connect=args.connect, monitor=not args.no_monitor,
        check_fixes=args.format == "json",  # the others print none
        warm=("qnetinspect.report.nagios", _REPORT_MODULE[args.format]),
    )
    v = verdict(snapshots, findings, unreachable=args.unreachable)
    if args.format == "prometheus":
        from qnetinspect.report.prometheus import build_registry, render_prometheus

        # rendered here and written by the one safe writer (prometheus-client's own
        # write_to_textfile uses a predictable temporary name, opened without O_EXCL)
        registry = build_registry(snapshots, findings, state=v.state, duration=duration)
        text = render_prometheus(registry)
    elif args.format == "json":
        from qnetinspect.report.json import document, render

        doc = document(snapshots, findings, status=v.name.lower(), summary={
            "vms": v.vms, "unreachable": len(v.unreachable), **v.counts,
            "duration": round(duration, 3)})
        text = render(doc, pretty=not args.output and sys.stdout.isatty())
    else:
        from qnetinspect.report.nagios import render_nagios

        text = render_nagios(snapshots, findings, v, duration=duration)
    if args.output:
        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return v.state
