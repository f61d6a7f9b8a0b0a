"""Read one ``Snapshot`` per target, many targets at once.

``read_snapshot`` asks an open session for everything in two round trips (independent commands
are pipelined); ``inspect_target`` opens the session (or reads the file / stdin text) and turns
every TargetError into ``Snapshot.error``; ``gather`` runs many under an anyio CapacityLimiter.
A command that fails (old QEMU, no such property) leaves its part of the snapshot empty.

What each broken target gives (``Snapshot.error.kind``), as seen on QEMU 7.2:

- no file at the path: ``not-found``; a stale socket file nobody listens on: ``refused``;
- a socket we may not open: ``permission-denied``; a peer speaking another protocol: ``not-qmp``;
- a monitor held by another client the whole ``timeout`` (the kernel accepts the connection into
  the listen queue, QEMU greets only when the other client leaves): ``busy``; a SIGSTOPped QEMU:
  ``no-greeting`` (``qnetinspect.qmp.transport.open_session`` tells the two apart);
- a TCP connect that never completes, or a QEMU that greets then stops answering: ``timeout``;
- the connection cut in the middle of a reply: ``disconnected``;
- ``info network`` refused: ``command-failed``.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio

from qnetinspect.errors import CommandFailed, TargetError
from qnetinspect.models import QomNic, Snapshot, TargetFailure, Topology, VmInfo, may_be_nic
from qnetinspect.parse import parse_info_network, parse_usernet
from qnetinspect.parse.cmdline import read_proc_cmdline
from qnetinspect.parse.consistency import cross_check_live, hubport_hubs
from qnetinspect.parse.decode import decode_text
from qnetinspect.parse.untrusted import valid_text
from qnetinspect.qmp.address import QmpAddress
from qnetinspect.qmp.session import QmpSession, kind_of_oserror, seconds
from qnetinspect.qmp.transport import Session, open_session
from qnetinspect.targets import Target

PERIPHERAL_PATHS = ("/machine/peripheral", "/machine/peripheral-anon")
#: extra time past ``timeout`` before the safety net cancels a target (the session's own
#: timeouts fire first and say what hung)
_GRACE = 0.5
#: ``info network`` of a VM with a thousand NICs is ~100 KiB; a longer listing would cost
#: seconds of parsing and rules (its own error kind, ``too-large``)
MAX_LISTING = 512 * 1024
#: listings longer than this are parsed in a worker thread (under the target's deadline)
_PARSE_INLINE = 64 * 1024

Commands = list[tuple[str, Mapping[str, object] | None]]


def _hmp(line: str) -> tuple[str, Mapping[str, object]]:
    return ("human-monitor-command", {"command-line": line})


def _ok(value: object) -> Any:
    """The value of a command that may have failed: None for a failure."""
    return None if isinstance(value, CommandFailed) else value


async def read_snapshot(
    session: Session,
    target: str,
    *,
    pid: int | None = None,
    timeout: float | None = None,
) -> Snapshot:
    """Everything about one VM's network from an open session.

    Raises TargetError (timeout, disconnected, not-qmp) when the session breaks, and
    CommandFailed when ``info network`` itself is refused; other failed commands degrade.
    """
    # Each command costs QEMU about as much as the next (a main-loop turn and a reply, ~0.3 ms
    # of its CPU): nothing is asked that the greeting already said (the version) or that
    # nothing reads.
    first: Commands = [
        ("query-name", None),
        ("query-status", None),
        _hmp("info network"),
        _hmp("info usernet"),
        *(("qom-list", {"path": p}) for p in PERIPHERAL_PATHS),
    ]
    name, status, network, usernet, *lists = await session.execute_many(first, timeout=timeout)
    if isinstance(network, CommandFailed):
        raise network
    if not isinstance(network, str):
        raise TargetError(target, "not-qmp", "info network: reply is not text")
    if len(network) > MAX_LISTING:
        raise TargetError(target, "too-large",
                          f"info network: the listing is larger than {MAX_LISTING} bytes")

    # qom-list gives each child's type: ask only those that can be NICs for `netdev` and `mac`
    # (a disk, a serial port or a USB tablet never has them); a type we do not know is asked.
    children: list[tuple[str, str, str]] = []  # (path, id, type)
    for base, listing in zip(PERIPHERAL_PATHS, lists, strict=True):
        for prop in _ok(listing) or ():
            ptype = str(prop.get("type", ""))
            if ptype.startswith("child<") and ptype.endswith(">"):
                dev_type = ptype[len("child<") : -1]
                if may_be_nic(dev_type):
                    pname = str(prop.get("name", ""))
                    children.append((f"{base}/{pname}", pname, dev_type))
    second: Commands = []
    for path, _, _ in children:
        second.append(("qom-get", {"path": path, "property": "netdev"}))
        second.append(("qom-get", {"path": path, "property": "mac"}))
    replies = await session.execute_many(second, timeout=timeout) if second else []
    nics: list[QomNic] = []
    for i, (path, dev_id, dev_type) in enumerate(children):
        netdev, mac = replies[2 * i], replies[2 * i + 1]
        if isinstance(netdev, CommandFailed) and isinstance(mac, CommandFailed):
            continue  # not a NIC after all
        nics.append(
            QomNic(
                path=path,
                id=dev_id,
                type=dev_type,
                netdev=(_ok(netdev) or None) if isinstance(_ok(netdev), str) else None,
                mac=str(_ok(mac)).lower() if isinstance(_ok(mac), str) else None,
            )
        )
    vm_pid = pid if pid is not None else session.peer_pid
    argv, hints = _local_argv(vm_pid)
    if len(network) < _PARSE_INLINE:
        topology = parse_info_network(network)
    else:
        topology = await _parse_bounded(network)
    return Snapshot(
        target=target,
        argv=argv,
        listen_hints=hints,
        manager=_manager(argv),
        vm=VmInfo(
            name=_name(_ok(name)),
            qemu_version=session.greeting_version,
            status=_status(_ok(status)),
            pid=vm_pid,
        ),
        # the listing is checked against the command line and QOM: a crafted path must not
        # move a port to another hub unnoticed (parse/consistency.py)
        topology=cross_check_live(
            topology, hubport_hubs(argv) if topology.hubs else {}, nics  # argv: hubs only
        ),
        usernet=parse_usernet(usernet) if isinstance(usernet, str) else (),
        usernet_read=isinstance(usernet, str),
        qom_nics=tuple(nics),
        info_network_raw=network,
        live=True,
    )


async def _parse_bounded(text: str) -> Topology:
    """A long listing (up to the reply limit) parsed in a daemon thread: the target's deadline
    still holds (--timeout bounds the parse too), and a parse abandoned at the deadline never
    keeps the process from exiting (anyio's worker threads would be waited for)."""
    import asyncio
    import threading

    loop = asyncio.get_running_loop()
    future: asyncio.Future[Topology] = loop.create_future()

    def deliver(result: Topology | None, error: BaseException | None) -> None:
        if future.done():
            return  # abandoned: the target already timed out
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        try:
            result, error = parse_info_network(text), None
        except Exception as exc:  # handed to the waiting task
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(deliver, result, error)

    threading.Thread(target=work, name="qnetinspect-parse", daemon=True).start()
    return await future


def _local_argv(pid: int | None) -> tuple[tuple[str, ...], dict[str, str]]:
    """The command line of a local QEMU and its listen addresses (empty when unknown): it tells
    what ``info network`` does not, such as the address a socket backend listens on."""
    if pid is None:
        return (), {}
    try:
        data = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return (), {}
    argv = tuple(read_proc_cmdline(data))
    if b"listen=" not in data and b"server" not in data:
        return argv, {}  # no listening socket/stream backend: the argv parser is not needed
    from qnetinspect.parse.argv import listen_addresses

    return argv, listen_addresses(argv)


def _manager(argv: tuple[str, ...]) -> str | None:
    """libvirt / proxmox / incus ... from a local command line (a second monitor of theirs)."""
    if not argv:
        return None
    from qnetinspect.discovery import manager_of

    return manager_of(argv)


def _name(reply: Any) -> str | None:
    # a peer's string: lone surrogates become U+FFFD here, at the edge
    return valid_text(str(reply["name"])) if isinstance(reply, Mapping) and reply.get("name") \
        else None


def _version(reply: Any) -> str | None:
    try:
        q = reply["qemu"]
        return f"{q['major']}.{q['minor']}.{q['micro']}"
    except (KeyError, TypeError):
        return None


def _status(reply: Any) -> str | None:
    return valid_text(str(reply["status"])) if isinstance(reply, Mapping) and "status" in reply \
        else None


# ----------------------------------------------------------------------------- one target
async def inspect_target(
    target: Target, *, timeout: float = 5.0, stdin_text: str | None = None,
    on_contact: Callable[[], None] | None = None,
) -> Snapshot:
    """Inspect one target; never raises TargetError (it becomes ``Snapshot.error``).

    The whole inspection of a live target is bounded by about ``timeout`` seconds: the connect
    and the greeting each get ``timeout``, the commands get what is left of it.
    ``on_contact`` is called when a live target's session is open (then the rest is waiting).
    Cancellation from outside propagates.
    """
    if target.kind == "stdin":
        text = stdin_text if stdin_text is not None else await anyio.to_thread.run_sync(
            _read_stdin_text
        )
        return _from_text(target, text)
    if target.kind == "file":
        return await anyio.to_thread.run_sync(_read_file_target, target)
    if target.kind == "libvirt":
        from qnetinspect.libvirt.reader import inspect_domain

        assert target.uri is not None and target.name is not None
        return await inspect_domain(target.spec, target.uri, target.name,
                                    monitor=target.monitor, timeout=timeout)
    if target.kind == "unreadable":
        return Snapshot(target=target.spec, vm=VmInfo(name=target.name, pid=target.pid),
                        error=TargetFailure("no-monitor", target.reason or "no usable monitor"))
    return await _inspect_live(target, timeout, on_contact)


async def _inspect_live(
    target: Target, timeout: float, on_contact: Callable[[], None] | None = None
) -> Snapshot:
    assert target.address is not None
    failed: TargetFailure | None = None
    snapshot: Snapshot | None = None
    with anyio.move_on_after(timeout + _GRACE) as scope:
        serial = False
        for _ in range(2):  # a second time, one command at a time, after a pipelining stall

            def factory(address: QmpAddress, name: str, limit: float,
                        serial: bool = serial) -> QmpSession:
                return QmpSession(address, timeout=limit, target=name, serial=serial)

            session: QmpSession | None = None
            try:
                # a brief session: connect (waiting while another client holds the monitor),
                # read, disconnect
                opened = await open_session(target.address, target=target.spec,
                                            timeout=timeout, factory=factory)
                assert isinstance(opened, QmpSession)
                session = opened
                if on_contact is not None:
                    on_contact()
                try:
                    left = max(timeout - _elapsed(scope, timeout), 0.05)
                    snapshot = await read_snapshot(
                        session, target.spec, pid=target.pid, timeout=left
                    )
                finally:
                    await session.close()
                failed = None
            except TargetError as exc:
                failed = TargetFailure(exc.kind, exc.message)
            if session is None or not session.stalled:
                break
            serial = True
        if serial and failed is not None and failed.kind == "timeout":
            # neither way answered: name the user's limit, not the part of it that was left
            failed = TargetFailure("timeout", f"no reply within {seconds(timeout)}, to commands "
                                   "sent together or one at a time")
    if scope.cancelled_caught:
        failed = TargetFailure("timeout", f"no complete answer within {seconds(timeout)}")
    if snapshot is not None and failed is None:
        if target.name and not snapshot.vm.name:
            vm = snapshot.vm
            snapshot = _replace_vm(snapshot, VmInfo(target.name, vm.qemu_version, vm.status,
                                                    vm.pid))
        reason = _nothing_read(snapshot.topology, empty_ok=True) if snapshot.topology else None
        if reason is not None:  # QEMU answered, but with nothing we could read
            return Snapshot(target=target.spec, vm=snapshot.vm,
                            info_network_raw=snapshot.info_network_raw,
                            error=TargetFailure("unreadable", reason))
        return snapshot
    assert failed is not None
    return Snapshot(
        target=target.spec, vm=VmInfo(name=target.name, pid=target.pid), error=failed
    )


def _elapsed(scope: anyio.CancelScope, timeout: float) -> float:
    deadline = scope.deadline
    if math.isinf(deadline):
        return 0.0
    return timeout + _GRACE - (deadline - anyio.current_time())


def _replace_vm(s: Snapshot, vm: VmInfo) -> Snapshot:
    from dataclasses import replace

    return replace(s, vm=vm)


# ----------------------------------------------------------------------------- saved text
def _nothing_read(topology: Topology, *, empty_ok: bool) -> str | None:
    """Why no network client was read (see ``paste.unreadable_reason``); the paste module is
    imported only then, so a normal ``check`` of live VMs does not pay for its regexes."""
    if topology.hubs or topology.clients:
        return None
    from qnetinspect.parse.paste import unreadable_reason

    return unreadable_reason(topology, empty_ok=empty_ok)


def _read_stdin_text() -> str:
    buffer = getattr(sys.stdin, "buffer", None)  # a test's StringIO has none
    return decode_text(buffer.read() if buffer else sys.stdin.read().encode())


def _from_text(
    target: Target, text: str, vm: VmInfo | None = None, *, capture: bool = False, **extra: Any
) -> Snapshot:
    """A snapshot of saved text: a capture's exact reply, or text a person handed over (read
    through the paste reading step). Text with no network client in it is ``unreadable``."""
    topology = parse_info_network(text, pasted=not capture)
    reason = _nothing_read(topology, empty_ok=capture)
    vm = vm or VmInfo(name=target.name)
    if reason is not None:
        return Snapshot(target=target.spec, vm=vm, info_network_raw=text, live=False,
                        error=TargetFailure("unreadable", reason))
    return Snapshot(
        target=target.spec,
        vm=vm,
        topology=topology,
        info_network_raw=text,
        live=False,
        **extra,
    )


def _read_file_target(target: Target) -> Snapshot:
    """``file:PATH``: ``info network`` text, or a capture JSON (``info_network`` key)."""
    assert target.path is not None
    try:
        with open(target.path, "rb") as f:
            text = decode_text(f.read())  # the decoder of `parse` and `-` too
    except OSError as exc:
        return Snapshot(
            target=target.spec,
            error=TargetFailure(kind_of_oserror(exc), f"{target.path}: {exc.strerror or exc}"),
            live=False,
        )
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("info_network"), str):
            return _from_capture(target, doc)
    return _from_text(target, text)


