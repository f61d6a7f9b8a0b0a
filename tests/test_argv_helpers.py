"""Helpers shared by the argv / lint / migrate tests (no tests here).

Captures come from ``fixtures/captures`` (the shared captures are copied there, with the
project's own). Segments are compared the way the acceptance criteria
say: NICs by name and MAC, backends by type only (auto names are random in QEMU 6.0+).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from qnetinspect.models import Topology
from qnetinspect.vmrunner import free_loopback_port

ROOT = Path(__file__).resolve().parent.parent
CAPTURE_DIRS = (ROOT / "fixtures" / "captures",)

SegmentKey = list[list[tuple[str, str, str]]]


def capture_files() -> list[Path]:
    seen: set[tuple[str, str]] = set()
    out: list[Path] = []
    for base in CAPTURE_DIRS:
        if not base.is_dir():
            continue
        for path in sorted(base.glob("qemu-*/*.json")):
            key = (path.parent.name, path.name)
            if key not in seen:
                seen.add(key)
                out.append(path)
    return out


@functools.cache
def load(path: Path) -> dict[str, Any]:
    """A capture document (cached: read-only use)."""
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def capture_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def version_of(path: Path) -> tuple[int, int]:
    major, minor = path.parent.name.removeprefix("qemu-").split(".")[:2]
    return int(major), int(minor)


def startup_info_network(doc: dict[str, Any]) -> str:
    """``info network`` as QEMU printed it right after start (hot-plug captures change it)."""
    text = doc.get("startup_info_network", doc.get("info_network")) or ""
    return str(text)


def segments(t: Topology) -> SegmentKey:
    """Sorted segments; a NIC is (nic, name, mac), a backend (type, "", "")."""
    return sorted(
        sorted((c.type, c.name, c.mac or "") if c.is_nic else (c.type, "", "") for c in s.clients)
        for s in t.segments()
    )


# Options of the capture's own harness; start_vm adds its own -M pc -S -nodefaults -display none.
_HARNESS_WITH_ARG = frozenset({"-M", "-machine", "-qmp", "-display", "-accel"})
_HARNESS_FLAGS = frozenset({"-S", "-nodefaults"})


def net_args_of(argv: Sequence[str]) -> list[str]:
    """The capture argv without the binary and the harness options."""
    out: list[str] = []
    items = list(argv[1:])
    i = 0
    while i < len(items):
        if items[i] in _HARNESS_WITH_ARG:
            i += 2
            continue
        if items[i] in _HARNESS_FLAGS:
            i += 1
            continue
        out.append(items[i])
        i += 1
    return out


_PORT_KEYS = re.compile(
    r"(?P<key>(?:listen|connect|udp|localaddr|mcast|addr\.port|local\.port|remote\.port|port)=)"
    r"(?P<host>127\.0\.0\.1:)?(?P<port>\d{4,5})"
)


def localize(args: Sequence[str], workdir: Path) -> list[str]:
    """Fresh 127.0.0.1 ports for every port in the options, temp paths, qnitap tap names."""
    ports: dict[str, int] = {}

    def new_port(m: re.Match[str]) -> str:
        port = ports.setdefault(m["port"], free_loopback_port())
        return f"{m['key']}{m['host'] or ''}{port}"

    out = []
    for a in args:
        a = _PORT_KEYS.sub(new_port, a)
        a = a.replace("/tmp/capq", str(workdir))
        a = re.sub(r"ifname=captap(\d+)", r"ifname=qnitap\1", a)
        out.append(a)
    return out


def iter_ok_captures() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in capture_files():
        doc = load(path)
        if doc.get("outcome") == "ok" and doc.get("argv"):
            yield path, doc


async def live_info_network(qmp_path: Path) -> str:
    """``info network`` of a running QEMU over QMP."""
    from qnetinspect.qmp.session import QmpSession

    async with QmpSession(str(qmp_path)) as qmp:
        return await qmp.hmp("info network")
