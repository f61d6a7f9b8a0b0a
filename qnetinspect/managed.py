"""VMs that belong to a management stack (libvirt, Proxmox, Incus): hot-plug keeps its hands off.

A NIC hot-added behind libvirt's back is unknown to it (``virsh domiflist``), takes a PCI slot
libvirt then tries to give its next ``attach-interface``, and is lost at the next restart;
``link`` or ``remove`` on libvirt's own NIC changes what libvirt thinks it manages. So ``add``,
``remove`` and ``link`` refuse such a VM without ``--force`` and print the manager's own way.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING

from qnetinspect.errors import HotplugError

if TYPE_CHECKING:
    from qnetinspect.models import Snapshot

#: libvirt ``<interface type=...>`` for a QEMU netdev type, where one maps plainly
_LIBVIRT_TYPES = {"user": "user", "bridge": "bridge", "tap": "ethernet", "vhost-user":
                  "vhostuser", "socket": "server", "stream": "server", "dgram": "udp"}
_PROXMOX_SOCKET = re.compile(r"/qemu-server/(\d+)\.qmp$")


def manager_of_vm(argv: Sequence[str], target: str) -> str | None:
    """libvirt / proxmox / incus / lxd / ganeti from the command line or the socket's directory."""
    from qnetinspect.discovery import CONVENTIONAL_GLOBS, manager_of

    if target.startswith("libvirt:"):
        return "libvirt"
    found = manager_of(argv)
    if found is not None:
        return found
    import fnmatch

    path = os.path.abspath(target.removeprefix("unix:"))
    for pattern, label in CONVENTIONAL_GLOBS:
        if fnmatch.fnmatch(path, pattern):
            return label
    return None


def managers_way(manager: str, action: str, vm: str, *, backend: str = "", device: str = "",
                 mac: str = "", state: str = "") -> str:
    """The management stack's own command for ``action`` (add / remove / link)."""
    q = shlex.quote
    if manager == "libvirt":
        if action == "add":
            kind = _LIBVIRT_TYPES.get(backend, "network")
            # virsh attach-interface knows only libvirt networks and bridges; every other kind
            # is an <interface> element for attach-device
            if kind in ("network", "bridge"):
                source = "default" if kind == "network" else "BRIDGE"
                return (f"virsh attach-interface {q(vm)} {kind} {source} --model virtio "
                        "--live --config")
            source = {"server": "<source address='127.0.0.1' port='PORT'/>",
                      "udp": "<source address='HOST' port='PORT'/>",
                      "vhostuser": "<source type='unix' path='PATH' mode='client'/>"}.get(kind, "")
            # libvirt 9 cannot hot-plug socket interfaces: they take effect at the next start
            when = "--config" if kind in ("server", "udp") else "--live --config"
            return (f"virsh attach-device {q(vm)} nic.xml {when} with nic.xml: "
                    f"<interface type='{kind}'>{source}<model type='virtio'/></interface>")
        if action == "remove":
            who = f"--mac {q(mac)}" if mac else "--mac MAC"
            return (f"virsh detach-interface {q(vm)} TYPE {who} --live --config "
                    f"(TYPE: the Type column of virsh domiflist {q(vm)})")
        iface = q(mac or device or "IFACE")
        return f"virsh domif-setlink {q(vm)} {iface} {state or 'up|down'}"
    if manager == "proxmox":
        vmid = vm
        if action == "add":
            return f"qm set {q(vmid)} --netN virtio,bridge=vmbr0 (N: the next free index)"
        if action == "remove":
            return f"qm set {q(vmid)} --delete netN (netN: this NIC in qm config {q(vmid)})"
        down = "1" if state == "down" else "0"
        return f"qm set {q(vmid)} --netN <its current settings>,link_down={down}"
    if manager in {"incus", "lxd"}:
        tool = manager
        if action == "add":
            return f"{tool} config device add {q(vm)} eth1 nic network=NETWORK"
        if action == "remove":
            return f"{tool} config device remove {q(vm)} DEVICE"
        return f"{tool} config device set {q(vm)} DEVICE ... (or inside the guest: ip link set)"
    return f"the {manager} tools"


def vm_label(manager: str, name: str | None, target: str) -> str:
    """The name the manager knows the VM by (Proxmox: its VMID, from the socket path)."""
    if manager == "proxmox":
        m = _PROXMOX_SOCKET.search(target)
        if m:
            return m.group(1)
    if target.startswith("libvirt:"):
        return target[len("libvirt:") :].split("@", 1)[0]
    return name or "VM"


def refuse_unless_forced(
    manager: str | None, action: str, vm: str, *, force: bool, **way: str
) -> str | None:
    """Raise HotplugError naming the manager's way when ``manager`` is set and not ``force``;
    with ``force``, return a warning line to print (None for an unmanaged VM)."""
    if manager is None:
        return None
    how = managers_way(manager, action, vm, **way)
    if not force:
        raise HotplugError(
            f"refusing to {action} on {vm}: it is managed by {manager}, which would not know of "
            f"the change (lost at restart, conflicting with its own devices). Use {manager}'s "
            f"way: {how} -- or pass --force to change it behind {manager}'s back"
        )
    return f"warning: {vm} is managed by {manager}; changing it behind its back (--force). " \
           f"{manager}'s way: {how}"


def refuse_libvirt_target(spec: str, action: str, **way: str) -> None:
    """``add libvirt:DOM ...``: there is no monitor of ours to change it through."""
    if spec.startswith("libvirt:"):
        vm = vm_label("libvirt", None, spec)
        raise HotplugError(
            f"refusing to {action} on {spec}: libvirt domains are changed through libvirt: "
            f"{managers_way('libvirt', action, vm, **way)}"
        )


def guard_hotplug(spec: str, snapshot: Snapshot, action: str, *, force: bool,
                  device: str = "", **way: str) -> None:
    """The guard of add/remove/link after reading the VM: refuse a managed VM unless forced
    (then warn on stderr). ``device`` names the NIC whose MAC the manager's way needs."""
    import sys

    manager = manager_of_vm(snapshot.argv, spec)
    if manager is None:
        return
    mac = ""
    if device and snapshot.topology is not None:
        for client in snapshot.topology.iter_clients():
            if client.name == device and client.mac:
                mac = client.mac
    vm = vm_label(manager, snapshot.vm.name, spec)
    warning = refuse_unless_forced(manager, action, vm, force=force, device=device, mac=mac,
                                   **way)
    if warning:
        print(warning, file=sys.stderr, flush=True)
