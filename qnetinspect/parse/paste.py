"""The reading step for ``info network`` text as people paste it (mail, forums, READMEs,
terminals, ``virsh``), run before the parser and only for text a person handed us.

What it undoes, each recorded (a removed line keeps its number and a reason; a whole-text change
is a note):

- a quoted-printable mail body (``type=3Dnic``, soft line breaks) is decoded;
- a pasted QMP JSON reply (``{"return": "hub 0\\r\\n \\\\ ..."}``, ``virsh qemu-monitor-command``
  without ``--hmp``) is unwrapped; an error reply is removed with QEMU's message as the reason;
- non-breaking and other odd spaces, tabs, zero-width characters; trailing whitespace;
- mail quotes (``> ``, a ``| `` quote box), prompts (``(qemu) ``, ``qm> ``), command echoes
  (``info network``, ``virsh ... 'info network'``), monitor banners;
- several outputs in one paste: split ONLY at explicit markers (a command echo, with or
  without its prompt, or a banner), the last output is read and the earlier ones are removed
  with a note. A repeated ``hub 0`` header alone is never a split: that is a sign of a forged
  listing, not of a paste;
- common indentation (markdown, reStructuredText, list items) and whitespace inside the
  `` \\ `` structure: lines are re-indented by what they are, as QEMU prints them;
- junk before a ``\\`` (``- \\ nic2`` from a rendered list);
- lines wrapped by a mail client or a terminal: a line joined with the next one when the
  result is a valid line and the line alone is not (or is cut in the middle of a value).

Text exactly as QEMU printed it comes out unchanged. Pure: no I/O, never raises.
"""

from __future__ import annotations

import json
import quopri
import re
from dataclasses import dataclass

from qnetinspect.models import Topology, UnparsedLine
from qnetinspect.parse.decode import normalize_newlines
from qnetinspect.parse.info_network import BACKSLASH_PREFIX, line_kind

__all__ = ["Pasted", "looks_pasted", "normalize_paste", "unreadable_reason"]

