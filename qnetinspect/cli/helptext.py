"""Help text from module docstrings: argparse prints text as is, so the reST markup of a
docstring (````code````) would show as raw backticks in ``--help``."""

from __future__ import annotations

import re

_CODE = re.compile(r"``(.+?)``", re.DOTALL)


def plain(text: str) -> str:
    """``text`` without reST inline-code markup."""
    return _CODE.sub(r"\1", text)


def description(doc: str | None) -> str | None:
    """A subcommand's description: its module docstring without the synopsis line (``--help``
    prints the usage already), as plain text."""
    if not doc:
        return None
    _synopsis, _, body = doc.strip().partition("\n\n")
    summary = _synopsis.partition(": ")[2]
    text = f"{summary[:1].upper()}{summary[1:]}\n\n{body}" if summary else body
    return plain(text).strip() or None
