"""Text from outside made valid at the edge, in one place: decoding never raises.

Bytes (stdin, files, ``/proc/PID/cmdline``) may hold anything, and a QMP peer may send a lone
surrogate (``"\\udcff"`` is valid JSON). Either would make a later ``.encode()`` or a write to a
UTF-8 stream raise. ``valid_text`` turns every lone surrogate into U+FFFD; ``decode_bytes`` reads
bytes as UTF-8 with U+FFFD for each invalid byte. Stdlib only.
"""

from __future__ import annotations

import re

__all__ = ["decode_bytes", "valid_text"]

# a str holds a surrogate only unpaired (json.loads and decoders join real pairs)
_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """``text`` with each lone surrogate (an undecodable byte or a peer's ``\\udcXX``) as U+FFFD."""
    if text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)


def decode_bytes(data: bytes) -> str:
    """UTF-8 (a leading BOM dropped) with U+FFFD for invalid bytes; never raises."""
    return data.decode("utf-8-sig", errors="replace")
