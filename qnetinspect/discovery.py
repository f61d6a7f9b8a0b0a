"""Find the QMP sockets of running QEMUs: their command lines, then conventional directories.

Reads ``/proc/*/cmdline`` of QEMU processes for ``-qmp``/``-qmp-pretty`` sockets and for
``-chardev socket,id=X,...,server=on`` used by ``-mon chardev=X,mode=control``; then globs the
socket directories that management stacks use (Proxmox, Incus, LXD, Ganeti). No I/O beyond
reading /proc and stat-ing paths; nothing here connects to a socket.

libvirt's own monitor socket is never offered as a target: libvirtd holds that connection for
the VM's whole life, so a second client would only hang. It is reported as skipped, with a hint;
``auto`` reads such VMs through libvirt's API instead (``targets``).
"""

from __future__ import annotations

import glob
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from qnetinspect.qmp.address import QmpAddress

#: (glob, source label) of sockets that management stacks create for QEMU.
CONVENTIONAL_GLOBS: tuple[tuple[str, str], ...] = (
    ("/var/run/qemu-server/*.qmp", "proxmox"),
    ("/run/qemu-server/*.qmp", "proxmox"),
    ("/run/incus/*/qemu.monitor", "incus"),
    ("/var/lib/incus/logs/*/qemu.monitor", "incus"),
    ("/var/snap/lxd/common/lxd/logs/*/qemu.monitor", "lxd"),
    ("/var/lib/lxd/logs/*/qemu.monitor", "lxd"),
    ("/var/run/ganeti/kvm-hypervisor/ctrl/*.qmp", "ganeti"),
    ("/run/ganeti/kvm-hypervisor/ctrl/*.qmp", "ganeti"),
)

_LIBVIRT_MONITOR = re.compile(r"/(var/)?(lib|run)/libvirt/qemu/.*(monitor\.sock|\.monitor)$")
LIBVIRT_HINT = (
    "libvirt holds this monitor: read the domain through libvirt with "
    "qnetinspect show libvirt:DOMAIN (the [libvirt] extra; `auto` does it when libvirt answers), "
    "or add a second QMP socket to the domain "
    "(<qemu:commandline> -qmp unix:PATH,server=on,wait=off), or run "
    "virsh qemu-monitor-command DOMAIN --hmp 'info network' | qnetinspect show -"
)

NO_MONITOR_HINT = (
    "start it with -qmp unix:PATH,server=on,wait=off to read it live; meanwhile "
    "qnetinspect lint --pid PID predicts its network from its command line"
)


def libvirt_hint(name: str | None) -> str:
    """LIBVIRT_HINT naming the domain (shell-quoted) when its name is known."""
    import shlex

    return LIBVIRT_HINT.replace("DOMAIN", shlex.quote(name)) if name else LIBVIRT_HINT


@dataclass(frozen=True, slots=True)
class DiscoveredVm:
    """A QMP socket of a running QEMU. ``source`` is the option text (or directory) it came from."""

    pid: int | None
    name: str | None
    address: QmpAddress
    source: str
    #: the management stack that owns this VM (libvirt, proxmox, incus, lxd), else None
    manager: str | None = None


@dataclass(frozen=True, slots=True)
class SkippedVm:
    """A QEMU monitor found but not offered as a target, and why (``hint`` says what to do)."""

    pid: int | None
    name: str | None
    source: str
    reason: str
    hint: str = ""
    manager: str | None = None


@dataclass(frozen=True, slots=True)
class Discovery:
    found: tuple[DiscoveredVm, ...] = ()
    skipped: tuple[SkippedVm, ...] = field(default=())


def discover(
    *, proc_root: str = "/proc", globs: Sequence[tuple[str, str]] = CONVENTIONAL_GLOBS
) -> list[DiscoveredVm]:
    """QMP sockets of running QEMUs (libvirt-held monitors left out; see ``scan``)."""
    return list(scan(proc_root=proc_root, globs=globs).found)


