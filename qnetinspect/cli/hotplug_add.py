"""``qnetinspect add TARGET BACKEND ...``: hot-add a netdev (and a NIC on it), safely.

The plan (the exact QMP commands, the findings the change would create) is always printed
first; ``--dry-run`` stops there. A change that creates a critical finding is refused unless
``--force``; without ``--yes`` the user confirms on the terminal. The shared helpers of the
three hot-plug subcommands (``remove``, ``link``) live here too.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from qnetinspect.cli import exit_codes
from qnetinspect.errors import HotplugError, QNetInspectError, UsageError

if TYPE_CHECKING:
    from qnetinspect.hotplug.plan import Plan
    from qnetinspect.qmp.session import QmpSession
    from qnetinspect.targets import Target

FAILED = 1  # the change was refused or failed (after rollback)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "add",
        help="hot-add a netdev and a NIC to a running VM",
        description=(
            "Hot-add a backend (user, socket, stream, dgram, hubport, tap, bridge ...) and a NIC "
            "on it. Prints the exact QMP commands first. With --hub N a backend joins hub N; "
            "'hubport --hub N' adds a NIC to hub N."
        ),
    )
    p.add_argument("target", metavar="TARGET", help="QMP socket path, unix:PATH or tcp:HOST:PORT")
    p.add_argument("backend", metavar="BACKEND", help="netdev type: user, socket, stream, ...")
    p.add_argument("--id", help="netdev id (default: netN); the NIC gets ID-nic")
    p.add_argument("--nic-id", help="NIC device id (default: ID-nic)")
    p.add_argument(
        "--device", metavar="MODEL", help="NIC model (default virtio-net-pci; 'none': no NIC)"
    )
    p.add_argument(
        "--mac",
        help="NIC MAC (default: a free, locally administered one, the same for --dry-run)",
    )
    p.add_argument("--hub", type=int, metavar="N", help="join hub N (through a hubport)")
    p.add_argument("--bus", help="bus for the NIC (default: chosen; a free root port on q35)")
    p.add_argument(
        "-o",
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="backend option, repeatable (hostfwd=tcp:127.0.0.1:2222-:22, addr.host=...)",
    )
    p.add_argument(
        "--with",
        dest="others",
        action="append",
        default=[],
        metavar="TARGET",
        help="another VM whose MACs the new NIC must not reuse (repeatable)",
    )
    add_common(p)
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument(
        "--force",
        action="store_true",
        help="apply even if it creates a critical finding or adds to a hub that has one, "
        "or the VM is managed by libvirt/Proxmox/Incus (which then would not know of the NIC)",
    )
    p.set_defaults(func=run)


def positive_seconds(text: str) -> float:
    """--timeout/--unplug-timeout: a finite number of seconds > 0 (nan, -1, 0 are usage
    errors, as for the read commands)."""
    from qnetinspect.cli.check import _positive_float

    return _positive_float(text)


def add_common(p: argparse.ArgumentParser, *, with_timeout: bool = True) -> None:
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    if with_timeout:
        p.add_argument(
            "--timeout", type=positive_seconds, default=5.0, metavar="S",
            help="QMP timeout (default 5s)",
        )


def run(args: argparse.Namespace) -> int:
    return guarded(lambda: _add(args))


async def _add(args: argparse.Namespace) -> int:
    from qnetinspect.hotplug import live
    from qnetinspect.hotplug.plan import AddRequest, plan_add
    from qnetinspect.hotplug.schema import parse_option
    from qnetinspect.inventory import inspect_target

    request = AddRequest(
        backend=args.backend,
        id=args.id,
        device=args.device,
        nic_id=args.nic_id,
        mac=args.mac,
        hub=args.hub,
        bus=args.bus,
        options=tuple(parse_option(o) for o in args.option),
    )
    from qnetinspect.managed import guard_hotplug, refuse_libvirt_target

    refuse_libvirt_target(args.target, "add", backend=args.backend)
    others = [t for spec in args.others for t in _expand(spec)]
    other_snaps = [await inspect_target(t, timeout=args.timeout) for t in others]
    for t, s in zip(others, other_snaps, strict=True):
        if s.error is not None:
            raise UsageError(f"--with {t.spec}: cannot be read ({s.error.kind}: {s.error.message})")
    async with live.session_for(args.target, timeout=args.timeout) as session:
        snapshot = await live.read_snapshot(session, session.target)
        guard_hotplug(args.target, snapshot, "add", force=args.force, backend=args.backend)
        context = await live.read_context(session, snapshot, other_snaps)
        plan = plan_add(snapshot, request, context)
        return await present_and_apply(session, plan, args, force=args.force)


async def present_and_apply(
    session: QmpSession, plan: Plan, args: argparse.Namespace, *, force: bool = False
) -> int:
    """Print the plan; stop for --dry-run; refuse criticals; confirm; apply; report."""
    from qnetinspect.hotplug import live
    from qnetinspect.hotplug.plan import format_plan, refuse_critical
    from qnetinspect.report.escape import terminal_lines  # the plan names the VM's clients

    print(terminal_lines(format_plan(plan)), flush=True)
    if getattr(args, "dry_run", False):
        print("dry run: nothing was sent")
        return exit_codes.OK
    refuse_critical(plan, force)
    if not args.yes:
        await confirm(plan)
    timeout = getattr(args, "unplug_timeout", live.DEFAULT_UNPLUG_TIMEOUT)
    result = await live.apply_plan(session, plan, force=force, unplug_timeout=timeout)
    if result.pending:
        print(
            f"requested: QEMU has not released {plan.wait_deleted} yet (a PCI NIC is released "
            "when a running guest OS acknowledges the unplug); its netdev was kept"
        )
    else:
        print(f"done: {plan.action} applied to {plan.target}")
    return exit_codes.OK


async def confirm(plan: Plan) -> None:
    """Ask on the terminal; no terminal (and no --yes) is a refusal."""
    import anyio

    if not sys.stdin.isatty():
        raise UsageError(
            f"refusing to change {plan.target} without confirmation: stdin is not a terminal "
            "(pass --yes)"
        )

    def ask() -> str:
        sys.stderr.write(f"Apply these {len(plan.commands)} command(s) to {plan.target}? [y/N] ")
        sys.stderr.flush()
        return sys.stdin.readline()

    answer = await anyio.to_thread.run_sync(ask)
    if answer.strip().lower() not in ("y", "yes"):
        raise HotplugError("not applied: the change was not confirmed")


def _expand(spec: str) -> list[Target]:
    from qnetinspect.targets import expand_targets

    return expand_targets([spec], allow_stdin=False)


def guarded(make: Callable[[], Awaitable[int]]) -> int:
    """Run the async command; one line on stderr and the exit code for our errors."""
    import anyio

    from qnetinspect.report.escape import terminal

    try:
        return anyio.run(make)
    except UsageError as exc:
        print(f"qnetinspect: {terminal(str(exc))}", file=sys.stderr)
        return exit_codes.USAGE
    except QNetInspectError as exc:  # QEMU's error text (and a peer's) is quoted in it
        print(f"qnetinspect: {terminal(str(exc))}", file=sys.stderr)
        return FAILED
