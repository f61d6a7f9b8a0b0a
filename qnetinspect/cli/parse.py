"""``qnetinspect parse [FILE|-] [--format text|json]``: saved ``info network`` text -> topology.

Reads a file, or stdin for ``-`` or no argument (e.g. piped from
``virsh qemu-monitor-command DOM --hmp 'info network'``). A capture JSON file (an object with an
``info_network`` key, as in fixtures/captures) is accepted too; its ``info usernet`` is then
used by the rules as well. Lines not understood are reported (count, first lines, reasons);
text from which no network client can be read (empty, an error message, a web page) is one
line ``qnetinspect: FILE: unreadable: <reason>`` and exit 2, as is an unreadable file
(``qnetinspect: FILE: <reason>``). Pasted text (prompts, quotes, indentation, wrapping,
CRLF/CR/BOM, a QMP JSON reply) is read through parse/paste.py, which says what it did.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from qnetinspect.cli import exit_codes, helptext
from qnetinspect.errors import InputError
from qnetinspect.models import Finding, NetClient, Topology

STDIN = "-"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "parse",
        help="parse saved 'info network' text (file or stdin) into a topology and findings",
        description=helptext.description(__doc__),
    )
    p.add_argument(
        "file",
        nargs="?",
        default=STDIN,
        metavar="FILE",
        help="'info network' text or a capture JSON file; '-' or nothing reads stdin",
    )
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    p.set_defaults(func=run)


def read_input(name: str) -> str:
    """The text of FILE or stdin, decoded leniently (binary junk must not stop the parse)."""
    from qnetinspect.parse.decode import decode_text

    try:
        data = sys.stdin.buffer.read() if name == STDIN else _read_file(name)
    except OSError as exc:
        raise InputError(name, exc.strerror or str(exc)) from exc
    return decode_text(data)  # the decoder of `show -` and `file:` too: all three read alike


def _read_file(name: str) -> bytes:
    with open(name, "rb") as f:
        return f.read()


def split_capture(text: str) -> tuple[str, str | None, bool]:
    """(info network, info usernet or None, is a capture) of a capture JSON document, or
    (text, None, False) for any other text."""
    if not text.lstrip().startswith("{"):
        return text, None, False
    try:
        doc: Any = json.loads(text)
    except ValueError:
        return text, None, False
    if not isinstance(doc, dict) or not isinstance(doc.get("info_network"), str | None):
        return text, None, False
    if "info_network" not in doc:
        return text, None, False
    extra = doc.get("extra_hmp")
    usernet = extra.get("info usernet") if isinstance(extra, dict) else None
    return doc["info_network"] or "", usernet if isinstance(usernet, str) else None, True


def run(args: argparse.Namespace) -> int:
    from qnetinspect.models import Snapshot
    from qnetinspect.parse import parse_info_network, parse_usernet
    from qnetinspect.parse.paste import unreadable_reason
    from qnetinspect.report.escape import terminal, terminal_lines
    from qnetinspect.rules import evaluate

    name: str = args.file
    text, usernet_text, capture = split_capture(read_input(name))
    # a capture holds QEMU's exact reply; anything else was handed over by a person
    topology = parse_info_network(text, pasted=not capture)
    usernet = parse_usernet(usernet_text or "")
    snapshot = Snapshot(target=name, topology=topology, usernet=usernet, live=False,
                        usernet_read=usernet_text is not None)
    reason = unreadable_reason(topology, empty_ok=capture)
    findings = evaluate([snapshot]) if reason is None else []
    if reason is not None:
        print(f"qnetinspect: {terminal(name)}: unreadable: {terminal(reason)}", file=sys.stderr)
    elif topology.unparsed:
        n = len(topology.unparsed)
        print(f"qnetinspect: {terminal(name)}: {n} unparsed line{'s' * (n != 1)}",
              file=sys.stderr)
    if args.format == "json":
        from qnetinspect.report.json import SCHEMA, finding_to_dict, topology_to_dict

        doc: dict[str, Any] = {
            "schema": SCHEMA,
            "source": name,
            "topology": topology_to_dict(topology),
            "findings": [finding_to_dict(f) for f in findings],
        }
        if reason is not None:
            doc["error"] = {"kind": "unreadable", "message": reason}
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    elif reason is None:
        # the text holds a VM's strings: no control character of theirs reaches the terminal
        sys.stdout.write(terminal_lines(render_text(name, topology, findings)))
    # nothing read is never a success: the reason is on stderr (one line)
    return exit_codes.OK if reason is None else exit_codes.USAGE


def _client_rows(t: Topology) -> list[tuple[str, str, str, str, str]]:
    """(where, name, type, queue, info) for every client, hubs first, in creation order."""
    rows: list[tuple[str, str, str, str, str]] = []

    def add(where: str, c: NetClient) -> None:
        info = c.info_raw or "-"
        if c.filters:
            info += "  filters: " + ", ".join(f"{f.id} ({f.type})" for f in c.filters)
        rows.append((where, c.name, c.type, str(c.index), info))

    for hub in t.hubs:
        for port in hub.ports:
            where = f"hub {hub.id} {port.name or '-'}"
            if port.peer is None:
                rows.append((where, "-", "(no peer)", "-", "-"))
            else:
                add(where, port.peer)
    for c in t.clients:
        add("-", c)
        if c.peer is not None:
            add(f"peer of {c.name}", c.peer)
    return rows


def unparsed_section(t: Topology, limit: int = 10) -> list[str]:
    """What the reading step did to a pasted text, and the lines not understood (count and the
    first ``limit`` with their reasons); empty for text read as printed."""
    from qnetinspect.report.text import pasted_lines, unparsed_lines

    out: list[str] = []
    if t.notes or t.removed:
        out += ["", *pasted_lines(t)]
    if t.unparsed:
        out += ["", *unparsed_lines(t, limit)]
    return out


def render_text(name: str, t: Topology, findings: Sequence[Finding]) -> str:
    """Diagrams, the client table, unparsed lines and findings, as plain text."""
    from qnetinspect.report.diagram import render_diagram
    from qnetinspect.report.text import render_findings_section

    out = [render_diagram(t, title=name).rstrip("\n"), "", f"Clients ({t.dialect} format):"]
    rows = _client_rows(t)
    if rows:
        head = ("WHERE", "NAME", "TYPE", "Q", "INFO")
        widths = [max(len(r[i]) for r in (head, *rows)) for i in range(4)]
        for r in (head, *rows):
            cells = [r[i].ljust(widths[i]) for i in range(4)]
            out.append("  " + "  ".join([*cells, r[4]]).rstrip())
    else:
        out.append("  (none)")
    out += unparsed_section(t)
    out += ["", *render_findings_section(findings)]
    return "\n".join(out) + "\n"