def _from_capture(target: Target, doc: Mapping[str, Any]) -> Snapshot:
    from qnetinspect.discovery import vm_name

    argv = doc.get("argv")
    name = vm_name(argv) if isinstance(argv, list) else None
    usernet_text = (doc.get("extra_hmp") or {}).get("info usernet")
    nics: list[QomNic] = []
    for base, entry in (doc.get("qom") or {}).items():
        for dev_id, dev in ((entry or {}).get("nics") or {}).items():
            netdev = (dev.get("netdev") or {}).get("result")
            mac = (dev.get("mac") or {}).get("result")
            nics.append(QomNic(path=f"{base}/{dev_id}", id=dev_id, type=str(dev.get("type", "")),
                               netdev=netdev or None, mac=mac.lower() if mac else None))
    return _from_text(
        target,
        doc["info_network"],
        # the capture's pid is of a process long gone: not shown
        vm=VmInfo(name=name or target.name, qemu_version=_version(doc.get("qemu_version"))),
        capture=True,
        usernet=parse_usernet(usernet_text) if isinstance(usernet_text, str) else (),
        usernet_read=isinstance(usernet_text, str),
        qom_nics=tuple(nics),
    )


# ----------------------------------------------------------------------------- many targets
async def gather(
    targets: Sequence[Target],
    *,
    timeout: float = 5.0,
    concurrency: int = 128,
    stdin_text: str | None = None,
    on_contact: Callable[[], None] | None = None,
) -> list[Snapshot]:
    """Inspect every target concurrently; results in target order, one per target.

    At most ``concurrency`` sessions are open at once; each inspection is bounded by about
    ``timeout``; one VM's failure never affects the others. ``on_contact``: see
    ``inspect_target``.
    """
    results: list[Snapshot | None] = [None] * len(targets)
    limiter = anyio.CapacityLimiter(max(1, concurrency))

    async def one(i: int, t: Target) -> None:
        async with limiter:
            try:
                results[i] = await inspect_target(t, timeout=timeout, stdin_text=stdin_text,
                                                  on_contact=on_contact)
            except Exception as exc:  # a bug met this target: the others are still reported
                message = f"{type(exc).__name__}: {exc}"
                results[i] = Snapshot(
                    target=t.spec, vm=VmInfo(name=t.name, pid=t.pid),
                    error=TargetFailure("internal", valid_text(" ".join(message.split()))),
                    live=t.kind not in ("stdin", "file"),
                )

    async with anyio.create_task_group() as tg:
        for i, t in enumerate(targets):
            tg.start_soon(one, i, t)
    return [r for r in results if r is not None]
