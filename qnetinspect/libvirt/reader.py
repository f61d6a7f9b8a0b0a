"""Read libvirt domains through libvirt's API -> ``Snapshot`` s (blocking calls, run in threads).

With the monitor (the default), ``info network`` and ``info usernet`` go through libvirt's
monitor passthrough (``virDomainQemuMonitorCommand``, what ``virsh qemu-monitor-command --hmp``
does): libvirt serialises them with its own traffic, and records the domain as tainted
``custom-monitor`` (shown in its log and ``virsh dominfo``; harmless, but visible).

With ``--no-monitor``, only the domain XML and the QEMU command line are read (``/proc`` for a
local domain, else libvirt's ``domainXMLToNative``): the topology is predicted by the lint engine
(``parse.argv.predict``), and nothing is tainted.

Every libvirt failure becomes ``Snapshot.error``; the kind says what happened.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio

from qnetinspect.errors import UsageError
from qnetinspect.libvirt import DEFAULT_URI
from qnetinspect.libvirt.domxml import DomainXml, parse_domain_xml
from qnetinspect.models import Snapshot, TargetFailure, VmInfo

_STATES = {0: "unknown", 1: "running", 2: "blocked", 3: "paused", 4: "shutdown", 5: "shutoff",
           6: "crashed", 7: "pmsuspended"}
_RUN_DIR = "/run/libvirt/qemu"


def import_libvirt() -> tuple[Any, Any]:
    """(libvirt, libvirt_qemu); raises UsageError saying how to install them."""
    try:
        import libvirt
        import libvirt_qemu
    except ImportError:
        raise UsageError(
            "libvirt: targets need libvirt-python: pip install 'qnetinspect[libvirt]' "
            "(it builds against libvirt's headers: apt-get install libvirt-dev pkg-config), "
            "or apt-get install python3-libvirt"
        ) from None
    # libvirt prints every error to stderr by default; ours are reported once, per target
    libvirt.registerErrorHandler(lambda *_: None, None)
    return libvirt, libvirt_qemu


def is_local(uri: str) -> bool:
    """A URI without a host names this machine's libvirtd (its processes are in our /proc)."""
    return not urlsplit(uri).hostname


def host_of(uri: str) -> str | None:
    return urlsplit(uri).hostname or None


def target_spec(domain: str, uri: str) -> str:
    """How a domain is named in every output: ``libvirt:NAME``, ``libvirt:NAME@HOST`` remotely."""
    host = host_of(uri)
    return f"libvirt:{domain}@{host}" if host else f"libvirt:{domain}"


def _failure(exc: Exception, what: str) -> TargetFailure:
    libvirt, _ = import_libvirt()
    code = exc.get_error_code() if isinstance(exc, libvirt.libvirtError) else None
    message = f"{what}: {exc}"
    if code in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_OPERATION_INVALID):
        return TargetFailure("not-found", message)
    if code in (libvirt.VIR_ERR_AUTH_FAILED, libvirt.VIR_ERR_ACCESS_DENIED,
                libvirt.VIR_ERR_AUTH_CANCELLED):
        return TargetFailure("permission-denied", message)
    if code == libvirt.VIR_ERR_OPERATION_TIMEOUT:
        return TargetFailure("timeout", message)
    if code in (libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_SYSTEM_ERROR,
                libvirt.VIR_ERR_RPC):
        return TargetFailure("refused", message)
    return TargetFailure("command-failed", message)


_connections: dict[str, Any] = {}
_connections_lock = threading.Lock()


def open_connection(uri: str) -> Any:
    """The process's read-write connection to ``uri`` (the monitor passthrough needs read-write),
    opened once and shared by every domain of that URI: over ``qemu+ssh://`` each connection is
    an ssh login, so a fleet of domains must not cost one each. Raises libvirtError."""
    libvirt, _ = import_libvirt()
    with _connections_lock:
        conn = _connections.get(uri)
        if conn is not None and conn.isAlive():
            return conn
        conn = libvirt.open(uri)
        _connections[uri] = conn
        if len(_connections) == 1:
            atexit.register(close_connections)
        return conn


def close_connections() -> None:
    """Close the shared connections (at exit)."""
    with _connections_lock:
        conns = list(_connections.values())
        _connections.clear()
    for conn in conns:
        with contextlib.suppress(Exception):
            conn.close()


def running_domains(uri: str) -> list[str]:
    """Names of the running domains at ``uri``. Raises UsageError when libvirt does not answer
    (``libvirt:`` asked for them: a usage problem, as a glob matching nothing is)."""
    libvirt, _ = import_libvirt()
    try:
        conn = open_connection(uri)
        active = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
    except libvirt.libvirtError as exc:
        raise UsageError(f"libvirt: cannot connect to {uri}: {exc}") from exc
    return sorted(d.name() for d in active)


def running_domains_if_any(uri: str = DEFAULT_URI) -> tuple[list[str] | None, str]:
    """For ``auto``: (the running domains, "") or (None, why libvirt could not be asked)."""
    try:
        return running_domains(uri), ""
    except UsageError as exc:
        return None, str(exc)


