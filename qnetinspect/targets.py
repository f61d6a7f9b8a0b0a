"""Target specs as the user writes them -> typed ``Target`` s. No sockets opened here.

A spec is a unix socket path, ``unix:PATH``, ``tcp:HOST:PORT``, a glob (``/run/qmp/*.sock``),
``auto`` (discovery), ``-`` (``info network`` text on stdin), ``file:PATH`` (saved ``info
network`` text, or a capture JSON), ``libvirt:DOMAIN`` or ``libvirt:`` (every running domain, of
the libvirt at ``connect``, ``qemu:///system`` by default). A glob matching nothing or a
malformed spec is a UsageError; a path that does not exist is not: it becomes a target whose
inspection fails with ``not-found`` (a VM that is down is a monitoring result, not a usage error).
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

TargetKind = Literal["qmp", "file", "stdin", "libvirt", "unreadable"]

_GLOB_CHARS = re.compile(r"[*?\[]")
# `word:` at the start that is none of ours: probably a typo (ssh:, tpc:), unless it is a path
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_KNOWN_SCHEMES = {"unix", "tcp", "file", "libvirt"}
#: libvirtd's (monolithic, then modular) socket for qemu:///system
_LIBVIRT_SOCKETS = ("/run/libvirt/libvirt-sock", "/run/libvirt/virtqemud-sock")


@dataclass(frozen=True)
class Target:
    """One thing to inspect. ``spec`` is the user's spelling, used to name it in every output."""

    spec: str
    kind: TargetKind
    address: QmpAddress | None = None
    path: str | None = None
    pid: int | None = None
    name: str | None = None
    #: libvirt: the connection URI; ``monitor`` False reads only the XML and command line
    uri: str | None = None
    monitor: bool = True
    #: unreadable: a running QEMU ``auto`` found but cannot read: why, and how to read it
    reason: str | None = None


def expand_targets(
    specs: Sequence[str], *, allow_stdin: bool = True, connect: str | None = None,
    monitor: bool = True,
) -> list[Target]:
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
        for t in _expand_one(spec, allow_stdin=allow_stdin, connect=connect, monitor=monitor):
            if t.kind == "stdin" and ("stdin", "-") in seen:
                raise UsageError("'-' (stdin) given more than once: stdin can be read only once")
            add(t)
    return out


def _identity(t: Target) -> str:
    if t.kind == "stdin":
        return "-"
    if t.kind == "file":
        return os.path.abspath(t.path or "")
    if t.kind == "libvirt":
        return f"{t.uri}#{t.name}"
    if t.kind == "unreadable":
        return t.spec
    assert t.address is not None
    if t.address.path is not None:
        return "unix:" + os.path.abspath(t.address.path)
    return str(t.address)


def _expand_one(
    spec: str, *, allow_stdin: bool, connect: str | None = None, monitor: bool = True
) -> list[Target]:
    text = spec.strip()
    if not text:
        raise UsageError("empty target: expected a socket path, unix:PATH, tcp:HOST:PORT, "
                         "a glob, auto, - or file:PATH")
    if text == "-":
        if not allow_stdin:
            raise UsageError("'-' (info network text on stdin) is not accepted by this command")
        return [Target(spec="-", kind="stdin")]
    if text == "auto":
        return _auto(connect, monitor)
    if text.startswith("libvirt:"):
        from qnetinspect.libvirt import DEFAULT_URI
        from qnetinspect.libvirt.reader import import_libvirt

        import_libvirt()  # not installed: a usage error naming the extra, before any reading
        uri = connect or DEFAULT_URI
        name = text[len("libvirt:") :]
        if "@" in name and connect is None:
            # libvirt:NAME@HOST, as reports name a remote domain: read it back over ssh
            name, _, host = name.rpartition("@")
            if not name or not host:
                raise UsageError(f"{spec!r}: expected libvirt:DOMAIN@HOST")
            uri = f"qemu+ssh://{host}/system"
        if name:
            return [_libvirt_target(name, uri, monitor)]
        from qnetinspect.libvirt.reader import running_domains

        return [_libvirt_target(n, uri, monitor) for n in running_domains(uri)]
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


def _libvirt_target(name: str, uri: str, monitor: bool) -> Target:
    from qnetinspect.libvirt.reader import target_spec

    return Target(spec=target_spec(name, uri), kind="libvirt", name=name, uri=uri,
                  monitor=monitor)


def _auto(connect: str | None, monitor: bool) -> list[Target]:
    """Discovery's QMP sockets, libvirt's running domains when libvirt answers, and every other
    running QEMU found as an ``unreadable`` target: ``auto`` never leaves a VM out silently."""
    from qnetinspect.discovery import scan
    from qnetinspect.libvirt import DEFAULT_URI

    found = scan()
    out = [
        Target(spec=str(vm.address), kind="qmp", address=vm.address, pid=vm.pid, name=vm.name)
        for vm in found.found
    ]
    readable_pids = {vm.pid for vm in found.found if vm.pid is not None}
    domains: list[str] | None = None
    why_not = "libvirt is not listening here"
    uri = connect or DEFAULT_URI
    # libvirt is asked when it manages a QEMU found here, or listens here (its QEMUs may be out
    # of our sight, in another pid namespace), or when --connect names it
    if connect or any(s.manager == "libvirt" for s in found.skipped) or any(
        os.path.exists(p) for p in _LIBVIRT_SOCKETS
    ):
        from qnetinspect.libvirt.reader import running_domains_if_any

        domains, why_not = running_domains_if_any(uri)
    libvirt_names = set(domains or ())
    # a domain with a second QMP monitor of its own is read there already
    second_monitor = {s.name for s in found.skipped
                      if s.manager == "libvirt" and s.pid in readable_pids}
    out.extend(_libvirt_target(n, uri, monitor) for n in domains or ()
               if n not in second_monitor)
    reported: set[int | None] = set()
    for s in found.skipped:
        if s.pid in readable_pids or (s.pid in reported and s.pid is not None):
            continue  # the VM is read through another monitor, or already named
        if s.manager == "libvirt" and s.name in libvirt_names:
            continue
        reported.add(s.pid)
        why = s.reason
        if s.manager == "libvirt":
            answer = (f"libvirt at {uri} does not list it as running (another libvirt, such as "
                      "qemu:///session? give --connect)" if domains is not None else why_not)
            why = (f"libvirt holds its monitor; {answer}; read it with "
                   f"qnetinspect check libvirt:{s.name or 'DOMAIN'}")
        how = f"; {s.hint}" if s.hint else ""
        label = s.name or "?"
        out.append(Target(spec=f"pid:{s.pid}" if s.pid else f"qemu:{label}", kind="unreadable",
                          pid=s.pid, name=s.name, reason=f"{why}{how}"))
    return out


def host_of_spec(spec: str) -> str | None:
    """The remote host a target's spec names (``libvirt:NAME@HOST``, ``tcp:HOST:PORT``); None
    for this host (paths, loopback, saved text): the TUI groups VMs by it."""
    if spec.startswith("libvirt:") and "@" in spec:
        return spec.rsplit("@", 1)[1] or None
    if spec.startswith("tcp:"):
        try:
            host = parse_address(spec).host
        except UsageError:
            return None
        if host is None or host in {"localhost", "::1"} or host.startswith("127."):
            return None
        return host
    return None
