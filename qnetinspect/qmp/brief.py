"""A lean QMP client for brief read-only sessions: connect, negotiate, pipelined reads, close.

The watcher reads every VM in a brief session on every refresh (see ``qnetinspect.live``), so
the per-connection cost is paid 100 times a second with 200 VMs at a 2 s interval. qemu.qmp's
``QMPClient`` starts reader and writer tasks and builds message objects for each connection,
which tripled the cost of a refresh round against a minimal client. ``BriefSession`` speaks
just what a read needs over one asyncio stream: newline-framed JSON (QEMU ends every message
with ``\\r\\n``), replies matched by id, events skipped. It maps every failure to the same
``TargetError`` kinds as ``QmpSession``; it has no events (``listen``), so hot-plug and
``--hold`` use ``QmpSession``.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Self

import anyio

from qnetinspect.errors import CommandFailed, TargetError
from qnetinspect.qmp.address import QmpAddress
from qnetinspect.qmp.session import kind_of_oserror

_LIMIT = 1 << 24  # one reply line may be this long (info network of a big VM is ~100 kB)


class BriefSession:
    """One brief QMP session (``async with BriefSession(addr, timeout=5, target=spec)``)."""

    def __init__(self, address: QmpAddress, *, timeout: float, target: str) -> None:
        self.address = address
        self.timeout = timeout
        self.target = target
        self.peer_pid: int | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._greeting: Any = None
        self._next_id = 0
        self._caps_id: int | None = None  # qmp_capabilities to send or answer still to read
        self._caps_sent = False
        self._open = False

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

    @property
    def is_open(self) -> bool:
        return self._open

    @property
    def greeting_version(self) -> str | None:
        try:
            q = self._greeting["QMP"]["version"]["qemu"]
            return f"{q['major']}.{q['minor']}.{q['micro']}"
        except (KeyError, TypeError):
            return None

    # ------------------------------------------------------------------ lifecycle
    async def open(self) -> None:
        """Connect, read the greeting, negotiate.

        Raises TargetError: not-found, permission-denied, refused, timeout (connect),
        no-greeting (accepted but silent), not-qmp, disconnected.
        """
        from qnetinspect.qmp.session import _peer_pid

        try:
            with anyio.fail_after(self.timeout):
                if self.address.path is not None:
                    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    sock.setblocking(False)
                    try:
                        # a unix connect completes or fails at once; EAGAIN: the listen
                        # queue is full (the monitor's client slot is taken, others wait)
                        sock.connect(self.address.path)
                    except BlockingIOError:
                        sock.close()
                        raise TargetError(
                            self.target, "no-greeting",
                            "the monitor's listen queue is full (another client holds the "
                            "monitor)",
                        ) from None
                    except BaseException:
                        sock.close()
                        raise
                    self.peer_pid = _peer_pid(sock)
                    self._reader, self._writer = await asyncio.open_unix_connection(
                        sock=sock, limit=_LIMIT
                    )
                else:
                    self._reader, self._writer = await asyncio.open_connection(
                        self.address.host, self.address.port, limit=_LIMIT
                    )
        except TimeoutError:
            await self.close()
            raise TargetError(
                self.target, "timeout", f"connect did not complete within {self.timeout:g}s"
            ) from None
        except OSError as exc:
            await self.close()
            raise TargetError(self.target, kind_of_oserror(exc), exc.strerror or str(exc)) from exc
        try:
            with anyio.fail_after(self.timeout):
                greeting = await self._read_message(expect_greeting=True)
        except TimeoutError:
            await self.close()
            raise TargetError(
                self.target, "no-greeting",
                f"socket accepted but QEMU sent no QMP greeting within {self.timeout:g}s "
                "(another client holds the monitor, or QEMU is stopped)",
            ) from None
        except BaseException:
            await self.close()
            raise
        if not isinstance(greeting, dict) or "QMP" not in greeting:
            await self.close()
            raise TargetError(self.target, "not-qmp", "peer does not speak QMP (no greeting)")
        self._greeting = greeting
        self._open = True
        # Negotiate with the first reads, in the same write: QEMU handles requests in order,
        # so they run after it. One write and one round trip less per brief session: on a busy
        # host every write wakes QEMU and costs us a context switch.
        self._caps_id = self._next_id
        self._next_id += 1

    async def close(self) -> None:
        """Disconnect; never raises."""
        self._open = False
        writer, self._writer = self._writer, None
        self._reader = None
        if writer is not None:
            writer.close()  # the kernel closes at once; nothing to wait for on a read session

    # ------------------------------------------------------------------ commands
    async def _read_message(self, *, expect_greeting: bool = False) -> Any:
        assert self._reader is not None
        try:
            line = await self._reader.readline()
        except (asyncio.LimitOverrunError, ValueError) as exc:
            raise TargetError(self.target, "not-qmp", f"reply too long or malformed ({exc})") \
                from None
        except OSError as exc:
            raise TargetError(self.target, "disconnected", str(exc) or "connection lost") \
                from exc
        if not line.endswith(b"\n"):  # EOF, possibly in the middle of a message
            what = "before the QMP greeting" if expect_greeting else "mid-way"
            raise TargetError(self.target, "disconnected", f"peer closed the connection {what}")
        try:
            return json.loads(line)
        except ValueError:
            first = line[:60].decode("utf-8", "replace").strip()
            raise TargetError(self.target, "not-qmp", f"peer does not speak QMP ({first!r})") \
                from None

    async def execute_many(
        self,
        commands: Sequence[tuple[str, Mapping[str, object] | None]],
        *,
        timeout: float | None = None,
    ) -> list[object | CommandFailed]:
        """Send the commands in one write, collect each result or failure (CommandFailed).

        Raises TargetError (timeout, disconnected, not-qmp) when the session itself fails.
        """
        if self._writer is None or not commands:
            if self._writer is None:
                raise TargetError(self.target, "disconnected", "session is not open")
            return []
        first = self._next_id
        out = []
        if self._caps_id is not None and not self._caps_sent:
            out.append(json.dumps({"execute": "qmp_capabilities", "id": self._caps_id}))
            self._caps_sent = True
        for n, (cmd, args) in enumerate(commands):
            msg: dict[str, Any] = {"execute": cmd, "id": first + n}
            if args:
                msg["arguments"] = dict(args)
            out.append(json.dumps(msg))
        self._next_id += len(commands)
        limit = self.timeout if timeout is None else timeout
        results: dict[int, object | CommandFailed] = {}
        try:
            with anyio.fail_after(limit):
                self._writer.write("".join(out).encode())
                while len(results) < len(commands) or self._caps_id is not None:
                    msg = await self._read_message()
                    if not isinstance(msg, dict) or "event" in msg:
                        continue
                    ident = msg.get("id")
                    if ident is not None and ident == self._caps_id:
                        self._caps_id = None
                        if "error" in msg:  # QEMU refused the negotiation: nothing else works
                            error = msg["error"] if isinstance(msg["error"], dict) else {}
                            raise CommandFailed(
                                self.target, "qmp_capabilities",
                                str(error.get("class", "GenericError")),
                                str(error.get("desc", error)),
                            )
                        continue
                    if not isinstance(ident, int) or not first <= ident < first + len(commands):
                        continue
                    cmd = commands[ident - first][0]
                    if "error" in msg:
                        error = msg["error"] if isinstance(msg["error"], dict) else {}
                        results[ident] = CommandFailed(
                            self.target, cmd, str(error.get("class", "GenericError")),
                            str(error.get("desc", error)),
                        )
                    else:
                        results[ident] = msg.get("return")
        except TimeoutError:
            self._open = False
            names = ", ".join(sorted({c for c, _ in commands}))
            raise TargetError(self.target, "timeout", f"{names}: no reply within {limit:g}s") \
                from None
        except TargetError:
            self._open = False
            raise
        return [results[first + n] for n in range(len(commands))]

    async def execute(
        self,
        command: str,
        arguments: Mapping[str, object] | None = None,
        *,
        timeout: float | None = None,
    ) -> object:
        """One command's ``return`` value. Raises CommandFailed, TargetError."""
        (result,) = await self.execute_many([(command, arguments)], timeout=timeout)
        if isinstance(result, CommandFailed):
            raise result
        return result

    async def hmp(self, command_line: str, *, timeout: float | None = None) -> str:
        """Run a fixed, read-only HMP command and return its text."""
        result = await self.execute(
            "human-monitor-command", {"command-line": command_line}, timeout=timeout
        )
        if not isinstance(result, str):
            raise TargetError(self.target, "not-qmp", f"{command_line}: reply is not text")
        return result

    @asynccontextmanager
    async def listen(self, names: Sequence[str] | None = None) -> AsyncIterator[Any]:
        """Brief sessions take no events: use QmpSession (``--hold``, hot-plug) for those."""
        raise NotImplementedError("a brief session has no events; use QmpSession")
        yield  # pragma: no cover - makes this an async generator