def scan(
    *, proc_root: str = "/proc", globs: Sequence[tuple[str, str]] = CONVENTIONAL_GLOBS
) -> Discovery:
    """Found sockets and skipped monitors, from /proc then from conventional directories."""
    found: list[DiscoveredVm] = []
    skipped: list[SkippedVm] = []
    seen: set[str] = set()
    for pid, argv, cwd in _qemu_processes(proc_root):
        name = vm_name(argv)
        manager = manager_of(argv)
        monitors = monitors_of(argv, cwd=cwd)
        if not monitors and not any(a.lstrip("-") == "readconfig" for a in argv):
            # (-readconfig files may define the monitor: Incus does; its socket is globbed)
            skipped.append(SkippedVm(pid, name, "its command line", "no QMP monitor",
                                     NO_MONITOR_HINT.replace("PID", str(pid)), manager))
        for address, source, reason in monitors:
            if reason is None and address is not None:
                key = _key(address)
                if key in seen:
                    continue
                seen.add(key)
                if address.path is not None and _LIBVIRT_MONITOR.search(address.path):
                    skipped.append(SkippedVm(pid, name, source, "libvirt monitor",
                                             libvirt_hint(name), "libvirt"))
                    continue
                found.append(DiscoveredVm(pid=pid, name=name, address=address, source=source,
                                          manager=manager))
            else:
                hint = libvirt_hint(name) if manager == "libvirt" else ""
                skipped.append(SkippedVm(pid, name, source, reason or "unusable", hint,
                                         manager))
    for pattern, label in globs:
        for path in sorted(glob.glob(pattern)):
            key = _key(QmpAddress(path=path))
            if key in seen or not _is_socket(path):
                continue
            seen.add(key)
            found.append(DiscoveredVm(pid=None, name=_name_from_path(path, label),
                                      address=QmpAddress(path=path), source=label,
                                      manager=label))
    return Discovery(found=tuple(found), skipped=tuple(skipped))


# ----------------------------------------------------------------------------- /proc
def _qemu_processes(proc_root: str) -> Iterable[tuple[int, list[str], str | None]]:
    try:
        entries = os.listdir(proc_root)
    except OSError:
        return
    for entry in sorted(entries, key=lambda e: (len(e), e)):
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc_root, entry, "cmdline"), "rb") as f:
                raw = f.read()
        except OSError:
            continue  # the process ended, or we may not read it
        argv = [a.decode(errors="replace") for a in raw.split(b"\0")]
        if argv and argv[-1] == "":
            argv.pop()
        if not argv or not is_qemu_argv0(argv[0]):
            continue
        try:
            cwd: str | None = os.readlink(os.path.join(proc_root, entry, "cwd"))
        except OSError:
            cwd = None
        yield int(entry), argv, cwd


def is_qemu_argv0(argv0: str) -> bool:
    base = os.path.basename(argv0)
    return base.startswith("qemu-system-") or base in {"qemu-kvm", "kvm"}


def _options(argv: Sequence[str]) -> Iterable[tuple[str, str]]:
    """(option, value) pairs; QEMU accepts ``-opt`` and ``--opt``."""
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("-") and len(arg) > 1:
            opt = arg.lstrip("-")
            value = argv[i + 1] if i + 1 < len(argv) else ""
            yield opt, value
        i += 1


def split_opts(text: str) -> tuple[str, dict[str, str]]:
    """QemuOpts text: the first field (implied key) and ``key=value`` fields; ``,,`` escapes."""
    parts: list[str] = []
    buf: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == ",":
            if i + 1 < len(text) and text[i + 1] == ",":
                buf.append(",")
                i += 2
                continue
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    parts.append("".join(buf))
    first = parts[0] if parts else ""
    fields: dict[str, str] = {}
    for part in parts[1:]:
        key, eq, value = part.partition("=")
        fields[key] = value if eq else "on"  # bare `server` / `nowait` are old boolean spellings
    return first, fields


def vm_name(argv: Sequence[str]) -> str | None:
    """The ``-name`` of a QEMU: ``-name NAME`` or ``-name guest=NAME,debug-threads=on``."""
    for opt, value in _options(argv):
        if opt == "name":
            first, fields = split_opts(value)
            if "=" in first:
                key, _, val = first.partition("=")
                fields[key] = val
                first = ""
            return fields.get("guest") or first or None
    return None


def _on(fields: dict[str, str], key: str) -> bool:
    return fields.get(key, "off").lower() in {"on", "yes", "true", "y"}