class DomainUnreadable(Exception):
    """A domain that libvirt answered about but that cannot be read; ``kind`` for the report."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class DomainRead:
    """What was read of one domain, before it becomes a Snapshot."""

    xml: DomainXml
    info_network: str | None
    info_usernet: str | None
    argv: tuple[str, ...]
    pid: int | None
    status: str
    qemu_version: str | None


def read_domain(uri: str, name: str, *, monitor: bool = True) -> DomainRead:
    """Read one running domain. Raises libvirtError (mapped by the caller)."""
    libvirt, libvirt_qemu = import_libvirt()
    conn = open_connection(uri)
    # the connection is shared by every domain of the URI: closed at exit
    dom = conn.lookupByName(name)
    state = _STATES.get(dom.state()[0], "unknown")
    if not dom.isActive():
        raise DomainUnreadable("not-found", f"domain {name!r} is not running ({state})")
    xml_text = dom.XMLDesc(0)
    xml = parse_domain_xml(xml_text)
    network = usernet = None
    if monitor:
        hmp = libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP
        network = libvirt_qemu.qemuMonitorCommand(dom, "info network", hmp)
        try:
            usernet = libvirt_qemu.qemuMonitorCommand(dom, "info usernet", hmp)
        except libvirt.libvirtError:
            usernet = None  # an old QEMU without it: the forwards stay unknown
    pid = _local_pid(uri, name)
    argv = _local_argv(pid) if pid is not None else ()
    if not argv:
        try:
            argv = native_argv(conn.domainXMLToNative("qemu-argv", xml_text, 0))
        except (libvirt.libvirtError, ValueError) as exc:
            if not monitor:  # the command line is all --no-monitor has to go by
                raise DomainUnreadable(
                    "command-failed", f"cannot read the QEMU command line: {exc}") from exc
            argv = ()
    version = conn.getVersion()
    return DomainRead(
        xml=xml, info_network=network, info_usernet=usernet, argv=argv, pid=pid,
        status=state,
        qemu_version=f"{version // 1_000_000}.{version // 1000 % 1000}.{version % 1000}",
    )


def native_argv(text: str) -> tuple[str, ...]:
    """``domainXMLToNative`` output (``VAR=value ... /usr/bin/qemu... -opt 'json'``) -> argv."""
    words = shlex.split(text)
    while words and "=" in words[0] and not words[0].startswith("-") and "/" not in (
        words[0].split("=", 1)[0]
    ):
        words.pop(0)
    return tuple(words)


def _local_pid(uri: str, name: str) -> int | None:
    if not is_local(uri) or "/" in name:
        return None
    try:
        with open(os.path.join(_RUN_DIR, f"{name}.pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _local_argv(pid: int) -> tuple[str, ...]:
    from qnetinspect.parse.cmdline import read_proc_cmdline

    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return tuple(read_proc_cmdline(f.read()))
    except OSError:
        return ()


def to_snapshot(spec: str, read: DomainRead) -> Snapshot:
    """The Snapshot of a domain read: parsed ``info network``, or the predicted topology."""
    from qnetinspect.parse import parse_info_network, parse_usernet
    from qnetinspect.parse.argv import listen_addresses, predict, usernet_forwards

    vm = VmInfo(name=read.xml.name, qemu_version=read.qemu_version, status=read.status,
                pid=read.pid)
    hints = listen_addresses(read.argv) if read.argv else {}
    if read.info_network is not None:
        return Snapshot(
            target=spec, vm=vm, topology=parse_info_network(read.info_network),
            usernet=parse_usernet(read.info_usernet) if read.info_usernet is not None else (),
            info_network_raw=read.info_network, live=read.info_usernet is not None,
            argv=read.argv, listen_hints=hints, manager="libvirt",
            manager_raw_args=read.xml.qemu_args,
        )
    predicted = predict(read.argv)
    return Snapshot(
        target=spec, vm=vm, topology=predicted.topology, usernet=usernet_forwards(predicted),
        live=True, argv=read.argv, listen_hints=hints, manager="libvirt",
        manager_raw_args=read.xml.qemu_args,
    )


async def inspect_domain(spec: str, uri: str, name: str, *, monitor: bool,
                         timeout: float) -> Snapshot:
    """One domain -> Snapshot; never raises for libvirt's failures (``Snapshot.error``).

    libvirt's calls block: they run in a worker thread, abandoned (not waited for) when they
    take longer than ``timeout``.
    """
    libvirt, _ = import_libvirt()
    failed: TargetFailure | None = None
    read: DomainRead | None = None
    with anyio.move_on_after(timeout) as scope:
        try:
            read = await anyio.to_thread.run_sync(
                lambda: read_domain(uri, name, monitor=monitor), abandon_on_cancel=True
            )
        except libvirt.libvirtError as exc:
            failed = _failure(exc, f"{uri} domain {name}")
        except DomainUnreadable as exc:
            failed = TargetFailure(exc.kind, f"{uri} domain {name}: {exc}")
    if scope.cancelled_caught:
        failed = TargetFailure("timeout", f"libvirt at {uri} gave no answer within {timeout:g}s")
    if read is None:
        assert failed is not None
        return Snapshot(target=spec, vm=VmInfo(name=name), error=failed)
    return to_snapshot(spec, read)

