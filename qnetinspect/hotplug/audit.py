"""The audit log: one JSON line per change sent to a VM, in
``$XDG_STATE_HOME/qnetinspect/audit.jsonl`` (default ``~/.local/state/qnetinspect/audit.jsonl``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def audit_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "qnetinspect" / "audit.jsonl"


def record(
    *,
    target: str,
    action: str,
    commands: Sequence[dict[str, Any]],
    result: str,
    error: str | None = None,
    rollback: Sequence[dict[str, Any]] = (),
    step: dict[str, Any] | None = None,
) -> None:
    """Append one entry. A log that cannot be written is reported on stderr, never fatal:
    the change already happened and must still be reported to the user.

    ``result`` is ``intent`` (before anything is sent), then for each ``step`` (a command)
    ``sending`` before it and ``sent``/``broken`` after it, then the plan's outcome (``ok``,
    ``failed``, ``broken``, ``timeout`` ...).
    """
    entry: dict[str, Any] = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "target": target,
        "action": action,
        "commands": list(commands),
        "result": result,
        "error": error,
        "rollback": list(rollback),
    }
    if step is not None:
        entry["step"] = step
    path = audit_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # one write() of one line with O_APPEND: concurrent writers do not interleave lines
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, separators=(",", ":")) + "\n")
    except OSError as exc:
        log.warning("cannot write audit log %s: %s", path, exc)
