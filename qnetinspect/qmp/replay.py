"""A QMP server that replays a real QEMU capture, for tests, benchmarks and the demo.

It speaks just enough QMP to stand in for the QEMU that produced the capture
(``fixtures/captures/<version>/<scenario>.json``, layout in ``fixtures/captures/README.md``):

- the greeting carries the capture's ``qemu_version``;
- ``qmp_capabilities`` must come first, as in QEMU;
- ``human-monitor-command`` answers ``info network`` (the capture's ``info_network``) and every
  HMP command in ``extra_hmp`` (``info usernet`` ...); ``info usernet`` is ``""`` when absent;
- ``query-version``, ``query-name`` (``-name`` in the argv, else ``{}``), ``query-status``
  (prelaunch, as QEMU started with ``-S``), ``query-commands``, ``qom-list`` / ``qom-get`` from
  ``qom`` (``final_qom`` for hot-plug captures), ``query-rx-filter`` from ``rx_filter``;
- anything else gets QEMU's ``CommandNotFound`` error.

With ``play_steps=True`` a hot-plug capture starts from ``startup_info_network``; each recorded
step (``netdev_add``, ``device_add``, ``set_link``, ``device_del`` ...) is answered with its
recorded result when the client sends exactly that command next, which moves ``info network`` to
the step's after-state and sends the step's recorded events.

Events can be scripted (``ScriptedEvent``: sent to every client N seconds after it negotiated) or
pushed with ``ReplayServer.emit``. Like QEMU, one client at a time: a second client is accepted
but gets no greeting until the first one leaves (QEMU leaves it in the listen queue), so a test
sees the same ``no-greeting``/``busy`` a real monitor gives. ``max_clients=N`` (None: no limit)
serves more at once, for the tests and benchmarks that want that explicitly.

Usage::

    async with ReplayServer(Path("capture.json"), Path("/tmp/x/vm.qmp")) as srv:
        ...  # connect QmpSession(srv.socket_path)

    with ReplayFleet([capture] * 50, Path("/tmp/x")) as fleet:   # from sync code / tests
        fleet.sockets  # -> list of socket paths, served from a background thread

    python -m qnetinspect.qmp.replay CAPTURE.json SOCKET      # manual use, until Ctrl-C

QEMU frames its input with a streaming JSON lexer, not lines (qemu.qmp sends no newline), so the
server splits the input on balanced braces; each reply is one JSON object plus ``\\r\\n``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from qnetinspect.errors import UsageError

Capture = Mapping[str, Any]

#: query-status of a QEMU started with -S that never ran (every capture was made that way)
_PRELAUNCH_STATUS = {"status": "prelaunch", "singlestep": False, "running": False}
_MAX_MESSAGE = 1 << 20  # a larger pending request is refused; real QMP requests are tiny


class QmpError(Exception):
    """A QMP error reply: ``{"error": {"class": cls, "desc": desc}}``."""

    def __init__(self, cls: str, desc: str) -> None:
        super().__init__(desc)
        self.cls = cls
        self.desc = desc


@dataclass(frozen=True, slots=True)
class ScriptedEvent:
    """An event sent to each client ``after`` seconds after its capabilities negotiation."""

    after: float
    event: str
    data: Mapping[str, Any] = field(default_factory=dict)


def load_capture(source: Capture | Path | str) -> dict[str, Any]:
    """Read a capture (a mapping, or a JSON file) and check it is replayable.

    Raises UsageError naming the capture and what was expected.
    """
    if isinstance(source, Mapping):
        data: Any = dict(source)
        name = str(data.get("scenario", "capture"))
    else:
        path = Path(source)
        name = str(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"{path}: cannot read capture: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise UsageError(f"{path}: not a JSON capture ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{name}: expected a JSON object with info_network and qemu_version")
    if data.get("outcome", "ok") != "ok":
        raise UsageError(
            f"{name}: outcome is {data.get('outcome')!r}: QEMU never served QMP, nothing to replay"
        )
    if not isinstance(data.get("info_network"), str) or not isinstance(
        data.get("qemu_version"), dict
    ):
        raise UsageError(f"{name}: expected a capture with info_network (text) and qemu_version")
    return data


def vm_name_from_argv(argv: Sequence[str]) -> str | None:
    """The guest name of ``-name NAME`` or ``-name guest=NAME,...`` in a QEMU argv."""
    for i, arg in enumerate(argv[:-1]):
        if arg in ("-name", "--name"):
            value = argv[i + 1]
            first = value.split(",", 1)[0]
            if first.startswith("guest="):
                return first[len("guest=") :]
            for part in value.split(","):
                if part.startswith("guest="):
                    return part[len("guest=") :]
            return first
    return None


def _json_frames(buffer: str) -> tuple[list[str], str, bool]:
    """Split complete top-level JSON objects off ``buffer``.

    Returns (frames, rest, garbage): ``garbage`` is True when non-whitespace text was found
    outside any object (QEMU answers that with a parse error and goes on).
    """
    frames: list[str] = []
    depth = 0
    in_string = escaped = garbage = False
    start = 0
    for i, ch in enumerate(buffer):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "{[":
            if depth == 0:
                start = i
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                frames.append(buffer[start : i + 1])
                start = i + 1
            elif depth < 0:
                depth = 0
                garbage = True
                start = i + 1
        elif depth == 0 and not ch.isspace():
            garbage = True
            start = i + 1
    rest = buffer[start:] if depth > 0 else ""
    return frames, rest, garbage


def _timestamp() -> dict[str, int]:
    now = time.time()
    return {"seconds": int(now), "microseconds": int((now % 1) * 1_000_000)}


class ReplayServer:
    """Serve one capture on a unix socket: ``async with ReplayServer(capture, path) as srv:``.

    ``vm_name`` overrides the ``-name`` of the capture's argv (useful for fleets).
    ``info_network`` may be reassigned while serving, to show a change to polling clients.
    """

    def __init__(
        self,
        capture: Capture | Path | str,
        socket_path: Path | str,
        *,
        vm_name: str | None = None,
        events: Iterable[ScriptedEvent] = (),
        play_steps: bool = False,
        max_clients: int | None = 1,
    ) -> None:
        self.capture = load_capture(capture)
        self.max_clients = max_clients
        self.socket_path = Path(socket_path)
        argv = self.capture.get("argv") or []
        self.vm_name = vm_name if vm_name is not None else vm_name_from_argv(list(argv))
        self.info_network: str = self.capture["info_network"]
        self.extra_hmp: dict[str, str] = dict(self.capture.get("extra_hmp") or {})
        self.events = tuple(events)
        self.connections = 0  # clients accepted so far
        self.commands: list[str] = []  # every command name received, in order (for tests)
        # hot-plug captures: info_network is the final state, so is final_qom
        qom = self.capture.get("final_qom") or self.capture.get("qom")
        self._qom: Mapping[str, Any] = qom or {}
        # play_steps: start from the state before the recorded hot-plug steps and walk them
        self.steps: list[Mapping[str, Any]] = []
        self.step = 0  # index of the next expected step
        if play_steps and self.capture.get("steps"):
            self.steps = list(self.capture["steps"])
            self.info_network = str(self.capture.get("startup_info_network", ""))
            self._qom = self.capture.get("qom") or {}
        self._pending_events: list[Mapping[str, Any]] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._negotiated: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        # QEMU serves one monitor client; the others wait ungreeted (created in start(): the
        # semaphore must belong to the serving loop)
        self._slots: asyncio.Semaphore | None = None
        self._waiting: set[asyncio.Task[None]] = set()  # clients not greeted yet
        self.active = 0  # clients greeted and not yet gone
        self.most_active = 0  # the most clients served at once (for tests)

    # ----------------------------------------------------------------- lifecycle
    async def __aenter__(self) -> ReplayServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen on ``socket_path`` (a stale socket file there is replaced)."""
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        if self.max_clients is not None:
            self._slots = asyncio.Semaphore(max(1, self.max_clients))
        self._server = await asyncio.start_unix_server(
            self._serve, path=str(self.socket_path), limit=_MAX_MESSAGE
        )

    async def stop(self) -> None:
        """Stop listening, hang up on every client, remove the socket file."""
        if self._server is not None:
            self._server.close()
        for task in list(self._waiting):
            task.cancel()  # clients still waiting for their turn: never greeted
        for writer in list(self._writers):
            writer.close()  # each client's read() then sees EOF and its handler ends by itself
        if self._tasks:
            _, stuck = await asyncio.wait(set(self._tasks), timeout=2.0)
            for task in stuck:
                task.cancel()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    async def emit(self, event: str, data: Mapping[str, Any] | None = None) -> int:
        """Send an event now to every negotiated client; returns how many got it."""
        message = {"event": event, "data": dict(data or {}), "timestamp": _timestamp()}
        sent = 0
        for writer in list(self._negotiated):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._send(writer, message)
                sent += 1
        return sent

    # ----------------------------------------------------------------- protocol
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        self.connections += 1
        timers: list[asyncio.Task[None]] = []
        slots = self._slots
        holding = False
        try:
            if slots is not None:
                # like QEMU: accepted, but silent until the client before it has gone
                if task is not None:
                    self._waiting.add(task)
                try:
                    await slots.acquire()
                finally:
                    if task is not None:
                        self._waiting.discard(task)
                holding = True
            self.active += 1
            self.most_active = max(self.most_active, self.active)
            greeting = {"QMP": {"version": self.capture["qemu_version"], "capabilities": ["oob"]}}
            await self._send(writer, greeting)
            buffer = ""
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    return
                buffer += chunk.decode("utf-8", errors="replace")
                frames, buffer, garbage = _json_frames(buffer)
                if garbage:
                    await self._send(writer, _error("GenericError", "JSON parse error"))
                if len(buffer) > _MAX_MESSAGE:
                    await self._send(writer, _error("GenericError", "JSON message too large"))
                    buffer = ""
                for frame in frames:
                    reply = self._reply(frame, writer)
                    await self._send(writer, reply)
                    while self._pending_events:  # a played step's events follow its reply
                        recorded = self._pending_events.pop(0)
                        await self.emit(str(recorded["event"]), recorded.get("data"))
                    if writer in self._negotiated and not timers and self.events:
                        timers = [
                            asyncio.create_task(self._later(writer, ev)) for ev in self.events
                        ]
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            if holding:
                raise
            return  # stopped while waiting for its turn
        finally:
            if holding or slots is None:
                self.active -= 1
            if holding and slots is not None:
                slots.release()
            for timer in timers:
                timer.cancel()
            self._negotiated.discard(writer)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if task is not None:
                self._tasks.discard(task)

    async def _later(self, writer: asyncio.StreamWriter, ev: ScriptedEvent) -> None:
        await asyncio.sleep(ev.after)
        message = {"event": ev.event, "data": dict(ev.data), "timestamp": _timestamp()}
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self._send(writer, message)

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, message: Mapping[str, Any]) -> None:
        writer.write(json.dumps(message).encode() + b"\r\n")
        await writer.drain()

    def _reply(self, frame: str, writer: asyncio.StreamWriter) -> dict[str, Any]:
        try:
            request = json.loads(frame)
        except ValueError:
            return _error("GenericError", "JSON parse error")
        if not isinstance(request, dict):
            return _error("GenericError", "QMP input must be a JSON object")
        command = request.get("execute", request.get("exec-oob"))
        reply: dict[str, Any]
        if not isinstance(command, str):
            reply = _error("GenericError", "QMP input lacks member 'execute'")
        else:
            self.commands.append(command)
            arguments = request.get("arguments") or {}
            try:
                if not isinstance(arguments, dict):
                    raise QmpError("GenericError", "QMP input member 'arguments' must be an object")
                reply = {"return": self._dispatch(command, arguments, writer)}
            except QmpError as exc:
                reply = _error(exc.cls, exc.desc)
        if "id" in request:
            reply["id"] = request["id"]
        return reply

    def _dispatch(self, command: str, args: Mapping[str, Any], writer: asyncio.StreamWriter) -> Any:
        negotiated = writer in self._negotiated
        if command == "qmp_capabilities":
            if negotiated:
                raise QmpError(
                    "CommandNotFound",
                    "Capabilities negotiation is already complete, command ignored",
                )
            self._negotiated.add(writer)
            return {}
        if not negotiated:
            raise QmpError(
                "CommandNotFound",
                "Expecting capabilities negotiation with 'qmp_capabilities'",
            )
        if self.steps and any(step.get("cmd") == command for step in self.steps):
            return self._play(command, args)
        handler = _HANDLERS.get(command)
        if handler is None:
            raise QmpError("CommandNotFound", f"The command {command} has not been found")
        return handler(self, args)

    def _play(self, command: str, args: Mapping[str, Any]) -> Any:
        """Answer the next recorded hot-plug step, if this is it, and move to its state."""
        if self.step >= len(self.steps):
            raise QmpError("GenericError", f"replay: all {len(self.steps)} steps were played")
        step = self.steps[self.step]
        if step.get("cmd") != command or dict(step.get("args") or {}) != dict(args):
            raise QmpError(
                "GenericError",
                f"replay: step {self.step + 1} is {step.get('cmd')} {json.dumps(step.get('args'))}"
                f", not {command} {json.dumps(args)}",
            )
        self.step += 1
        self.info_network = str(step.get("info_network_after", self.info_network))
        if self.step == len(self.steps):
            self._qom = self.capture.get("final_qom") or self._qom
        self._pending_events.extend(
            e for e in step.get("events") or () if isinstance(e, Mapping) and "event" in e
        )
        return _ok_or_raise(step.get("result") or {"ok": True, "result": {}})

    # ----------------------------------------------------------------- commands
    def _hmp(self, args: Mapping[str, Any]) -> str:
        line = args.get("command-line")
        if not isinstance(line, str):
            raise QmpError("GenericError", "Parameter 'command-line' is missing")
        key = " ".join(line.split())
        if key == "info network":
            return self.info_network
        if key in self.extra_hmp:
            return self.extra_hmp[key]
        if key == "info usernet":
            return ""
        raise QmpError("GenericError", f"replay: HMP command {key!r} is not in the capture")

    def _version(self, args: Mapping[str, Any]) -> Any:
        return self.capture["qemu_version"]

    def _name(self, args: Mapping[str, Any]) -> Any:
        return {} if self.vm_name is None else {"name": self.vm_name}

    def _status(self, args: Mapping[str, Any]) -> Any:
        return dict(_PRELAUNCH_STATUS)

    def _commands(self, args: Mapping[str, Any]) -> Any:
        return [{"name": name} for name in ("qmp_capabilities", *_HANDLERS)]

    def _qom_list(self, args: Mapping[str, Any]) -> Any:
        path = _path_arg(args)
        if path == "/objects" and isinstance(self.capture.get("objects"), Mapping):
            return _ok_or_raise(self.capture["objects"])
        container = self._qom.get(path)
        if isinstance(container, Mapping) and "list" in container:
            return _ok_or_raise(container["list"])
        parent, _, child = path.rpartition("/")
        nic = self._nic(parent, child)
        if nic is not None:
            return [
                {"name": "type", "type": "string"},
                {"name": "netdev", "type": "str"},
                {"name": "mac", "type": "str"},
            ]
        raise QmpError("DeviceNotFound", f"Device '{path}' not found")

    def _qom_get(self, args: Mapping[str, Any]) -> Any:
        path = _path_arg(args)
        prop = args.get("property")
        if not isinstance(prop, str):
            raise QmpError("GenericError", "Parameter 'property' is missing")
        parent, _, child = path.rpartition("/")
        nic = self._nic(parent, child)
        if nic is None:
            dev_type = self._child_type(parent, child)
            if dev_type is None:
                raise QmpError("DeviceNotFound", f"Device '{path}' not found")
            if prop == "type":
                return dev_type
            raise QmpError("GenericError", f"Property '{dev_type}.{prop}' not found")
        if prop == "type":
            return nic.get("type")
        value = nic.get(prop)
        if isinstance(value, Mapping):
            return _ok_or_raise(value)
        raise QmpError("GenericError", f"Property '{nic.get('type')}.{prop}' not found")

    def _child_type(self, parent: str, child: str) -> str | None:
        """The QOM type of a captured non-NIC child (``child<qemu-xhci>`` -> ``qemu-xhci``)."""
        container = self._qom.get(parent)
        listing = container.get("list") if isinstance(container, Mapping) else None
        if not isinstance(listing, Mapping) or not listing.get("ok", True):
            return None
        for prop in listing.get("result") or ():
            ptype = str(prop.get("type", ""))
            if prop.get("name") == child and ptype.startswith("child<"):
                return ptype[len("child<") : -1]
        return None

    def _nic(self, parent: str, child: str) -> Mapping[str, Any] | None:
        container = self._qom.get(parent)
        if not isinstance(container, Mapping):
            return None
        nics = container.get("nics") or {}
        nic = nics.get(child)
        return nic if isinstance(nic, Mapping) else None

    def _rx_filter(self, args: Mapping[str, Any]) -> Any:
        recorded = self.capture.get("rx_filter") or {"ok": True, "result": []}
        result = _ok_or_raise(recorded)
        name = args.get("name")
        if name is None:
            return result
        chosen = [f for f in result if isinstance(f, Mapping) and f.get("name") == name]
        if not chosen:
            raise QmpError("GenericError", f"net client({name}) isn't a NIC")
        return chosen


