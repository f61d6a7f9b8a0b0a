"""A local process's command line, as ``/proc/PID/cmdline`` gives it.

Apart from the argv parser so that reading it costs no import of that parser (``check`` reads
every local VM's command line, and only a few need the parser; see inventory).
"""

from __future__ import annotations


def read_proc_cmdline(data: bytes) -> list[str]:
    """``/proc/PID/cmdline`` bytes (NUL-separated, NUL-terminated) -> argv."""
    text = data.decode("utf-8", errors="surrogateescape")
    parts = text.split("\0")
    if parts and parts[-1] == "":
        parts.pop()
    return parts
