"""The ``qnetinspect`` command group: one module per subcommand.

Each subcommand module defines ``register(subparsers)``, which adds its parser and sets
``func`` to a ``run(args) -> int``. Modules import their heavy dependencies (textual, qemu.qmp)
inside ``run`` so that ``check`` from cron stays light.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from qnetinspect.cli import exit_codes
from qnetinspect.errors import QNetInspectError

#: subcommand name -> module under qnetinspect.cli
COMMANDS: dict[str, str] = {
    "tui": "tui",
    "show": "show",
    "check": "check",
    "parse": "parse",
    "discover": "discover",
    "add": "hotplug_add",
    "remove": "hotplug_remove",
    "link": "hotplug_link",
    "lint": "lint",
    "migrate": "migrate",
    "demo": "demo",
}


class _Parser(argparse.ArgumentParser):
    """argparse that exits with our usage code and a one-line message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        # a subcommand may set usage_exit_code (check: 3, UNKNOWN, as monitoring plugins do)
        code = getattr(self, "usage_exit_code", exit_codes.USAGE)
        hint = getattr(self, "usage_hint", "")
        if hint and message.startswith("unrecognized arguments"):
            message = f"{message} ({hint})"
        self.exit(code, f"{self.prog}: error: {message}\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command group, or with ``only`` just that subcommand's parser: building all
    eleven cost ``check`` 35 ms per run (argparse formats help texts eagerly)."""
    parser = _Parser(
        prog="qnetinspect",
        description="See, check and fix the networks of running QEMU VMs.",
    )
    parser.add_argument("--version", action=_LazyVersion, nargs=0,
                        help="show program's version number and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    modules = [COMMANDS[only]] if only in COMMANDS else list(COMMANDS.values())
    for module_name in modules:
        try:
            module = importlib.import_module(f"qnetinspect.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"qnetinspect.cli.{module_name}":
                raise
            continue
        module.register(sub)
    return parser


class _LazyVersion(argparse.Action):
    """--version, reading package metadata only when asked (importlib.metadata costs ~40 ms
    on every run, which `check` from cron should not pay)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        # the answer to --version is the output asked for: stdout, like --help
        sys.stdout.write(_version() + "\n")
        parser.exit(0)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"qnetinspect {version('qnetinspect')}"
    except PackageNotFoundError:
        return "qnetinspect (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # bare `qnetinspect [TARGET...]` is the TUI
    if not args_list or (args_list[0] not in COMMANDS and not args_list[0].startswith("-")):
        args_list.insert(0, "tui")
    parser = build_parser(args_list[0])
    if args_list[0] in ("lint", "migrate") and "--" not in args_list:
        parser.usage_hint = (  # type: ignore[attr-defined]
            f"QEMU's options go after --: qnetinspect {args_list[0]} -- -net nic -net user"
        )
    if args_list[0] == "check":  # e.g. an unknown option of check is still UNKNOWN (3)
        parser.usage_exit_code = exit_codes.NAGIOS_UNKNOWN  # type: ignore[attr-defined]
    args = parser.parse_args(args_list)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return exit_codes.USAGE
    try:
        code: int = func(args)
    except KeyboardInterrupt:
        print("qnetinspect: interrupted", file=sys.stderr)
        return exit_codes.INTERRUPTED
    except QNetInspectError as exc:
        print(f"qnetinspect: {exc}", file=sys.stderr)
        return getattr(args, "error_exit_code", exit_codes.USAGE)
    except BrokenPipeError:
        return exit_codes.OK
    return code
