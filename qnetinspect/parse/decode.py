"""The one decoder of saved and piped ``info network`` text (``parse FILE|-``, ``show|check -``,
``file:``): bytes -> str, the same way for every command, never raising.

- a UTF-8 byte order mark (Windows editors) is dropped;
- invalid UTF-8 becomes U+FFFD (the line holding it is then reported, not the whole text lost);
- CRLF (HMP over QMP, Windows) and a lone CR (old Mac editors, some terminals' logs) end lines
  like LF, so line numbers match an editor's. A CR-only text would otherwise be one long line.
"""

from __future__ import annotations

__all__ = ["decode_text", "normalize_newlines"]

_BOM = "\ufeff"


def normalize_newlines(text: str) -> str:
    """CRLF and lone CR -> LF; a leading BOM (already decoded) is dropped."""
    if text.startswith(_BOM):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def decode_text(data: bytes) -> str:
    """Bytes of a file or stdin as text; never raises (see the module docstring)."""
    return normalize_newlines(data.decode("utf-8", errors="replace"))
