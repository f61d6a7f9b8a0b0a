"""One sanitizer per output for strings that come from a VM or a peer (names, paths, error text).

Every such string is untrusted: a VM's owner picks its ``-name``, socket paths and chardev ids
reach us verbatim, and a peer writes its own error text. Each output gets one function here:

- ``terminal``: control characters (C0, DEL, C1), Unicode format characters (bidi overrides),
  line/paragraph separators, lone surrogates (undecodable bytes) and private-use characters are
  shown as ``\\xNN`` / ``\\uNNNN`` escapes: nothing reaches a terminal as a control sequence, and a
  newline cannot start a line of its own;
- ``nagios``: ``terminal`` plus ``|`` (it starts perfdata) as ``\\x7c``;
- ``prometheus_label``: ``terminal``; prometheus-client then escapes ``\\``, ``"`` and newlines;
- ``dot`` / ``mermaid``: ``terminal`` plus the quoting each format needs, quotes included;
- ``markup``: ``terminal`` plus Textual/Rich markup escaping (``[`` cannot open a tag).

JSON stays exact (``json.dumps`` escapes everything itself). ``sanitize_snapshots`` and
``sanitize_findings`` apply ``terminal`` to every string of the models before a text renderer
sees them, so each renderer needs no care of its own. Stdlib only, but for ``markup``, which
imports Rich when called (``check`` stays light).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType

from qnetinspect.models import (
    Filter,
    Finding,
    Hub,
    HubPort,
    NetClient,
    Snapshot,
    TargetFailure,
    Topology,
    UnparsedLine,
    VmInfo,
)

__all__ = [
    "dot",
    "markup",
    "mermaid",
    "nagios",
    "prometheus_label",
    "sanitize_findings",
    "sanitize_snapshots",
    "sanitize_topology",
    "terminal",
    "terminal_lines",
]

# printable ASCII needs no look-up (nearly every real string)
_SAFE_ASCII = re.compile(r"[\x20-\x7e]*\Z")
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if code == 0x0A:
        return "\\n"
    if code == 0x09:
        return "\\t"
    if code == 0x0D:
        return "\\r"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def terminal(text: str) -> str:
    """``text`` with every character that is not plainly printable shown as an escape."""
    if _SAFE_ASCII.match(text):
        return text
    return "".join(
        _escape_char(ch)
        if (ch < " " or "\x7f" <= ch <= "\x9f" or unicodedata.category(ch) in _UNSAFE_CATEGORIES)
        else ch
        for ch in text
    )


def terminal_lines(text: str) -> str:
    """A multi-line report through ``terminal`` line by line: its own newlines are kept, and
    nothing else (a name's newline was already split, its other controls are escaped)."""
    return "\n".join(terminal(line) for line in text.split("\n"))


def nagios(text: str) -> str:
    """For the plugin output: one line, and no ``|`` to start perfdata."""
    return terminal(text).replace("|", "\\x7c")


def prometheus_label(text: str) -> str:
    """A label value: prometheus-client escapes ``\\``, ``"`` and newline itself."""
    return terminal(text)


def dot(text: str) -> str:
    """A quoted DOT string (``"..."``)."""
    return '"' + terminal(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def mermaid(text: str) -> str:
    """A quoted Mermaid label: a double quote would end it, so it becomes its entity code."""
    return '"' + terminal(text).replace('"', "#quot;") + '"'


def markup(text: str) -> str:
    """For a Textual/Rich markup string: no control characters, and ``[`` opens no tag (Rich's
    own escape: it leaves a backslash alone unless it precedes a tag, so ``a\\b`` still shows
    one backslash)."""
    from rich.markup import escape  # only the TUI renders markup: `check` never imports rich

    return escape(terminal(text))


# ----------------------------------------------------------------------------- models
def _map(m: Mapping[str, str]) -> Mapping[str, str]:
    if all(_SAFE_ASCII.match(k) and _SAFE_ASCII.match(v) for k, v in m.items()):
        return m
    return MappingProxyType({terminal(k): terminal(v) for k, v in m.items()})


def _client(c: NetClient) -> NetClient:
    if c.peer is None and not c.filters and _safe(c.name, c.type, c.info_raw) and all(
        _SAFE_ASCII.match(k) and _SAFE_ASCII.match(v) for k, v in c.info.items()
    ):
        return c
    return replace(
        c,
        name=terminal(c.name),
        type=terminal(c.type),
        info=_map(c.info),
        info_raw=terminal(c.info_raw),
        filters=tuple(
            Filter(terminal(f.id), terminal(f.type), _map(f.props), terminal(f.raw))
            for f in c.filters
        ),
        peer=_client(c.peer) if c.peer is not None else None,
    )


def sanitize_topology(t: Topology) -> Topology:
    """``t`` with ``terminal`` applied to every name and info string (for text outputs)."""
    return replace(
        t,
        hubs=tuple(
            Hub(
                id=h.id,
                ports=tuple(
                    HubPort(
                        name=terminal(p.name) if p.name is not None else None,
                        peer=_client(p.peer) if p.peer is not None else None,
                        line=p.line,
                    )
                    for p in h.ports
                ),
                line=h.line,
            )
            for h in t.hubs
        ),
        clients=tuple(_client(c) for c in t.clients),
        unparsed=tuple(
            UnparsedLine(u.line, terminal(u.text), terminal(u.reason)) for u in t.unparsed
        ),
        removed=tuple(
            UnparsedLine(u.line, terminal(u.text), terminal(u.reason)) for u in t.removed
        ),
        notes=tuple(terminal(n) for n in t.notes),
    )


def _opt(text: str | None) -> str | None:
    return terminal(text) if text is not None else None


def _safe(*texts: str | None) -> bool:
    return all(t is None or _SAFE_ASCII.match(t) for t in texts)


def sanitize_snapshots(
    snapshots: Sequence[Snapshot], *, topology: bool = True
) -> list[Snapshot]:
    """Every snapshot with its VM strings, error text and (unless ``topology`` is False, for
    outputs that draw no topology) its topology made safe for text output."""
    out = []
    for s in snapshots:
        vm, err = s.vm, s.error
        if not topology and _safe(s.target, vm.name, vm.qemu_version, vm.status,
                                  err.message if err else None):
            out.append(s)  # nearly always: nothing to copy
            continue
        out.append(
            replace(
                s,
                target=terminal(s.target),
                vm=VmInfo(
                    name=_opt(s.vm.name),
                    qemu_version=_opt(s.vm.qemu_version),
                    status=_opt(s.vm.status),
                    pid=s.vm.pid,
                ),
                topology=(
                    sanitize_topology(s.topology)
                    if topology and s.topology is not None
                    else s.topology
                ),
                error=(
                    TargetFailure(s.error.kind, terminal(s.error.message))
                    if s.error is not None
                    else None
                ),
            )
        )
    return out


def sanitize_findings(findings: Sequence[Finding]) -> list[Finding]:
    """Findings whose message, fix, target and client names are safe for text output."""
    return [
        f if _safe(f.message, f.target, f.fix, *f.clients) else replace(
            f,
            message=terminal(f.message),
            target=terminal(f.target),
            clients=tuple(terminal(c) for c in f.clients),
            fix=terminal(f.fix),
        )
        for f in findings
    ]
