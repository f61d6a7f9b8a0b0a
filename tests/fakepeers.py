"""Scripted fake QMP peers, only for faults a real QEMU cannot produce on demand.

Each peer listens on a unix socket in a thread (so it also serves a ``qnetinspect`` subprocess)
and plays one script per connection:

- ``garbage``: sends text that is not QMP, then waits;
- ``silent``: accepts and never sends anything (a monitor that never greets);
- ``cut``: greets, negotiates, then answers the first command with half a reply and closes;
- ``fail``: greets, negotiates, then rejects every command (QEMU's CommandNotFound error);
- ``mute``: greets, negotiates, then never answers (a QEMU that hung after the greeting);
- ``flood``: answers ``info network`` with 10^5 lines (over the reply limit), the rest fails;
- ``long``: answers ``info network`` with a leak and 15,000 more lines (under the limit);
- ``big``: answers ``info network`` with 12,000 lines (over the listing limit, not the reply's);
- ``badjson``: answers the first command with a line that is not JSON;
- ``hostile``: a leak whose VM name and texts hold a lone surrogate, an OSC sequence, markup
  and perfdata; every other command fails with such an error text;
- ``markup``: rejects every command with an error text made of Textual markup and an escape.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

Script = Literal["garbage", "silent", "cut", "fail", "mute", "flood", "long", "big",
                 "badjson", "hostile", "markup"]
MARKUP_ERROR = "[/oops] [b]bold \x1b]0;pwned\x07 \udcff"
HOSTILE_NAME = "vm\udcff [/oops] \x1b]0;pwned\x07 | 'critical'=0;;;0"
LEAK = ("hub 0\r\n \\ hub0port1: #net1: index=0,type=user,net=10.0.2.0,restrict=off\r\n"
        " \\ hub0port0: #net0: index=0,type=tap,ifname=tap0,script=no,downscript=no\r\n")

GREETING = {
    "QMP": {
        "version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "fake"},
        "capabilities": ["oob"],
    }
}


class FakePeer:
    """A unix-socket server playing ``script`` to every client; stop() closes everything."""

    def __init__(self, path: Path, script: Script) -> None:
        self.path = path
        self.script = script
        self.connections = 0
        self.active = 0  # silent: clients connected now
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(16)
        self._stop = threading.Event()
        self._clients: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        self._server.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._clients.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            if self.script == "garbage":
                conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
                self._stop.wait()
            elif self.script == "silent":
                self._hold_silently(conn)
            else:
                self._serve_qmp(conn)

    def _hold_silently(self, conn: socket.socket) -> None:
        """Read and drop until the client goes away; counts clients connected now."""
        with self._lock:
            self.active += 1
        try:
            conn.settimeout(0.05)
            while not self._stop.is_set():
                try:
                    if not conn.recv(4096):
                        return
                except TimeoutError:
                    continue
        finally:
            with self._lock:
                self.active -= 1

    def _serve_qmp(self, conn: socket.socket) -> None:
        conn.sendall(json.dumps(GREETING).encode() + b"\r\n")
        for msg in _messages(conn):
            reply_id = {"id": msg["id"]} if "id" in msg else {}
            if msg.get("execute") == "qmp_capabilities":
                conn.sendall(json.dumps({"return": {}, **reply_id}).encode() + b"\r\n")
            elif self.script == "mute" or self._special(conn, msg, reply_id):
                continue
            elif self.script == "badjson":
                conn.sendall(b'{"return": "hub 0\\r\\n", oops}\r\n')
                continue
            elif self.script == "cut":
                full = json.dumps({"return": "hub 0\r\n \\ hub0port0: e1000.0: ", **reply_id})
                conn.sendall(full[: len(full) // 2].encode())
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()
                return
            else:
                desc = (MARKUP_ERROR if self.script == "markup"
                        else f"The command {msg.get('execute')} has not been found")
                error = {"class": "CommandNotFound", "desc": desc}
                conn.sendall(json.dumps({"error": error, **reply_id}).encode() + b"\r\n")

    def _special(self, conn: socket.socket, msg: dict[str, object],
                 reply_id: dict[str, object]) -> bool:
        """Answer the commands these scripts change; False for the default (an error)."""
        if self.script not in ("flood", "long", "big", "hostile"):
            return False
        args = msg.get("arguments")
        line = args.get("command-line") if isinstance(args, dict) else None
        if line == "info network":
            if self.script in ("flood", "big"):
                lines = 100_000 if self.script == "flood" else 12_000
                text = LEAK + "".join(f" \\ p{i}: x{i}: index=0,type=tap,ifname=t{i}\r\n"
                                      for i in range(lines))
            elif self.script == "long":
                text = LEAK + "".join(f"junk line {i}\r\n" for i in range(15_000))
            else:
                text = LEAK.replace("#net0", "#net0\udcff\x1b]0;x\x07")
            reply: dict[str, object] = {"return": text}
        elif self.script == "hostile" and msg.get("execute") == "query-name":
            reply = {"return": {"name": HOSTILE_NAME}}
        elif self.script == "hostile":
            reply = {"error": {"class": "GenericError", "desc": "[/oops] \udcff\x1b[2J"}}
        else:
            return False
        conn.sendall(json.dumps({**reply, **reply_id}).encode() + b"\r\n")
        return True

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._server.close()
        with self._lock:
            for c in self._clients:
                with contextlib.suppress(OSError):
                    c.close()
        self._thread.join(2)


def _messages(conn: socket.socket) -> Iterator[dict[str, object]]:
    """JSON objects as they arrive: QMP clients need not end a message with a newline."""
    decoder = json.JSONDecoder()
    buf = ""
    while True:
        data = conn.recv(65536)
        if not data:
            return
        buf += data.decode()
        while True:
            buf = buf.lstrip()
            if not buf:
                break
            try:
                msg, end = decoder.raw_decode(buf)
            except ValueError:
                break  # incomplete: wait for more
            buf = buf[end:]
            yield msg


@contextlib.contextmanager
def fake_peer(path: Path, script: Script) -> Iterator[FakePeer]:
    peer = FakePeer(path, script)
    try:
        yield peer
    finally:
        peer.stop()


@contextlib.contextmanager
def dead_socket(path: Path) -> Iterator[Path]:
    """A unix socket file nobody listens on (a stale socket left by a dead QEMU)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()  # bound, never listened: connect() is refused
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