def _path_arg(args: Mapping[str, Any]) -> str:
    path = args.get("path")
    if not isinstance(path, str):
        raise QmpError("GenericError", "Parameter 'path' is missing")
    return path.rstrip("/") or "/"


def _ok_or_raise(recorded: Mapping[str, Any]) -> Any:
    """A captured ``{ok, result}`` / ``{ok: false, error}`` answer, replayed."""
    if recorded.get("ok", True):
        return recorded.get("result")
    error = recorded.get("error")
    if isinstance(error, Mapping):
        raise QmpError(str(error.get("class", "GenericError")), str(error.get("desc", error)))
    raise QmpError("GenericError", str(error))


def _error(cls: str, desc: str) -> dict[str, Any]:
    return {"error": {"class": cls, "desc": desc}}


_HANDLERS: dict[str, Any] = {
    "human-monitor-command": ReplayServer._hmp,
    "query-version": ReplayServer._version,
    "query-name": ReplayServer._name,
    "query-status": ReplayServer._status,
    "query-commands": ReplayServer._commands,
    "qom-list": ReplayServer._qom_list,
    "qom-get": ReplayServer._qom_get,
    "query-rx-filter": ReplayServer._rx_filter,
}


class ReplayFleet:
    """Replay servers run by an event loop in a background thread, for sync tests and benchmarks.

    ``with ReplayFleet(captures, directory) as fleet:`` serves capture *i* on
    ``directory/<name>.qmp``; ``names`` (default ``vm0``, ``vm1`` ...) also become the VMs'
    ``-name``, unless ``keep_names`` is set. ``fleet.sockets`` lists the socket paths.
    """

    def __init__(
        self,
        captures: Sequence[Capture | Path | str],
        directory: Path | str,
        *,
        names: Sequence[str] | None = None,
        keep_names: bool = False,
        events: Iterable[ScriptedEvent] = (),
        play_steps: bool = False,
        max_clients: int | None = 1,
    ) -> None:
        names = list(names) if names is not None else [f"vm{i}" for i in range(len(captures))]
        if len(names) != len(captures):
            raise UsageError(f"ReplayFleet: {len(captures)} captures but {len(names)} names")
        loaded = [load_capture(c) for c in captures]  # fail here, in the caller's thread
        directory = Path(directory)
        events = tuple(events)
        self.servers = [
            ReplayServer(
                cap,
                directory / f"{name}.qmp",
                vm_name=None if keep_names else name,
                events=events,
                play_steps=play_steps,
                max_clients=max_clients,
            )
            for cap, name in zip(loaded, names, strict=True)
        ]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def sockets(self) -> list[Path]:
        return [s.socket_path for s in self.servers]

    def __enter__(self) -> ReplayFleet:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout: float = 30.0) -> None:
        self._thread = threading.Thread(target=self._run, name="replay-fleet", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("replay fleet did not start")
        if self._error is not None:
            self._thread.join()
            raise self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None:
            with contextlib.suppress(RuntimeError):  # loop already gone
                self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join()
        self._loop = None

    def emit(self, index: int, event: str, data: Mapping[str, Any] | None = None) -> int:
        """Send an event now from server ``index`` to its clients (thread-safe)."""
        if self._loop is None:
            raise RuntimeError("replay fleet is not running")
        future = asyncio.run_coroutine_threadsafe(self.servers[index].emit(event, data), self._loop)
        return future.result(timeout=10)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        started: list[ReplayServer] = []
        try:
            for server in self.servers:
                await server.start()
                started.append(server)
        except BaseException as exc:  # handed to the starting thread, which re-raises it
            self._error = exc
        self._ready.set()
        try:
            if self._error is None:
                await self._stop.wait()
        finally:
            for server in started:
                await server.stop()


@contextlib.contextmanager
def replay_fleet(
    captures: Sequence[Capture | Path | str], directory: Path | str, **kwargs: Any
) -> Iterator[list[Path]]:
    """``with replay_fleet(captures, dir) as sockets:`` - a ReplayFleet yielding its sockets."""
    with ReplayFleet(captures, directory, **kwargs) as fleet:
        yield fleet.sockets


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qnetinspect.qmp.replay",
        description="Serve a captured QEMU's QMP answers on a unix socket until Ctrl-C.",
    )
    parser.add_argument("capture", type=Path, help="capture JSON (fixtures/captures/...)")
    parser.add_argument("socket", type=Path, help="unix socket path to listen on")
    parser.add_argument("--name", help="VM name for query-name (default: -name of the argv)")
    parser.add_argument(
        "--play-steps",
        action="store_true",
        help="hot-plug captures: start before the recorded steps and play them as they come",
    )
    parser.add_argument(
        "--max-clients",
        type=int,
        default=1,
        metavar="N",
        help="clients served at once (default 1, like QEMU; 0: no limit)",
    )
    args = parser.parse_args(argv)
    try:
        capture = load_capture(args.capture)
    except UsageError as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 2

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, stop.set)
        async with ReplayServer(
            capture, args.socket, vm_name=args.name, play_steps=args.play_steps,
            max_clients=args.max_clients or None,
        ):
            print(f"replay: serving {args.capture} on {args.socket}", file=sys.stderr)
            await stop.wait()

    try:
        asyncio.run(serve())
    except OSError as exc:
        print(f"replay: {args.socket}: cannot listen: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
