"""The one safe way to write an ``--output`` file: atomic, and never through a planted link.

``check`` runs as root from cron and writes into directories others may write to (a textfile
collector's directory). The temporary file gets an unpredictable name and is created with
``O_CREAT | O_EXCL | O_NOFOLLOW`` in the target's directory (so a symlink planted under any name
is never followed), written, ``fsync``ed, made 0644, then renamed over the target: a reader
(node_exporter) sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import secrets

from qnetinspect.errors import UsageError

__all__ = ["write_atomic"]

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(
    os, "O_CLOEXEC", 0
)


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically. Raises UsageError naming ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    data = text.encode("utf-8", "backslashreplace")
    for _ in range(16):  # a name clash (or a planted file) only costs another random name
        tmp = os.path.join(directory, f".qnetinspect-{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(tmp, _FLAGS, 0o600)
        except FileExistsError:
            continue
        except OSError as exc:
            raise UsageError(f"--output {path}: cannot write: {exc.strerror or exc}") from exc
        break
    else:
        raise UsageError(f"--output {path}: cannot create a temporary file in {directory}")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise UsageError(f"--output {path}: cannot write: {exc.strerror or exc}") from exc
