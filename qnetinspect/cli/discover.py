"""``qnetinspect discover``: the QMP sockets of running QEMUs, and the monitors left out."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from qnetinspect.cli import exit_codes


def register(sub: Any) -> None:
    p = sub.add_parser(
        "discover",
        help="list running QEMUs and their QMP sockets",
        description="Find QMP sockets in QEMU command lines (/proc) and in the directories "
        "Proxmox, Incus, LXD and Ganeti use. `auto` as a TARGET inspects what this lists.",
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from qnetinspect.discovery import scan

    result = scan()
    if args.format == "json":
        import json

        from qnetinspect.report.json import SCHEMA

        doc = {
            "schema": SCHEMA,
            "found": [
                {"pid": v.pid, "name": v.name, "address": str(v.address), "source": v.source,
                 "manager": v.manager}
                for v in result.found
            ],
            "skipped": [
                {"pid": s.pid, "name": s.name, "source": s.source, "reason": s.reason,
                 "hint": s.hint, "manager": s.manager}
                for s in result.skipped
            ],
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return exit_codes.OK
    rows = [("PID", "NAME", "SOCKET", "SOURCE")]
    rows += [(str(v.pid or "-"), v.name or "-", str(v.address), v.source) for v in result.found]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r[:3], widths, strict=True)) + "  " + r[3]
        for r in rows
    ]
    if not result.found:
        lines.append("(no QMP socket found)")
    for s in result.skipped:
        lines.append(f"skipped pid {s.pid or '-'} {s.name or '-'}: {s.reason}: {s.source}")
        if s.hint:
            lines.append(f"  hint: {s.hint}")
    from qnetinspect.report.escape import terminal_lines  # names from VMs' command lines

    sys.stdout.write(terminal_lines("\n".join(lines)) + "\n")
    return exit_codes.OK
