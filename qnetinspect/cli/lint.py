"""``qnetinspect lint [--format text|json] (--pid PID | -- QEMU_ARGV...)``: check a command line.

Predicts, without starting QEMU, the network QEMU would build from the command line (see
``qnetinspect.parse.argv``), prints it (diagram, or JSON ``{"schema": 1, "topology", "findings",
"errors", "notes"}``) and runs the same rules as ``show``. The fix of ``legacy-net`` and
``nat-external-hub`` findings is the migrated command line (``qnetinspect migrate``).

Exit 0: no finding at warning or above; 1: such a finding, or QEMU would refuse the command line;
2: usage error (no argv, a PID that does not exist, a bad ``--qemu-version``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from qnetinspect.cli import exit_codes, helptext
from qnetinspect.errors import InputError, UsageError

if TYPE_CHECKING:
    from qnetinspect.models import Finding
    from qnetinspect.parse.argv import ArgvTopology, Version


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "lint",
        help="predict and check the network of a QEMU command line, without running it",
        description=helptext.description(__doc__),
    )
    add_argv_arguments(p)
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    p.add_argument(
        "--no-host-checks",
        action="store_true",
        help="do not look at this host (/dev/vhost-net, bridge ACL, vde sockets)",
    )
    p.set_defaults(func=run)


def add_argv_arguments(p: argparse.ArgumentParser) -> None:
    """``--pid``, ``--qemu-version`` and the QEMU argv after ``--`` (shared with ``migrate``)."""
    p.add_argument("--pid", type=int, help="read the command line of this running QEMU")
    p.add_argument(
        "--qemu-version",
        metavar="X.Y",
        help="predict this QEMU version's behaviour (default: the binary's, else the installed "
        "qemu-system-x86_64's, else 7.2)",
    )
    p.add_argument(
        "qemu_argv",
        nargs=argparse.REMAINDER,
        metavar="-- QEMU_ARGV",
        help="the QEMU command line, with or without the binary as first word",
    )


def read_argv(args: argparse.Namespace) -> tuple[list[str], str]:
    """(the QEMU argv, a label for it). Raises UsageError / InputError with one clear line."""
    argv = list(args.qemu_argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if args.pid is not None:
        if argv:
            raise UsageError("give either --pid PID or -- QEMU_ARGV, not both")
        return read_pid_cmdline(args.pid), f"pid {args.pid}"
    if not argv:
        raise UsageError("nothing to read: give --pid PID or -- QEMU_ARGV... (e.g. -- -net nic)")
    return argv, "argv"


def read_pid_cmdline(pid: int) -> list[str]:
    from qnetinspect.parse.argv import read_proc_cmdline

    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise InputError(f"pid {pid}", "no such process") from None
    except OSError as exc:
        raise InputError(f"pid {pid}", exc.strerror or str(exc)) from exc
    argv = read_proc_cmdline(data)
    if not argv:
        raise InputError(f"pid {pid}", "no command line (a kernel thread or a zombie)")
    return argv


def qemu_version(args: argparse.Namespace, argv: Sequence[str]) -> Version:
    """The QEMU version to predict: --qemu-version, else ask the binary, else the default."""
    from qnetinspect.parse.argv import DEFAULT_VERSION, parse_version

    if args.qemu_version:
        try:
            return parse_version(args.qemu_version)
        except ValueError:
            raise UsageError(
                f"--qemu-version {args.qemu_version!r}: expected MAJOR.MINOR, e.g. 7.2"
            ) from None
    candidates: list[str] = []
    if args.pid is not None:
        candidates.append(f"/proc/{args.pid}/exe")
    if argv and not argv[0].startswith("-") and os.path.basename(argv[0]).startswith("qemu-"):
        found = shutil.which(argv[0])
        if found:
            candidates.append(found)
    installed = shutil.which("qemu-system-x86_64")
    if installed:
        candidates.append(installed)
    for exe in candidates:
        version = _ask_version(exe)
        if version is not None:
            return version
    return DEFAULT_VERSION


def _ask_version(exe: str) -> Version | None:
    try:
        out = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"version (\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def run(args: argparse.Namespace) -> int:
    from qnetinspect.migrate import with_migrated_fixes
    from qnetinspect.models import Severity, Snapshot, VmInfo
    from qnetinspect.parse.argv import predict, usernet_forwards
    from qnetinspect.rules import evaluate

    argv, label = read_argv(args)
    version = qemu_version(args, argv)
    result = predict(
        argv, qemu_version=version, path_exists=None if args.no_host_checks else os.path.exists
    )
    target = result.vm_name or label
    # The command line says which host forwards exist, so the snapshot counts as live.
    snapshot = Snapshot(
        target=target,
        vm=VmInfo(name=result.vm_name, qemu_version="{}.{}".format(*version)),
        topology=result.topology,
        usernet=usernet_forwards(result),
        live=True,
        argv=tuple(argv),
    )
    findings = with_migrated_fixes(evaluate([snapshot]), [snapshot])
    if args.format == "json":
        sys.stdout.write(json.dumps(to_json(result, findings, target), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(result, findings, target))
    bad = any(f.severity >= Severity.WARNING for f in findings)
    return exit_codes.PROBLEMS if bad or result.errors else exit_codes.OK


def to_json(result: ArgvTopology, findings: Sequence[Finding], target: str) -> dict[str, object]:
    from qnetinspect.report.json import SCHEMA, finding_to_dict, topology_to_dict

    return {
        "schema": SCHEMA,
        "source": target,
        "qemu_version": "{}.{}".format(*result.qemu_version),
        "machine": result.machine,
        "vm": {"name": result.vm_name},
        "topology": topology_to_dict(result.topology),
        "findings": [finding_to_dict(f) for f in findings],
        "errors": [{"option": e.option, "message": e.message} for e in result.errors],
        "notes": list(result.notes),
    }


def render_text(result: ArgvTopology, findings: Sequence[Finding], target: str) -> str:
    from qnetinspect.report.diagram import render_diagram
    from qnetinspect.report.text import render_findings_section

    version = "{}.{}".format(*result.qemu_version)
    out = [
        render_diagram(result.topology, title=f"{target} (QEMU {version}, {result.machine})")
        .rstrip("\n")
    ]
    if result.errors:
        out += ["", f"QEMU would refuse this command line ({len(result.errors)}):"]
        out += [f"  ERROR    {e}" for e in result.errors]
    if result.notes:
        out += ["", "Notes:"] + [f"  {n}" for n in result.notes]
    out += ["", *render_findings_section(findings)]
    # --pid reads a VM's own command line: its names must not reach the terminal as controls
    from qnetinspect.report.escape import terminal_lines

    return terminal_lines("\n".join(out)) + "\n"