def _socket_address(
    scheme_value: str, fields: dict[str, str], cwd: str | None
) -> tuple[QmpAddress | None, str | None]:
    """A chardev backend spec -> (address, None) or (None, why it is unusable)."""
    if not scheme_value.startswith(("unix:", "tcp:")):
        return None, f"unsupported monitor backend {scheme_value.split(':', 1)[0]!r}"
    if not (_on(fields, "server") or "nowait" in fields):
        return None, "client-mode socket (QEMU connects out; nothing to connect to)"
    if scheme_value.startswith("unix:"):
        path = scheme_value[len("unix:") :]
        if not path:
            return None, "unix socket without a path"
        return QmpAddress(path=_absolute(path, cwd)), None
    if scheme_value.startswith("tcp:"):
        hostport = scheme_value[len("tcp:") :]
        host, sep, port_text = hostport.rpartition(":")
        if not sep or not port_text.isdigit():
            return None, f"unreadable tcp address {hostport!r}"
        host = host.strip("[]") or "127.0.0.1"
        if host in {"0.0.0.0", "::"}:
            host = "127.0.0.1" if host == "0.0.0.0" else "::1"
        return QmpAddress(host=host, port=int(port_text)), None
    return None, f"unsupported monitor backend {scheme_value.split(':', 1)[0]!r}"


def _absolute(path: str, cwd: str | None) -> str:
    if os.path.isabs(path) or cwd is None:
        return path
    return os.path.normpath(os.path.join(cwd, path))


def monitors_of(
    argv: Sequence[str], *, cwd: str | None = None
) -> list[tuple[QmpAddress | None, str, str | None]]:
    """QMP monitors in one QEMU command line: (address, option text, None) or (None, text, why)."""
    out: list[tuple[QmpAddress | None, str, str | None]] = []
    chardevs: dict[str, tuple[str, dict[str, str], str]] = {}
    control_ids: list[tuple[str, str]] = []
    for opt, value in _options(argv):
        if opt in {"qmp", "qmp-pretty"}:
            first, fields = split_opts(value)
            address, why = _socket_address(first, fields, cwd)
            out.append((address, f"-{opt} {value}", why))
        elif opt == "chardev":
            backend, fields = split_opts(value)
            if "id" in fields:
                chardevs[fields["id"]] = (backend, fields, value)
        elif opt == "mon":
            first, fields = split_opts(value)
            if "=" in first:
                key, _, val = first.partition("=")
                fields[key] = val
            if fields.get("mode") == "control" and "chardev" in fields:
                control_ids.append((fields["chardev"], value))
    for chardev_id, mon_text in control_ids:
        source = f"-mon {mon_text}"
        if chardev_id not in chardevs:
            out.append((None, source, f"chardev {chardev_id!r} is not on the command line"))
            continue
        backend, fields, chardev_text = chardevs[chardev_id]
        source = f"-chardev {chardev_text} -mon {mon_text}"
        if backend != "socket":
            out.append((None, source, f"{backend} chardev, not a socket"))
        elif "fd" in fields:
            out.append((None, source, "monitor socket passed as a file descriptor"))
        elif "path" in fields:
            address, why = _socket_address(f"unix:{fields['path']}", fields, cwd)
            out.append((address, source, why))
        elif "port" in fields:
            address, why = _socket_address(
                f"tcp:{fields.get('host', '')}:{fields['port']}", fields, cwd
            )
            out.append((address, source, why))
        else:
            out.append((None, source, "socket chardev without path or port"))
    return out


def manager_of(argv: Sequence[str]) -> str | None:
    """The management stack that started a QEMU, from its command line (None: a plain QEMU).

    Its VMs belong to it: hot-plug refuses to change them behind its back (without --force).
    """
    if any("charmonitor" in a or "/libvirt/" in a for a in argv):
        return "libvirt"
    text = " ".join(argv)
    if "/qemu-server/" in text:
        return "proxmox"
    if "/incus/" in text:
        return "incus"
    if "/lxd/" in text:
        return "lxd"
    if "/ganeti/" in text:
        return "ganeti"
    return None


# ----------------------------------------------------------------------------- helpers
def _key(address: QmpAddress) -> str:
    if address.path is not None:
        try:
            return os.path.realpath(address.path)
        except OSError:
            return address.path
    return str(address)


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def _name_from_path(path: str, label: str) -> str | None:
    if label in {"incus", "lxd"}:
        return os.path.basename(os.path.dirname(path)) or None
    base = os.path.basename(path)
    return base[: -len(".qmp")] if base.endswith(".qmp") else None
