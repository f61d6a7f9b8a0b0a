"""The transport seen by the service: a ``Session`` protocol, and brief sessions that wait their
turn on a monitor someone else holds.

A QEMU monitor serves one client at a time. A second client's connect succeeds (the kernel puts
it in the listen queue) but QEMU greets it only once the first client has gone. So
``open_session`` waits for the greeting for the whole time it is given (staying in the queue is
the best place to be), retries with backoff and jitter when the queue is full, and reports:

- ``busy``: no greeting in time while QEMU runs: another client holds the monitor;
- ``no-greeting``: no greeting and QEMU is stopped (SIGSTOP, a debugger): not a matter of waiting.

``qnetinspect.qmp.session.QmpSession`` is the real implementation; tests may hand the service an
in-memory one (``tests/fakesession.py``) through a ``SessionFactory``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

import anyio

from qnetinspect.errors import CommandFailed, TargetError
from qnetinspect.qmp.address import QmpAddress
from qnetinspect.qmp.session import QmpSession

#: first pause between two tries on a full listen queue; doubled each time up to the max
RETRY_MIN = 0.05
RETRY_MAX = 1.0


class Session(Protocol):
    """What readers and hot-plug jobs use of an open QMP session."""

    target: str
    peer_pid: int | None
    timeout: float  # the default time limit of each command

    @property
    def greeting_version(self) -> str | None: ...

    @property
    def is_open(self) -> bool: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def execute(
        self,
        command: str,
        arguments: Mapping[str, object] | None = None,
        *,
        timeout: float | None = None,
    ) -> object: ...

    async def execute_many(
        self,
        commands: Sequence[tuple[str, Mapping[str, object] | None]],
        *,
        timeout: float | None = None,
    ) -> list[object | CommandFailed]: ...

    async def hmp(self, command_line: str, *, timeout: float | None = None) -> str: ...

    def listen(self, names: Sequence[str] | None = None) -> AbstractAsyncContextManager[Any]: ...


#: makes an unopened session: (address, target name, timeout) -> Session
SessionFactory = Callable[[QmpAddress, str, float], Session]


def qmp_session(address: QmpAddress, target: str, timeout: float) -> Session:
    """The real session factory (qemu.qmp over a socket): events, hot-plug, ``--hold``."""
    return QmpSession(address, timeout=timeout, target=target)


def process_stopped(pid: int | None) -> bool:
    """True when ``pid`` is a stopped (SIGSTOP) or traced process; False when unknown."""
    if pid is None:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # "pid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ")"
    fields = stat.rpartition(")")[2].split()
    return bool(fields) and fields[0] in ("T", "t")


async def open_session(
    address: QmpAddress,
    *,
    target: str,
    timeout: float,
    factory: SessionFactory = qmp_session,
    command_timeout: float | None = None,
) -> Session:
    """An open, negotiated session, waiting up to ``timeout`` seconds for the monitor to be free.
    Its commands then get ``command_timeout`` each (default ``timeout``), however long the
    wait was.

    Raises TargetError: ``busy`` (another client held the monitor the whole time),
    ``no-greeting`` (QEMU is stopped), and the session's own kinds (not-found, refused ...).
    """
    deadline = anyio.current_time() + timeout
    delay = RETRY_MIN
    while True:
        left = deadline - anyio.current_time()
        session = factory(address, target, max(left, 0.05))
        try:
            await session.open()
            session.timeout = timeout if command_timeout is None else command_timeout
            return session
        except TargetError as exc:
            if exc.kind != "no-greeting":
                raise
            if process_stopped(session.peer_pid):
                raise TargetError(
                    target, "no-greeting",
                    f"QEMU (pid {session.peer_pid}) is stopped: it cannot greet until resumed",
                ) from None
            left = deadline - anyio.current_time()
            if left <= delay:
                raise TargetError(
                    target, "busy",
                    f"another client holds the monitor (no QMP greeting within {timeout:g}s)",
                ) from None
        # the listen queue was full (clients already wait): try again a little later; the
        # jitter keeps many waiting qnetinspects from knocking at the same instant
        await anyio.sleep(delay * random.uniform(0.5, 1.5))
        delay = min(RETRY_MAX, delay * 2)


class WaitingSession(QmpSession):
    """A ``QmpSession`` whose ``open()`` waits its turn on a busy monitor (``open_session``):
    for one-shot commands (``qnetinspect add/remove/link``) that should not fail only because
    cron's ``check`` or a TUI refresh holds the monitor for a moment.

    Raises from ``open()`` what ``open_session`` raises (busy, no-greeting, not-found ...).
    """

    async def open(self) -> None:
        session = await open_session(self.address, target=self.target, timeout=self.timeout)
        assert isinstance(session, QmpSession)
        # take over the negotiated client (same package: the session's internals are ours)
        self._client, self._open, self.peer_pid = session._client, True, session.peer_pid
