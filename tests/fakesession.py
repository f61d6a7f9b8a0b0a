"""An in-memory ``Session`` (qnetinspect.qmp.transport) for unit tests: no socket, no QEMU.

A ``FakeMonitor`` stands for one QEMU monitor: it serves one session at a time, like QEMU; a
session that opens while another holds it waits for its turn up to its timeout and then fails
with ``no-greeting``, as the real QmpSession does. ``FakeMonitor.factory`` is a
``SessionFactory`` to hand to ``open_session`` or ``Watcher(session_factory=...)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import anyio

from qnetinspect.errors import CommandFailed, TargetError
from qnetinspect.qmp.address import QmpAddress


@dataclass
class FakeMonitor:
    """One monitor: ``replies`` maps a command (or ``hmp:LINE``) to its return value."""

    replies: dict[str, object] = field(default_factory=dict)
    pid: int | None = None
    opened: int = 0  # sessions that got the monitor
    most_at_once: int = 0
    holders: int = 0
    log: list[str] = field(default_factory=list)
    _free: anyio.Semaphore = field(default_factory=lambda: anyio.Semaphore(1))

    def factory(self, address: QmpAddress, target: str, timeout: float) -> FakeSession:
        return FakeSession(self, target, timeout)

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """Another client holds the monitor while the block runs."""
        async with self._free:
            yield


class FakeSession:
    """A ``Session`` on a ``FakeMonitor``."""

    def __init__(self, monitor: FakeMonitor, target: str, timeout: float) -> None:
        self.monitor = monitor
        self.target = target
        self.timeout = timeout
        self.peer_pid = monitor.pid
        self._open = False

    @property
    def greeting_version(self) -> str | None:
        return "7.2.22"

    @property
    def is_open(self) -> bool:
        return self._open

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
        with anyio.move_on_after(self.timeout):
            await self.monitor._free.acquire()
            self._open = True
            self.monitor.opened += 1
            self.monitor.holders += 1
            self.monitor.most_at_once = max(self.monitor.most_at_once, self.monitor.holders)
            return
        raise TargetError(self.target, "no-greeting", "no greeting (fake monitor held)")

    async def close(self) -> None:
        if self._open:
            self._open = False
            self.monitor.holders -= 1
            self.monitor._free.release()

    async def execute(
        self, command: str, arguments: Mapping[str, object] | None = None, *,
        timeout: float | None = None,
    ) -> object:
        if not self._open:
            raise TargetError(self.target, "disconnected", f"{command}: not open")
        key = command
        if command == "human-monitor-command" and arguments:
            key = f"hmp:{arguments.get('command-line')}"
        self.monitor.log.append(key)
        if key not in self.monitor.replies:
            raise CommandFailed(self.target, command, "CommandNotFound", f"{key}: not faked")
        return self.monitor.replies[key]

    async def execute_many(
        self, commands: Sequence[tuple[str, Mapping[str, object] | None]], *,
        timeout: float | None = None,
    ) -> list[object | CommandFailed]:
        out: list[object | CommandFailed] = []
        for cmd, args in commands:
            try:
                out.append(await self.execute(cmd, args))
            except CommandFailed as exc:
                out.append(exc)
        return out

    async def hmp(self, command_line: str, *, timeout: float | None = None) -> str:
        result = await self.execute("human-monitor-command", {"command-line": command_line})
        assert isinstance(result, str)
        return result

    @asynccontextmanager
    async def listen(self, names: Sequence[str] | None = None) -> AsyncIterator[Any]:
        yield None
