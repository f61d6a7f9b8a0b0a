"""QMP socket addresses: parsing the user's spelling into a typed address. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from qnetinspect.errors import UsageError


@dataclass(frozen=True, slots=True)
class QmpAddress:
    """Where a QMP monitor listens: a unix socket path, or a TCP host and port."""

    path: str | None = None
    host: str | None = None
    port: int | None = None

    @property
    def is_unix(self) -> bool:
        return self.path is not None

    def __str__(self) -> str:
        if self.path is not None:
            return self.path
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"tcp:{host}:{self.port}"


def parse_address(spec: str) -> QmpAddress:
    """Parse ``PATH``, ``unix:PATH`` or ``tcp:HOST:PORT`` (``tcp:[::1]:PORT`` for IPv6).

    Raises UsageError naming the spec and what was expected.
    """
    text = spec.strip()
    if not text:
        raise UsageError("empty QMP address: expected a socket path, unix:PATH or tcp:HOST:PORT")
    if text.startswith("unix:"):
        path = text[len("unix:") :].split(",", 1)[0]
        if not path:
            raise UsageError(f"{spec!r}: unix: needs a socket path")
        return QmpAddress(path=path)
    if text.startswith("tcp:"):
        rest = text[len("tcp:") :].split(",", 1)[0]
        if rest.startswith("["):
            host, sep, port_text = rest[1:].partition("]:")
        else:
            host, sep, port_text = rest.rpartition(":")
        if not sep or not host:
            raise UsageError(f"{spec!r}: expected tcp:HOST:PORT")
        try:
            port = int(port_text)
        except ValueError:
            raise UsageError(f"{spec!r}: port {port_text!r} is not a number") from None
        if not 0 < port < 65536:
            raise UsageError(f"{spec!r}: port {port} is out of range 1-65535")
        return QmpAddress(host=host, port=port)
    return QmpAddress(path=text)
