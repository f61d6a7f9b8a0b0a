"""``qnetinspect migrate [--split] (--pid PID | -- QEMU_ARGV...)``: rewrite ``-net``/``-nic``.

Prints (stdout, shell-quoted) the command line with every ``-net``/``-nic`` replaced by
``-netdev``/``-device`` options that wire the same L2 segments with the same MACs; every other
argument is kept. ``--split`` instead takes apart hubs that join NAT (``user``) with external
backends, each NIC getting its own backend (the fix for ``nat-external-hub``). Each change is
explained on stderr.

Exit 0: printed (possibly unchanged); 1: QEMU would refuse the input, nothing printed; 2: usage.
"""

from __future__ import annotations

import argparse
import sys

from qnetinspect.cli import exit_codes
from qnetinspect.cli.lint import add_argv_arguments


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "migrate",
        help="rewrite legacy -net/-nic options as -netdev/-device (same segments, same MACs)",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    p.add_argument(
        "--split",
        action="store_true",
        help="separate NAT from external backends: each NIC gets its own backend",
    )
    add_argv_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from qnetinspect.cli.lint import qemu_version, read_argv
    from qnetinspect.migrate import migrate_argv

    argv, _label = read_argv(args)
    result = migrate_argv(argv, split=args.split, qemu_version=qemu_version(args, argv))
    if result.errors:
        for e in result.errors:
            print(f"qnetinspect: migrate: QEMU would refuse this: {e}", file=sys.stderr)
        return exit_codes.PROBLEMS
    for change in result.changes:
        print(f"qnetinspect: migrate: {change}", file=sys.stderr)
    if not result.changed:
        print("qnetinspect: migrate: nothing to change", file=sys.stderr)
    sys.stdout.write(result.command_line + "\n")
    return exit_codes.OK
