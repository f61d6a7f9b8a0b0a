"""``qnetinspect show``: each VM's network as a diagram with its findings (text, JSON, DOT,
Mermaid).

Exit 0 when every target was read, 1 when some could not be (each one is named), 2 on usage
errors. Findings do not change the exit code: that is ``check``'s job.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from qnetinspect.cli import exit_codes
from qnetinspect.cli.check import add_inspection_options

FORMATS = ("text", "json", "dot", "mermaid")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "show",
        help="show each VM's network topology and findings",
        description="Inspect the targets and show each VM's hubs, NICs and backends as a "
        "diagram, with the findings of the rules.",
    )
    add_inspection_options(p)
    p.add_argument("--format", choices=FORMATS, default="text")
    p.set_defaults(func=run)


def _colour_wanted() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _print_coloured(text: str) -> None:
    from rich.console import Console
    from rich.text import Text

    styles = {"CRITICAL": "bold red", "WARNING": "yellow", "INFO": "cyan",
              "UNREACHABLE": "bold magenta"}
    out = Text(text)
    for word, style in styles.items():
        out.highlight_regex(rf"(?m)^{word}\b", style)
    out.highlight_regex(r"(?m)^== .* ==$", "bold")
    Console(highlight=False, soft_wrap=True).print(out, end="")


def run(args: argparse.Namespace) -> int:
    from qnetinspect.cli.check import inspect_all
    from qnetinspect.report.json import document

    snapshots, findings, _, _ = inspect_all(
        args.targets, config_path=args.config, timeout=args.timeout,
        concurrency=args.concurrency, connect=args.connect, monitor=not args.no_monitor,
    )
    if any(s.argv for s in snapshots):
        # a person reads `show`: for local VMs whose command line is readable, the fix of a
        # legacy hub is the migrated command line (`check` stays lean for cron)
        from qnetinspect.migrate import with_migrated_fixes

        findings = with_migrated_fixes(
            findings, [s for s in snapshots if s.manager != "libvirt"]  # theirs: domain XML
        )
    if args.format == "json":
        import json

        text = json.dumps(document(snapshots, findings), indent=2) + "\n"
    elif args.format == "dot":
        from qnetinspect.report.dot import render_dot

        text = render_dot(snapshots, findings)
    elif args.format == "mermaid":
        from qnetinspect.report.dot import render_mermaid

        text = render_mermaid(snapshots, findings)
    else:
        from qnetinspect.report.text import render_text

        text = render_text(snapshots, findings)
        if _colour_wanted():
            _print_coloured(text)
            text = ""
    sys.stdout.write(text)
    sys.stdout.flush()
    if any(s.error is not None for s in snapshots):
        return exit_codes.PROBLEMS
    return exit_codes.OK
