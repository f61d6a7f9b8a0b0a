"""Target specs as the user writes them -> typed ``Target`` s. No sockets opened here.

A spec is a unix socket path, ``unix:PATH``, ``tcp:HOST:PORT``, a glob (``/run/qmp/*.sock``),
``auto`` (discovery), ``-`` (``info network`` text on stdin) or ``file:PATH`` (saved ``info
network`` text, or a capture JSON). A glob matching nothing or a malformed spec is a UsageError;
a path that does not exist is not: it becomes a target whose inspection fails with ``not-found``
(a VM that is down is a monitoring result, not a usage error).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from qnetinspect.errors import UsageError
from qnetinspect.qmp.address import QmpAddress, parse_address

TargetKind = Literal["qmp", "file", "stdin"]

_GLOB_CHARS = re.compile(r"[*?\[]")
# `word:` at the start that is none of ours: probably a typo (ssh:, tpc:), unless it is a path
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_KNOWN_SCHEMES = {"unix", "tcp", "file"}


@dataclass(frozen=True)
class Target:
    """One thing to inspect. ``spec`` is the user's spelling, used to name it in every output."""

    spec: str
    kind: Literal["qmp", "file", "stdin"]
    address: QmpAddress | None = None
    path: str | None = None
    pid: int | None = None
    name: str | None = None


def expand_targets(specs: Sequence[str], *, allow_stdin: bool = True) -> list[Target]:
    """Expand specs in order; duplicates (same socket, same file) are kept once.

    Raises UsageError naming the spec: empty, malformed address, glob matching nothing,
    ``-`` given twice or where stdin is not allowed, unknown ``scheme:``.
    """
    out: list[Target] = []
    seen: set[tuple[str, str]] = set()

    def add(t: Target) -> None:
        key = (t.kind, _identity(t))
        if key not in seen:
            seen.add(key)
            out.append(t)

    for spec in specs:
        for t in _expand_one(spec, allow_stdin=allow_stdin):
            if t.kind == "stdin" and ("stdin", "-") in seen:
                raise UsageError("'-' (stdin) given more than once: stdin can be read only once")
            add(t)
    return out


def _identity(t: Target) -> str:
    if t.kind == "stdin":
        return "-"
    if t.kind == "file":
        return os.path.abspath(t.path or "")
    assert t.address is not None
    if t.address.path is not None:
        return "unix:" + os.path.abspath(t.address.path)
    return str(t.address)


def _expand_one(spec: str, *, allow_stdin: bool) -> list[Target]:
    text = spec.strip()
    if not text:
        raise UsageError("empty target: expected a socket path, unix:PATH, tcp:HOST:PORT, "
                         "a glob, auto, - or file:PATH")
    if text == "-":
        if not allow_stdin:
            raise UsageError("'-' (info network text on stdin) is not accepted by this command")
        return [Target(spec="-", kind="stdin")]
    if text == "auto":
        from qnetinspect.discovery import discover

        return [
            Target(spec=str(vm.address), kind="qmp", address=vm.address, pid=vm.pid, name=vm.name)
            for vm in discover()
        ]
    if text.startswith("file:"):
        path = text[len("file:") :]
        if not path:
            raise UsageError(f"{spec!r}: file: needs a path (file:PATH)")
        return [Target(spec=text, kind="file", path=path)]
    if text.startswith("tcp:"):
        return [Target(spec=text, kind="qmp", address=parse_address(text))]
    path_text = text[len("unix:") :] if text.startswith("unix:") else text
    if text.startswith("unix:"):
        parse_address(text)  # raises on `unix:` without a path
        path_text = path_text.split(",", 1)[0]
    else:
        scheme = _SCHEME.match(text)
        if scheme and scheme.group(1) not in _KNOWN_SCHEMES and not os.path.exists(text):
            raise UsageError(
                f"{spec!r}: unknown target scheme {scheme.group(1)!r}: expected a socket path, "
                "unix:PATH, tcp:HOST:PORT, a glob, auto, - or file:PATH"
            )
    if _GLOB_CHARS.search(path_text) and not os.path.exists(path_text):
        matches = sorted(glob.glob(path_text))
        if not matches:
            raise UsageError(f"{spec!r}: the glob matches no file")
        return [Target(spec=m, kind="qmp", address=QmpAddress(path=m)) for m in matches]
    return [Target(spec=text, kind="qmp", address=QmpAddress(path=path_text))]
