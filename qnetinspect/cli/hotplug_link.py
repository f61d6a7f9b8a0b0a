"""``qnetinspect link TARGET DEVICE_ID up|down``: set the link state of a NIC or netdev."""

from __future__ import annotations

import argparse

from qnetinspect.cli.hotplug_add import add_common, guarded


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "link",
        help="set a NIC's (or netdev's) link up or down",
        description="set_link on a NIC or netdev named in info network.",
    )
    p.add_argument("target", metavar="TARGET", help="QMP socket path, unix:PATH or tcp:HOST:PORT")
    p.add_argument("device_id", metavar="DEVICE_ID", help="NIC or netdev name")
    p.add_argument("state", choices=("up", "down"), help="the new link state")
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument("--force", action="store_true",
                   help="change a VM managed by libvirt/Proxmox/Incus behind its back")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return guarded(lambda: _link(args))


async def _link(args: argparse.Namespace) -> int:
    from qnetinspect.cli.hotplug_add import present_and_apply
    from qnetinspect.hotplug import live
    from qnetinspect.hotplug.plan import plan_link
    from qnetinspect.managed import guard_hotplug, refuse_libvirt_target

    refuse_libvirt_target(args.target, "link", device=args.device_id, state=args.state)
    async with live.session_for(args.target, timeout=args.timeout) as session:
        snapshot = await live.read_snapshot(session, session.target)
        guard_hotplug(args.target, snapshot, "link", force=args.force, device=args.device_id,
                      state=args.state)
        plan = plan_link(snapshot, args.device_id, args.state == "up")
        return await present_and_apply(session, plan, args)
