"""One QMP session to one QEMU: the only place that touches qemu.qmp and sockets.

Every foreign exception is translated here, once, into ``TargetError`` with one of the kinds in
``qnetinspect.errors.ERROR_KINDS``. qemu.qmp has no timeouts of its own, so the socket connect,
the greeting and every command run under ``anyio.fail_after``. Cancellation is never swallowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import re
import socket
import struct
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Self

import anyio
from qemu.qmp import ConnectError, EventListener, ExecInterruptedError, ExecuteError, QMPClient
from qemu.qmp.error import ProtocolError
from qemu.qmp.message import Message
from qemu.qmp.protocol import StateError

from qnetinspect.errors import CommandFailed, TargetError
from qnetinspect.qmp.address import QmpAddress, parse_address

# qemu.qmp logs every failed connect at ERROR; with no handler Python would print those to
# stderr, and our own one-line error already says it.
logging.getLogger("qemu.qmp").addHandler(logging.NullHandler())
logging.getLogger("qemu.qmp").propagate = False

DEFAULT_TIMEOUT = 5.0
#: the largest QMP message accepted (qemu.qmp's default is 10 MiB): QEMU 7.2's QAPI schema
#: (hot-plug reads it) is ~200 KiB; a peer flooding more costs memory, never the run
MAX_REPLY = 4 * 1024 * 1024


def seconds(value: float) -> str:
    """``5s``, ``0.5s``, ``2.3s``: a time for a message (what is left of a timeout is never
    shown as ``4.98662s``)."""
    return f"{round(value, 1):g}s" if value >= 0.1 else f"{value:.2g}s"


def _refuse_all(event: object) -> bool:
    return False


class BoundedListener(EventListener):
    """An EventListener that keeps no history, so memory stays flat over days of events."""

    async def put(self, event: Any) -> None:
        if self.accept(event):
            await self._queue.put(event)


def _kind_of_oserror(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError) or exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return "not-found"
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM):
        return "permission-denied"
    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
        return "refused"
    if exc.errno == errno.ENOTSOCK:
        return "not-qmp"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return "disconnected"
    return "refused"


#: public name: the error kind of an OSError (also used for files by inventory)
kind_of_oserror = _kind_of_oserror


#: the greeting's ``package`` as libvirt's virt-qemu-qmp-proxy makes it (real QEMU builds print
#: their distribution's package version, or nothing): it reads one command per read()
_PROXY_PACKAGE = re.compile(r"^qemu-\d+\.\d+\.\d+$")


class _QuietClient(QMPClient):
    """QMPClient without its per-message debug hooks.

    qemu.qmp's ``_cb_inbound``/``_cb_outbound`` pass ``str(msg)`` to ``logger.debug``, and
    ``str`` pretty-prints the message with ``json.dumps(indent=2)`` even when debug logging is
    off: with 50 VMs that was most of our CPU time. The hooks are meant to be overridden.
    """

    #: why the reader stopped, when it was the peer's fault ("too-large" / "not-qmp" + text)
    recv_failure: tuple[str, str] | None = None

    async def _do_recv(self) -> Any:
        # qemu.qmp's own, remembering what broke the reader (it only says "disconnected")
        try:
            msg_bytes = await self._readline()
        except ValueError:  # asyncio's readline: a line over the limit
            self.recv_failure = ("too-large", f"a reply is larger than {MAX_REPLY} bytes")
            raise
        if not msg_bytes.endswith(b"\n"):
            raise EOFError  # cut mid-reply: the peer went away, the reply is not "bad JSON"
        try:
            return Message(msg_bytes, eager=True)
        except ProtocolError:
            self.recv_failure = ("not-qmp", "a reply is not valid QMP JSON")
            raise

    def _cb_outbound(self, msg: Any) -> Any:
        return msg

    def _cb_inbound(self, msg: Any) -> Any:
        return msg

    # Commands issued together (execute_many) reach the writer task in one loop iteration;
    # writing each on its own costs QEMU one wake-up per command. Buffer them and write once
    # per iteration: the same bytes, in the same order, in one send().
    _outbox: list[bytes]
    _flush_scheduled: bool = False

    def _do_send(self, msg: Any) -> None:
        if not hasattr(self, "_outbox"):
            self._outbox = []
        self._outbox.append(bytes(msg))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        data = b"".join(self._outbox)
        self._outbox.clear()
        writer = self._writer
        if data and writer is not None and not writer.is_closing():
            writer.write(data)


def _peer_pid(sock: socket.socket) -> int | None:
    """The pid behind a connected unix socket; lets an explicit path name its QEMU."""
    if sock.family != socket.AF_UNIX or not hasattr(socket, "SO_PEERCRED"):
        return None
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    pid: int = struct.unpack("3i", creds)[0]
    return pid or None


class QmpSession:
    """An open, negotiated QMP session, used as ``async with QmpSession(addr) as qmp:``.

    ``target`` is the name used in errors (the user's spelling of the address).
    """

    def __init__(
        self,
        address: QmpAddress | str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        target: str | None = None,
        serial: bool = False,
    ) -> None:
        self.address = parse_address(address) if isinstance(address, str) else address
        self.target = target or str(self.address)
        self.timeout = timeout
        self._client = _QuietClient(f"qnetinspect:{self.target}", readbuflen=MAX_REPLY)
        # qemu.qmp's default listener (which cannot be removed) keeps every event forever in
        # its queue and history: make it refuse all events; callers use listen() instead.
        self._client.events.event_filter = _refuse_all
        self._open = False
        #: pid of the process that listens on a unix socket (SO_PEERCRED), else None
        self.peer_pid: int | None = None
        #: send one command at a time: peers that read one JSON document per read() (libvirt's
        #: virt-qemu-qmp-proxy) wedge on pipelined commands. Set from the greeting, or by the
        #: caller after a stall (``stalled``) for the next session.
        self.serial = serial
        #: a pipelined batch got no reply at all: retry with ``serial=True``
        self.stalled = False

    # ----------------------------------------------------------------- lifecycle
    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Connect and negotiate.

        Raises TargetError: not-found, permission-denied, refused, timeout (connect),
        no-greeting (accepted but silent), not-qmp, disconnected.
        """
        sock = await self._connect_socket()
        self.peer_pid = _peer_pid(sock)
        try:
            with anyio.fail_after(self.timeout):
                await self._client.connect(sock)
        except TimeoutError:
            sock.close()
            await self._abandon()
            raise TargetError(
                self.target,
                "no-greeting",
                f"socket accepted but QEMU sent no QMP greeting within {seconds(self.timeout)} "
                "(another client holds the monitor, or QEMU is stopped)",
            ) from None
        except ConnectError as exc:
            sock.close()
            raise self._map_connect_error(exc) from exc
        except BaseException:
            # cancelled from outside (or a bug): leave no socket or reader task behind
            sock.close()
            await self._abandon()
            raise
        self._open = True
        if _PROXY_PACKAGE.match(self._greeting_package()):
            self.serial = True
            self.peer_pid = None  # the process behind the socket is the proxy, not QEMU

    def _greeting_package(self) -> str:
        greeting = self._client.greeting
        try:
            return str(greeting.QMP.version["package"]) if greeting is not None else ""
        except (KeyError, TypeError, AttributeError):
            return ""

    async def close(self) -> None:
        """Disconnect; never raises for a session that already broke.

        A broken session is disconnected too: only qemu.qmp's disconnect() collects its reader
        and writer tasks and their error; skipped, they stay behind and their unretrieved error
        is logged (with a traceback) whenever the garbage collector finds it.
        """
        was_open, self._open = self._open, False
        if not was_open and self._client.runstate.name == "IDLE":
            return
        with anyio.move_on_after(self.timeout, shield=True):
            # the session is going away; the cause was already reported
            with contextlib.suppress(Exception):
                await self._client.disconnect()

    async def _abandon(self) -> None:
        with anyio.move_on_after(1.0, shield=True):
            with contextlib.suppress(Exception):
                await self._client.disconnect()

    async def _connect_socket(self) -> socket.socket:
        addr = self.address
        loop = asyncio.get_running_loop()
        if addr.path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target_addr: Any = addr.path
        else:
            try:
                infos = await loop.getaddrinfo(addr.host, addr.port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise TargetError(
                    self.target, "not-found", f"cannot resolve {addr.host}: {exc}"
                ) from exc
            family, _, _, _, target_addr = infos[0]
            sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            if addr.path is not None:
                # A unix connect completes or fails at once; EAGAIN means the listen queue is
                # full (the monitor's one client slot is taken and others already wait).
                # asyncio's sock_connect would instead wait for writability and report
                # "connected" on a socket that is not.
                try:
                    sock.connect(target_addr)
                except BlockingIOError:
                    sock.close()
                    raise TargetError(
                        self.target, "no-greeting",
                        "the monitor's listen queue is full (another client holds the monitor)",
                    ) from None
            else:
                with anyio.fail_after(self.timeout):
                    await loop.sock_connect(sock, target_addr)
        except TimeoutError:
            sock.close()
            raise TargetError(
                self.target, "timeout", f"connect did not complete within {seconds(self.timeout)}"
            ) from None
        except OSError as exc:
            sock.close()
            raise self._not_a_socket(exc) from exc
        except TargetError:
            raise
        except BaseException:
            sock.close()
            raise
        return sock

    def _not_a_socket(self, exc: OSError) -> TargetError:
        """Connecting to a regular file or a directory says "refused": say what it is."""
        import os
        import stat

        path = self.address.path
        if path is not None and exc.errno in (errno.ECONNREFUSED, errno.ENOTSOCK):
            try:
                mode = os.stat(path).st_mode
            except OSError:
                mode = 0
            if stat.S_ISDIR(mode):
                return TargetError(self.target, "not-qmp", "is a directory, not a QMP socket")
            if stat.S_ISREG(mode):
                return TargetError(
                    self.target, "not-qmp",
                    "is a regular file, not a QMP socket (saved `info network` text is read "
                    f"with file:{path})",
                )
        return TargetError(self.target, _kind_of_oserror(exc), exc.strerror or str(exc))

    def _map_connect_error(self, exc: ConnectError) -> TargetError:
        cause = exc.exc
        if isinstance(cause, EOFError) or isinstance(getattr(cause, "exc", None), EOFError):
            return TargetError(
                self.target, "disconnected", "peer closed the connection before the QMP greeting"
            )
        if isinstance(cause, OSError):
            return TargetError(self.target, _kind_of_oserror(cause), cause.strerror or str(cause))
        if isinstance(cause, ProtocolError):
            # qemu.qmp appends the raw bytes on further lines; keep the report to one line
            first = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
            return TargetError(self.target, "not-qmp", f"peer does not speak QMP ({first})")
        return TargetError(self.target, "not-qmp", str(exc))

    # ----------------------------------------------------------------- commands
    @property
    def greeting_version(self) -> str | None:
        greeting = self._client.greeting
        if greeting is None:
            return None
        try:
            q: Any = greeting.QMP.version["qemu"]
            return f"{q['major']}.{q['minor']}.{q['micro']}"
        except (KeyError, TypeError):
            return None

    async def execute(
        self,
        command: str,
        arguments: Mapping[str, object] | None = None,
        *,
        timeout: float | None = None,
    ) -> object:
        """Run one QMP command and return its ``return`` value.

        Raises CommandFailed (QEMU answered with an error), TargetError timeout / disconnected.
        """
        limit = self.timeout if timeout is None else timeout
        try:
            with anyio.fail_after(limit):
                return await self._execute_raw(command, arguments)
        except TimeoutError:
            raise TargetError(
                self.target, "timeout", f"{command}: no reply within {seconds(limit)}"
            ) from None

    async def _execute_raw(self, command: str, arguments: Mapping[str, object] | None) -> object:
        """``execute`` without a time limit (the caller sets one); errors mapped."""
        try:
            return await self._client.execute(command, dict(arguments) if arguments else None)
        except ExecuteError as exc:
            raise CommandFailed(self.target, command, exc.error_class, str(exc)) from exc
        except ExecInterruptedError as exc:
            self._open = False
            raise self._lost(command) from exc
        except (OSError, EOFError) as exc:
            self._open = False
            raise TargetError(self.target, "disconnected", f"{command}: {exc}") from exc
        except ProtocolError as exc:
            raise TargetError(self.target, "not-qmp", f"{command}: bad reply ({exc})") from exc
        except StateError as exc:
            # the peer hung up while we were idle: qemu.qmp is already disconnecting
            self._open = False
            raise self._lost(command) from exc

    def _lost(self, command: str) -> TargetError:
        """The session broke under ``command``: say why when the peer's reply was the cause."""
        failure = self._client.recv_failure
        if failure is not None:
            return TargetError(self.target, failure[0], f"{command}: {failure[1]}")
        return TargetError(self.target, "disconnected", f"{command}: connection lost")

    async def hmp(self, command_line: str, *, timeout: float | None = None) -> str:
        """Run a fixed, read-only HMP command (never built from user input) and return its text."""
        result = await self.execute(
            "human-monitor-command", {"command-line": command_line}, timeout=timeout
        )
        if not isinstance(result, str):
            raise TargetError(self.target, "not-qmp", f"{command_line}: reply is not text")
        return result

    async def execute_many(
        self,
        commands: Sequence[tuple[str, Mapping[str, object] | None]],
        *,
        timeout: float | None = None,
    ) -> list[object | CommandFailed]:
        """Send independent commands together (pipelined) and collect each result or failure.

        A command QEMU rejects gives its CommandFailed in the list. Raises TargetError (the
        first one, not an ExceptionGroup) when the session itself fails: timeout, disconnected.
        """
        results: list[object | CommandFailed] = [None] * len(commands)
        broken: list[TargetError] = []
        limit = self.timeout if timeout is None else timeout
        replied = 0

        async def one(i: int, cmd: str, args: Mapping[str, object] | None) -> None:
            nonlocal replied
            try:
                results[i] = await self._execute_raw(cmd, args)
            except CommandFailed as exc:
                results[i] = exc
            except TargetError as exc:
                broken.append(exc)
            replied += 1

        # One time limit for the whole batch: a cancel scope per command cost more CPU than
        # the commands themselves with many VMs. The commands wait in asyncio.gather, not in
        # an anyio task group: anyio gives every task a cancel scope and a name, which cost
        # `check` of 60 VMs 4% more instructions (docs/performance.md). qemu.qmp runs
        # on asyncio anyway; `one` never raises, so gather's "first error" semantics never
        # apply, and cancelling the surrounding scope cancels every command.
        try:
            with anyio.fail_after(limit):
                if self.serial:
                    for i, (cmd, args) in enumerate(commands):
                        await one(i, cmd, args)
                elif len(commands) == 1:
                    await one(0, *commands[0])
                else:
                    await self._gather_or_stall(
                        [one(i, cmd, args) for i, (cmd, args) in enumerate(commands)],
                        limit, lambda: replied,
                    )
        except TimeoutError:
            names = ", ".join(sorted({c for c, _ in commands}))
            raise TargetError(
                self.target, "timeout", f"{names}: no reply within {seconds(limit)}"
            ) from None
        if self.stalled:
            raise TargetError(self.target, "timeout", "no reply to commands sent together: "
                              "the peer takes one command at a time (virt-qemu-qmp-proxy?)")
        if broken:
            raise broken[0]
        return results

    async def _gather_or_stall(self, waits: list[Coroutine[Any, Any, None]], limit: float,
                               replied: Callable[[], int]) -> None:
        """Await the commands together; give up when none has replied within a third of
        ``limit`` (``stalled``): the caller retries one command at a time in the time left.
        A timer callback, not a task: this runs for every VM."""
        with anyio.CancelScope() as scope:

            def check() -> None:
                if replied() == 0:
                    self.stalled = True
                    scope.cancel()

            timer = asyncio.get_running_loop().call_later(limit / 3, check)
            try:
                await asyncio.gather(*waits)
            finally:
                timer.cancel()

    # ----------------------------------------------------------------- events
    @asynccontextmanager
    async def listen(self, names: Sequence[str] | None = None) -> AsyncIterator[BoundedListener]:
        """Receive QMP events (all, or only ``names``) while the block runs; drained on exit.

        Iterate with ``async for event in listener`` or ``await listener.get()``; each event is a
        mapping with ``event``, ``data`` and ``timestamp``.
        """
        listener = BoundedListener(names=list(names) if names else None)
        self._client.register_listener(listener)
        try:
            yield listener
        finally:
            self._client.remove_listener(listener)
            listener.clear()

    @property
    def is_open(self) -> bool:
        return self._open and self._client.runstate.name == "RUNNING"
