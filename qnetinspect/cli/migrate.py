"""``qnetinspect migrate [--split] [--keep-leak] (--pid PID | -- QEMU_ARGV...)``: rewrite -net/-nic.

Prints (stdout, shell-quoted) the command line with every ``-net``/``-nic`` replaced by
``-netdev``/``-device`` options that wire the same L2 segments with the same MACs; every other
argument is kept. ``--split`` instead takes apart hubs that join NAT (``user``) with external
backends, each NIC getting its own backend and each backend its own NIC (a new one when there
are fewer NICs than backends): the fix for ``nat-external-hub``. Each change is explained on
stderr.

Without ``--split``, a hub that joins NAT with an external backend would be written into the new
command line as it is: that is refused (exit 1, with the ``--split`` command) unless
``--keep-leak`` says to keep it. Every rewrite is linted before it is printed: one that QEMU
would refuse, that has a critical finding or a warning the input did not have is not printed.

Exit 0: printed (possibly unchanged); 1: not printed (QEMU would refuse the input, the leak
would be kept, or the rewrite is not safe; the reason is on stderr); 2: usage.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from qnetinspect.cli import exit_codes, helptext
from qnetinspect.cli.lint import add_argv_arguments


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "migrate",
        help="rewrite legacy -net/-nic options as -netdev/-device (same segments, same MACs)",
        description=helptext.description(__doc__),
    )
    p.add_argument(
        "--split",
        action="store_true",
        help="separate NAT from external backends: each NIC gets its own backend, each "
        "backend its own NIC",
    )
    p.add_argument(
        "--keep-leak",
        action="store_true",
        help="without --split: rewrite a hub that joins NAT with an external backend as it is",
    )
    add_argv_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from qnetinspect.cli.lint import qemu_version, read_argv
    from qnetinspect.fixcheck import verify_argv_fix
    from qnetinspect.migrate import migrate_argv

    argv, _label = read_argv(args)
    version = qemu_version(args, argv)
    result = migrate_argv(argv, split=args.split, qemu_version=version)
    if result.errors:
        for e in result.errors:
            print(f"qnetinspect: migrate: QEMU would refuse this: {e}", file=sys.stderr)
        return exit_codes.PROBLEMS
    if result.leaking_hubs and not args.split and not args.keep_leak:
        hubs = ", ".join(str(h) for h in result.leaking_hubs)
        print(
            f"qnetinspect: migrate: hub {hubs} joins user-mode NAT with an external backend "
            "(nat-external-hub): the rewrite would keep that leak. Take it apart with: "
            f"qnetinspect migrate --split -- {shlex.join(argv)}  (or pass --keep-leak to "
            "rewrite it as it is)",
            file=sys.stderr,
        )
        return exit_codes.PROBLEMS
    keep = {"nat-external-hub"} if args.keep_leak else set()
    verdict = verify_argv_fix(argv, result.argv, qemu_version=version, keep=keep)
    if not verdict.ok:
        for problem in verdict.problems:
            print(f"qnetinspect: migrate: the rewrite would have {problem}", file=sys.stderr)
        print(
            "qnetinspect: migrate: nothing printed: decide which network each NIC should be on "
            "(one backend per NIC) and check the result with qnetinspect lint",
            file=sys.stderr,
        )
        return exit_codes.PROBLEMS
    for change in result.changes:
        print(f"qnetinspect: migrate: {change}", file=sys.stderr)
    if not result.changed:
        print("qnetinspect: migrate: nothing to change", file=sys.stderr)
    sys.stdout.write(result.command_line + "\n")
    return exit_codes.OK