#: spaces that are not U+0020 (NBSP from HTML pages, figure/narrow spaces, ideographic), tab
_ODD_SPACES = re.compile("[\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_INVISIBLE = re.compile("[\u200b-\u200d\u2060\ufeff\u200e\u200f]")
#: mail quotes: ``> `` (nested ``>> >``), and the ``| `` of a quote box (``,----`` ... ``\`----``)
_QUOTE = re.compile(r"[ ]*(?:[>|][ ]?)+")
_PROMPT = re.compile(r"[ ]*(?:\(qemu\)|\(QEMU\)|qemu>|QEMU>|qm>|\(hmp\)|virsh ?#)(?: |\Z)")
#: ``info <command>`` typed at a monitor or inside a shell command (virsh, qm, socat ...)
_ECHO_INFO = re.compile(r"(?<![\w=.-])info\s+(?P<cmd>[a-z][a-z_-]*)")
_ECHO_SHELL = re.compile(
    r"(?:\S*[$#%]\s*)?(?:sudo\s+)?(?:virsh|qm|qmp-shell|socat|nc|telnet|qemu-system-\S+)\s"
)
_BANNER = re.compile(
    r"(?i)(?:monitor\s*-\s*type\s+'help'|type:?\s+'help'\s+for|^welcome to virsh"
    r"|'quit' to quit|^entering qemu monitor)"
)
#: HMP commands typed after a prompt whose echo ends an output (``device_add e1000,id=x``,
#: ``quit``); only known ones: the rest of a wrapped line after a prompt is no command
_COMMANDS = frozenset({
    "quit", "q", "help", "device_add", "device_del", "netdev_add", "netdev_del", "set_link",
    "hostfwd_add", "hostfwd_remove", "system_reset", "system_powerdown", "stop", "cont", "c",
    "savevm", "loadvm", "migrate", "object_add", "object_del", "chardev_add", "chardev_remove",
    "qom-list", "qom-get", "qom-set", "announce_self", "sendkey", "screendump", "balloon",
})
#: markdown fences and reStructuredText code directives around a pasted block
_FENCE = re.compile(
    r"(?:```|~~~)[\w+-]*\Z|\.\. (?:code-block|code|sourcecode|parsed-literal)::.*\Z|::\Z"
    r"|[,`]-{3,}\Z"  # the frame of a quote box
)
#: a list marker (markdown, a rendered page) before a line: ``- \\ nic2``, ``1. hub 0``
_LIST_MARK = re.compile(r"(?:[-*+\u2022\u00b7]|\d+[.)])\s*(?=\\)|(?:[-*+\u2022\u00b7]|\d+[.)])\s+")
#: a value cut by a terminal wrap: the piece on the next line is made of what QEMU's info
#: strings are made of (no space, no markup such as a closing code fence)
_CONTINUATION = re.compile(r"[\w.:,=/@+-]+\Z")
#: a line shorter than this was not wrapped by a terminal (they wrap at 80, mail at ~72)
_WRAP_MIN = 60
#: the rest of a wrapped info string has at most this many words (``to 127.0.0.1:4000``)
_WRAP_WORDS = 3
_MAX_SHOWN = 60
#: a line is joined with at most this many wrapped pieces, up to this length: a long filter
#: line cut at 64 columns is ~10 pieces; the bound keeps the reading linear on any input
_MAX_PIECES = 64
_MAX_JOINED = 8192


@dataclass(frozen=True, slots=True)
class Pasted:
    """The text to parse as (original line number, line) pairs, and what was done to get it."""

    lines: tuple[tuple[int, str], ...]
    removed: tuple[UnparsedLine, ...] = ()
    notes: tuple[str, ...] = ()


def looks_pasted(text: str) -> bool:
    """True when the text shows a sign of having passed through a person's hands.

    QEMU's own output never has these: a line ending in whitespace, a tab, an odd space, a lone
    CR, a BOM, a quote or prompt, indentation other than QEMU's, a JSON reply.
    """
    stripped = text.lstrip()
    if stripped.startswith(("{", '"')) or _ODD_SPACES.search(text) or _INVISIBLE.search(text):
        return True
    for line in text.split("\n"):
        line = line[:-1] if line.endswith("\r") else line
        if not line:
            continue
        if "\r" in line or line[-1] == " ":
            return True
        if line[0] == " " and not line.startswith((BACKSLASH_PREFIX, "  - ", "  ")):
            return True
        if line.startswith("   ") or _QUOTE.match(line) or _PROMPT.match(line):
            return True
        if line[0] == "\\" or _LIST_MARK.match(line):  # QEMU starts no line with these
            return True
    return False


def normalize_paste(text: str) -> Pasted:
    """Undo what pasting did (see the module docstring); every line is kept or accounted for."""
    notes: list[str] = []
    removed: list[UnparsedLine] = []
    text = normalize_newlines(text)
    text = _unquote_printable(text, notes)
    text = _unwrap_json(text, notes, removed)
    lines = [(no, _clean_chars(line)) for no, line in enumerate(text.split("\n"), start=1)]
    lines = _strip_markers(lines, notes, removed)
    lines = _reindent(lines)
    lines = _join_wrapped(lines, notes, removed)
    removed.sort(key=lambda u: u.line)
    return Pasted(lines=tuple(lines), removed=tuple(removed), notes=tuple(notes))


def _shown(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


# ----------------------------------------------------------------------------- mail encoding
def _unquote_printable(text: str, notes: list[str]) -> str:
    """A mail archive's quoted-printable body (``type=3Dnic``, lines cut with a final ``=``):
    QEMU prints ``type=`` in every client line, so ``type=3D`` is the sign."""
    if "type=3D" not in text:
        return text
    data = quopri.decodestring(text.encode("utf-8", "surrogateescape"))
    notes.append("decoded a quoted-printable mail body (=3D, soft line breaks); line numbers "
                 "are those of the decoded text")
    return normalize_newlines(data.decode("utf-8", "replace"))


# ----------------------------------------------------------------------------- JSON reply
def _unwrap_json(text: str, notes: list[str], removed: list[UnparsedLine]) -> str:
    s = text.strip()
    if not s.startswith(("{", '"')) and "\n" in s and '{"' in s:
        return _unwrap_json_line(text, notes, removed)
    doc: object = None
    if (s.startswith("{") and s.endswith("}")) or (s.startswith('"') and s.endswith('"')):
        try:
            doc = json.loads(s)
        except ValueError:  # several JSON lines: a QMP session (socat, qmp-shell ...)
            return _unwrap_json_line(text, notes, removed) if "\n" in s else text
    elif "\n" not in s and ("\\r\\n" in s or "\\n" in s):
        # the string of a reply copied without its quotes: "hub 0\r\n \\ hub0port1: ..."
        try:
            doc = json.loads('"' + s.replace('"', '\\"') + '"')
        except ValueError:
            return text
    else:
        return text
    if isinstance(doc, dict):
        if isinstance(doc.get("return"), str):
            notes.append("unwrapped a QMP JSON reply ({\"return\": ...}); line numbers are "
                         "those of the text inside it")
            return normalize_newlines(doc["return"])
        error = doc.get("error")
        if isinstance(error, dict):
            desc = str(error.get("desc") or error.get("class") or "error")
            removed.append(UnparsedLine(1, _shown(s), f"a QMP error reply: {desc}"))
            return ""
        return text
    if isinstance(doc, str):
        notes.append("unescaped a JSON string; line numbers are those of the text inside it")
        return normalize_newlines(doc)
    return text


def _unwrap_json_line(text: str, notes: list[str], removed: list[UnparsedLine]) -> str:
    """A one-line JSON reply among other lines (the shell command and prompt around it)."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        s = line.strip()
        if not (s.startswith("{") and s.endswith("}")):
            continue
        kept: list[UnparsedLine] = []
        inner = _unwrap_json(s, notes, kept)
        if inner == s and not kept:
            continue  # some other JSON: not a reply
        for no, other in enumerate(lines, start=1):
            if no != i + 1 and other.strip():
                removed.append(UnparsedLine(no, _shown(other.strip()),
                                            "around the QMP JSON reply"))
        removed.extend(kept)
        return inner
    return text


# ----------------------------------------------------------------------------- characters
def _clean_chars(line: str) -> str:
    if _INVISIBLE.search(line):
        line = _INVISIBLE.sub("", line)
    if _ODD_SPACES.search(line):
        line = _ODD_SPACES.sub(" ", line)
    return line.rstrip(" ")


# ----------------------------------------------------------------------------- markers
@dataclass(slots=True)
class _Segment:
    command: str | None  # "network", another info command, or None (not known)
    start: int  # line number of the marker (0: the beginning)
    lines: list[tuple[int, str]]


def _strip_markers(
    lines: list[tuple[int, str]], notes: list[str], removed: list[UnparsedLine]
) -> list[tuple[int, str]]:
    """Quotes and prompts off every line; command echoes and banners mark outputs."""
    quoted = prompted = 0
    segments = [_Segment(None, 0, [])]
    for no, line in lines:
        m = _QUOTE.match(line)
        if m and m.group().strip():  # QEMU never starts a line with '>' or '|'
            line = line[m.end() :]
            quoted += 1
        had_prompt = False
        m = _PROMPT.match(line)
        if m:
            line = line[m.end() :].rstrip(" ")
            prompted += 1
            had_prompt = True
        content = line.strip()
        if not content:
            if had_prompt:  # not a split: Enter pressed, or a wrapped line's blank rest
                removed.append(UnparsedLine(no, "", "an empty monitor prompt"))
            else:
                segments[-1].lines.append((no, ""))
            continue
        if _kind(line) is None:
            echo = _ECHO_INFO.search(content) if len(content) < 200 else None
            if echo and (had_prompt or content.startswith("info") or _ECHO_SHELL.match(content)):
                cmd = echo["cmd"]
                command = "network" if cmd == "network" else f"info {cmd}"
                removed.append(UnparsedLine(no, _shown(content), f"the command echo ({command})"))
                segments.append(_Segment(command, no, []))
                continue
            command = content.split(" ", 1)[0]
            if had_prompt and command in _COMMANDS:  # another monitor command: not our output
                removed.append(UnparsedLine(no, _shown(content), f"the command echo ({command})"))
                segments.append(_Segment(command, no, []))
                continue
            mark = _LIST_MARK.match(content)
            if _FENCE.match(content[mark.end() :] if mark else content):
                removed.append(UnparsedLine(no, _shown(content), "a code block marker"))
                continue
            if _ECHO_SHELL.match(content) or _BANNER.search(content):
                why = "a monitor banner" if _BANNER.search(content) else "a shell command"
                removed.append(UnparsedLine(no, _shown(content), why))
                segments.append(_Segment(None, no, []))
                continue
        segments[-1].lines.append((no, line))
    if quoted:
        notes.append(f"removed quote marks ('> ', '| ') from {quoted} line{'s' * (quoted != 1)}")
    if prompted:
        notes.append(f"removed monitor prompts from {prompted} line{'s' * (prompted != 1)}")
    return _pick_output(segments, notes, removed)


def _kind(line: str) -> str | None:
    """What a line is once its indentation, list marker and `` \\ `` spacing are undone."""
    s = line.strip(" ")
    m = _LIST_MARK.match(s)
    if m:
        s = s[m.end() :]
    if s.startswith("\\"):
        return line_kind(BACKSLASH_PREFIX + s[1:].lstrip(" "))
    if s.startswith("- "):
        return line_kind("  " + s)
    # not tried as a VLAN entry ("  name: info"): any "Note: ..." of prose would pass; a VLAN
    # listing is recognised by its header
    return line_kind(s)


def _has_listing(seg: _Segment) -> bool:
    return any(_kind(line) is not None for _, line in seg.lines if line.strip())


def _pick_output(
    segments: list[_Segment], notes: list[str], removed: list[UnparsedLine]
) -> list[tuple[int, str]]:
    """The last output of ``info network`` (or of no known command); the rest accounted for."""
    candidates = [s for s in segments if s.command in (None, "network") and _has_listing(s)]
    chosen = candidates[-1] if candidates else None
    out: list[tuple[int, str]] = []
    for seg in segments:
        if seg is chosen:
            out.extend(seg.lines)
        elif seg.command not in (None, "network"):
            for no, line in seg.lines:
                if line.strip():
                    removed.append(UnparsedLine(no, _shown(line.strip()),
                                                f"output of the command '{seg.command}'"))
        elif _has_listing(seg):
            for no, line in seg.lines:
                if line.strip():
                    removed.append(UnparsedLine(no, _shown(line.strip()),
                                                "an earlier output (the last one is read)"))
        else:
            out.extend(seg.lines)  # prose, guest output: left for the parser to report
    if len(candidates) > 1 and chosen is not None:
        first = next((no for no, line in chosen.lines if line.strip()), chosen.start)
        notes.append(f"{len(candidates)} outputs of info network in the text: the last one "
                     f"(from line {first}) is read, the earlier ones are left out")
    out.sort(key=lambda p: p[0])
    return out


# ----------------------------------------------------------------------------- indentation
def _reindent(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Each line indented as QEMU prints its kind, whatever indentation it came with."""
    out: list[tuple[int, str]] = []
    vlan = in_filters = False
    for no, line in lines:
        s = line.strip(" ")
        if not s:
            continue
        if in_filters and s.startswith("- ") and not s[2:].lstrip(" ").startswith("\\"):
            out.append((no, "  - " + s[2:].lstrip(" ")))
            continue
        m = _LIST_MARK.match(s)
        if m and (s[m.end() :].startswith("\\") or line_kind(s[m.end() :]) is not None):
            s = s[m.end() :]
        if s.startswith("\\"):
            out.append((no, BACKSLASH_PREFIX + s[1:].lstrip(" ")))
            in_filters = False
            continue
        if s == "filters:":
            in_filters = True
            out.append((no, s))
            continue
        kind = line_kind(s)
        if kind is not None:  # the filter block ends at a line of another kind, not at the
            in_filters = False  # wrapped rest of a filter line
        if kind in ("vlan", "no-vlan"):
            vlan = True
        elif kind == "hub":
            vlan = False
        elif vlan and kind != "client":
            s = "  " + s
        out.append((no, s))
    return out


# ----------------------------------------------------------------------------- wrapping
def _join_wrapped(
    lines: list[tuple[int, str]], notes: list[str], removed: list[UnparsedLine]
) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    joined = 0
    i = 0
    while i < len(lines):
        no, cur = lines[i]
        pieces = 0
        while i + 1 < len(lines) and pieces < _MAX_PIECES and len(cur) < _MAX_JOINED:
            nno, nxt = lines[i + 1]
            merged = _join(cur, nxt)
            if merged is None:
                break
            removed.append(UnparsedLine(nno, _shown(nxt), f"joined to line {no} (wrapped)"))
            joined += 1
            pieces += 1
            cur = merged
            i += 1
        out.append((no, _unlist(cur)))
        i += 1
    if joined:
        notes.append(f"joined {joined} wrapped line{'s' * (joined != 1)} to the line before")
    return out


def _unlist(line: str) -> str:
    """A list marker left before a line that was only whole once joined (``1. nic.0:`` /
    ``index=0,...``)."""
    m = _LIST_MARK.match(line)
    if m and line_kind(line[m.end() :]) is not None:
        return line[m.end() :]
    return line


def _join(cur: str, nxt: str) -> str | None:
    """``cur`` and ``nxt`` as one line when that is a valid line and ``cur`` was cut."""
    if nxt.startswith(BACKSLASH_PREFIX) or line_kind(nxt) in ("hub", "vlan", "no-vlan",
                                                              "filters"):
        return None
    if nxt.startswith("  "):
        return None  # a filter or VLAN entry of its own
    kind = line_kind(cur)
    if kind is None:
        # cut where a mail client breaks (after "port:" or "name:") or inside a value; a next
        # line that is whole on its own joins only a cut "port:"/"name:" (else a stray line
        # such as a guest's console output would swallow it)
        if line_kind(nxt) is not None:
            seps: tuple[str, ...] = (" ",) if cur.endswith(":") else ()
        else:
            seps = (" ", "") if cur.endswith(":") else ("", " ")
        for sep in seps:
            if line_kind(cur + sep + nxt) is not None:
                return cur + sep + nxt
        return None
    if kind not in ("client", "port-client", "filter") or len(cur) < _WRAP_MIN:
        return None
    words = nxt.split(" ")
    if line_kind(nxt) is not None or nxt.endswith(":") or len(words) > _WRAP_WORDS:
        return None
    if not all(_CONTINUATION.match(w) for w in words):
        return None  # the head of a cut line, prose or guest output: not the rest of an info
    # a terminal cuts anywhere and keeps every character (``macaddr=52:54:00:12:34:`` /
    # ``56``); a mail client breaks at a space and drops it (``connect`` / ``to 1.2.3.4:5``)
    return cur + (" " if len(words) > 1 else "") + nxt


# ----------------------------------------------------------------------------- nothing read
def unreadable_reason(topology: Topology, *, empty_ok: bool = False) -> str | None:
    """Why no network client could be read from a text, or None when something was.

    ``empty_ok``: an empty listing is a real reading (QEMU's exact reply for a VM without a
    network: a live target or a capture), not a failure to read.
    """
    if topology.hubs or topology.clients:
        return None
    if topology.unparsed:
        u = topology.unparsed[0]
        n = len(topology.unparsed)
        return (f"no network client read: {n} line{'s' * (n != 1)} not understood, first "
                f"line {u.line}: {_shown(u.text)!r} ({u.reason})")
    if topology.removed:
        u = topology.removed[0]
        return f"no network client read: line {u.line} {_shown(u.text)!r}: {u.reason}"
    if empty_ok:
        return None
    return "no network client read: the text is empty"
