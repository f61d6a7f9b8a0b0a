"""``qnetinspect remove TARGET DEVICE_ID``: unplug a NIC, wait for QEMU to release it, then
delete its backend (unless ``--keep-netdev``)."""

from __future__ import annotations

import argparse

from qnetinspect.cli.hotplug_add import add_common, guarded, positive_seconds


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "remove",
        help="hot-unplug a NIC and delete its netdev",
        description=(
            "device_del the NIC, wait for QEMU's DEVICE_DELETED, then netdev_del its backend. "
            "A PCI NIC is released only by a running guest OS: a paused or OS-less guest never "
            "releases it. A legacy -net nic/-nic NIC (no device id) is removed by its QOM path; "
            "a -net hub port stays."
        ),
    )
    p.add_argument("target", metavar="TARGET", help="QMP socket path, unix:PATH or tcp:HOST:PORT")
    p.add_argument(
        "device_id",
        metavar="DEVICE_ID",
        help="the NIC's device id (or its info network name, e.g. e1000.0, for a legacy NIC)",
    )
    p.add_argument(
        "--keep-netdev",
        action="store_true",
        help="only request the unplug; keep the backend (and do not fail if it is not released)",
    )
    p.add_argument(
        "--timeout",
        "--unplug-timeout",
        dest="unplug_timeout",
        type=positive_seconds,
        default=5.0,
        metavar="S",
        help="how long to wait for QEMU's DEVICE_DELETED (default 5s)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument("--force", action="store_true",
                   help="change a VM managed by libvirt/Proxmox/Incus behind its back")
    add_common(p, with_timeout=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return guarded(lambda: _remove(args))


async def _remove(args: argparse.Namespace) -> int:
    from qnetinspect.cli.hotplug_add import present_and_apply
    from qnetinspect.hotplug import live
    from qnetinspect.hotplug.plan import plan_remove
    from qnetinspect.managed import guard_hotplug, refuse_libvirt_target

    refuse_libvirt_target(args.target, "remove", device=args.device_id)
    async with live.session_for(args.target) as session:
        snapshot = await live.read_snapshot(session, session.target)
        guard_hotplug(args.target, snapshot, "remove", force=args.force, device=args.device_id)
        context = await live.read_context(session, snapshot)
        plan = plan_remove(snapshot, args.device_id, keep_netdev=args.keep_netdev, context=context)
        return await present_and_apply(session, plan, args)
