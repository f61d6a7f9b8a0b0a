"""Text from outside made valid at the edge, in one place: decoding never raises.

Bytes (stdin, files) are decoded by ``parse/decode.py`` (U+FFFD for each invalid byte); a QMP
peer may still send a lone surrogate (``"\\udcff"`` is valid JSON), and ``/proc/PID/cmdline``
is read with surrogateescape. Either would make a later ``.encode()`` or a write to a UTF-8
stream raise: ``valid_text`` turns every lone surrogate into U+FFFD. Stdlib only.
"""

from __future__ import annotations

import re

__all__ = ["valid_text"]

# a str holds a surrogate only unpaired (json.loads and decoders join real pairs)
_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """``text`` with each lone surrogate (an undecodable byte or a peer's ``\\udcXX``) as U+FFFD."""
    if text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)

