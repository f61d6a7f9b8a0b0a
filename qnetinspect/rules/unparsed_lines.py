from __future__ import annotations

from collections.abc import Iterator

from qnetinspect.models import Finding, Severity, Snapshot, Topology
from qnetinspect.rules.base import Rule

#: how many unparsed lines the message quotes
_SHOWN = 3
_WIDTH = 60


def _quote(text: str) -> str:
    return repr(text if len(text) <= _WIDTH else text[: _WIDTH - 3] + "...")


class UnparsedLines(Rule):
    """Lines of ``info network`` that were not understood: the VM was read only in part.

    Why it matters: a NIC or backend on a line that could not be read is missing from every
    other check, so a leak on it goes unseen; a half-read VM must never look OK. The lines are
    listed with their numbers and the reason (``parse`` and ``show`` print them, JSON has them
    under ``topology.unparsed``). Pasted text (prompts, quotes, indentation, wrapped lines,
    CRLF, a QMP JSON reply) is read through a reading step first; what is left is really
    unknown: prose, guest output, or a format this version does not know.

    How to fix: give the exact output of ``info network`` (e.g. ``virsh qemu-monitor-command
    DOM --hmp 'info network'``, or inspect the VM through its QMP socket), or remove the lines
    that are not part of it; if QEMU itself printed them (a ``-netdev`` type or a state this
    version does not know), report them with the QEMU version.
    """

    slug = "unparsed-lines"
    severity = Severity.WARNING

    def check(self, snapshot: Snapshot, topology: Topology) -> Iterator[Finding]:
        lines = topology.unparsed
        if not lines:
            return
        n = len(lines)
        shown = "; ".join(f"line {u.line} {_quote(u.text)} ({u.reason})" for u in lines[:_SHOWN])
        more = f"; +{n - _SHOWN} more" if n > _SHOWN else ""
        yield self.finding(
            snapshot.target,
            f"{snapshot.label}: {n} line{'s' * (n != 1)} of info network not understood, "
            f"so the VM was read only in part: {shown}{more}",
            fix="give the exact 'info network' output, or remove the lines that are not part "
            "of it",
        )
