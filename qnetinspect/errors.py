"""The exceptions qnetinspect raises. One root, so callers can catch everything of ours at once::

    QNetInspectError
     ├── UsageError           bad option, target spec, config value (CLI exit 2 / check exit 3)
     │    └── ConfigError     unreadable or invalid TOML config
     ├── InputError           unreadable input file or stdin (names the input)
     ├── TargetError          one target could not be inspected; ``kind`` is one of ERROR_KINDS
     │    └── CommandFailed   QEMU answered a command with an error (kind "command-failed")
     └── HotplugError         a planned change was refused or failed (after rollback)

Errors carry attributes (target, kind, cause), not only a message.
"""

from __future__ import annotations

import re

ERROR_KINDS = (
    "not-found",
    "permission-denied",
    "refused",
    "timeout",
    "no-greeting",
    "busy",
    "not-qmp",
    "disconnected",
    "command-failed",
    "too-large",  # a reply over the size limit (a peer flooding us)
    "internal",  # a bug of ours met this target; the other targets are still reported
    "unreadable",  # text (or a reply) from which no network client could be read
    "no-monitor",  # a running QEMU with no monitor we may use (libvirt's own, a client socket)
)


class QNetInspectError(Exception):
    """Root of every qnetinspect exception."""


class UsageError(QNetInspectError):
    """The user asked for something malformed (option, target, value)."""


class ConfigError(UsageError):
    """The config file cannot be read or holds an invalid value."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class InputError(QNetInspectError):
    """An input (file, stdin) cannot be read."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source


class TargetError(QNetInspectError):
    """A target (QMP socket, file) could not be inspected."""

    def __init__(self, target: str, kind: str, message: str) -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown error kind {kind!r}")
        # the message often quotes a peer, whose lone surrogates ("\udcff" is valid JSON)
        # would make every later encode raise: U+FFFD for them, here, once
        if not message.isascii():
            message = re.sub("[\ud800-\udfff]", "\ufffd", message)
        super().__init__(f"{target}: {kind}: {message}")
        self.target = target
        self.kind = kind
        self.message = message


class CommandFailed(TargetError):
    """QEMU rejected a QMP command; ``error_class`` is QEMU's class (GenericError ...)."""

    def __init__(self, target: str, command: str, error_class: str, message: str) -> None:
        super().__init__(target, "command-failed", f"{command}: {message}")
        self.command = command
        self.error_class = error_class
        self.qemu_message = message


class HotplugError(QNetInspectError):
    """A hot-plug change was refused before sending, or failed and was rolled back."""
