"""The ``qnetinspect`` command group: one module per subcommand.

Each subcommand module defines ``register(subparsers)``, which adds its parser and sets
``func`` to a ``run(args) -> int``. Modules import their heavy dependencies (textual, qemu.qmp)
inside ``run`` so that ``check`` from cron stays light.
"""

from __future__ import annotations

import argparse
import contextlib
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


#: options of `tui` that may start a bare `qnetinspect ...` command line
_TUI_OPTIONS = ("--hold", "--allow-changes", "--interval", "--config")
#: how a target starts when it is not a plain path (see qnetinspect.targets)
TARGET_PREFIXES = ("unix:", "tcp:", "file:", "libvirt:")


def is_target_form(word: str) -> bool:
    """Whether ``word`` reads as a target: a path that exists, ``unix:``, ``tcp:``, ``file:``,
    ``libvirt:``, a glob (``*?[``), ``auto`` or ``-``."""
    import os

    return (
        word in ("auto", "-")
        or word.startswith(TARGET_PREFIXES)
        or any(c in word for c in "*?[")
        or os.path.exists(word)
    )


def _not_a_command(word: str) -> str:
    """The one-line usage error for a first word that is neither a command nor a target
    (``!r`` escapes control characters, so a crafted word cannot drive the terminal)."""
    import difflib

    close = difflib.get_close_matches(word, COMMANDS, n=1, cutoff=0.6)
    hint = f"did you mean `qnetinspect {close[0]}`? " if close else ""
    return (
        f"qnetinspect: error: {word!r} is neither a command nor a target (no such "
        f"file): {hint}commands: {', '.join(COMMANDS)}; targets: a socket path, unix:PATH, "
        "tcp:HOST:PORT, file:PATH, libvirt:DOMAIN, a glob, auto or -"
    )


def _tolerant_streams() -> None:
    """Output never raises on text it cannot encode (a VM name with an undecodable byte, under
    the C locale cron uses): such characters are written as backslash escapes instead."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            # a closed or detached stream: nothing to protect
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="backslashreplace")


def _split_debug(args: list[str]) -> tuple[list[str], bool]:
    """``--debug`` anywhere before ``--`` (QEMU's options after it are not ours)."""
    end = args.index("--") if "--" in args else len(args)
    debug = "--debug" in args[:end]
    if debug:
        args = [a for a in args[:end] if a != "--debug"] + args[end:]
    return args, debug


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; an unexpected exception (a bug) becomes one line on stderr and
    exit 3 for ``check`` (UNKNOWN), 70 (EX_SOFTWARE) otherwise; ``--debug`` shows its traceback.
    """
    _tolerant_streams()
    args_list, debug = _split_debug(list(sys.argv[1:] if argv is None else argv))
    command = next((a for a in args_list if not a.startswith("-")), "")
    try:
        return _main(args_list)
    except Exception as exc:  # the top-level guard: never a bare traceback from cron
        if debug:
            import traceback

            traceback.print_exc()
        from qnetinspect.report.escape import terminal

        where = ""
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        if tb is not None:
            where = f" at {tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
        print(f"qnetinspect: internal error: {type(exc).__name__}: "
              f"{terminal(' '.join(str(exc).split()))}{where} (run with --debug for the "
              "traceback)", file=sys.stderr)
        check = command == "check"
        return exit_codes.NAGIOS_UNKNOWN if check else exit_codes.INTERNAL


def _main(args_list: list[str]) -> int:
    # bare `qnetinspect [TARGET...]` is the TUI (its options too: `qnetinspect --hold SOCK`);
    # a typo (`chek`) must not open a TUI on it
    if args_list and args_list[0] in _TUI_OPTIONS:
        args_list.insert(0, "tui")
    if not args_list or (args_list[0] not in COMMANDS and not args_list[0].startswith("-")):
        if args_list and not is_target_form(args_list[0]):
            print(_not_a_command(args_list[0]), file=sys.stderr)
            return exit_codes.USAGE
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
        from qnetinspect.report.escape import terminal

        print(f"qnetinspect: {terminal(str(exc))}", file=sys.stderr)
        return getattr(args, "error_exit_code", exit_codes.USAGE)
    except BrokenPipeError:
        return exit_codes.OK
    return code
