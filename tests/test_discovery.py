"""Discovery of QMP sockets from QEMU command lines and conventional directories."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from qnetinspect.discovery import discover, monitors_of, scan, vm_name
from qnetinspect.qmp.address import QmpAddress

QEMU = "/usr/bin/qemu-system-x86_64"


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (["-qmp", "unix:/run/a.qmp,server=on,wait=off"], QmpAddress(path="/run/a.qmp")),
        (["-qmp", "unix:/run/a.qmp,server,nowait"], QmpAddress(path="/run/a.qmp")),
        (["--qmp", "tcp:127.0.0.1:4444,server=on"], QmpAddress(host="127.0.0.1", port=4444)),
        (["-qmp-pretty", "tcp::4445,server,nowait"], QmpAddress(host="127.0.0.1", port=4445)),
        (["-chardev", "socket,id=m0,path=/run/b.qmp,server=on,wait=off",
          "-mon", "chardev=m0,mode=control"], QmpAddress(path="/run/b.qmp")),
        (["-chardev", "socket,id=m1,host=127.0.0.1,port=4446,server=on",
          "-mon", "chardev=m1,mode=control,pretty=on"], QmpAddress(host="127.0.0.1", port=4446)),
    ],
)
def test_monitor_forms_are_read(option: list[str], expected: QmpAddress) -> None:
    """Every spelling of a listening QMP monitor gives its address."""
    ((address, source, reason),) = monitors_of([QEMU, "-S", *option])
    assert (address, reason) == (expected, None)
    assert source.startswith("-")


@pytest.mark.parametrize(
    ("option", "why"),
    [
        (["-qmp", "unix:/run/a.qmp"], "client-mode"),
        (["-qmp", "stdio"], "unsupported"),
        (["-chardev", "socket,id=charmonitor,fd=23,server=on,wait=off",
          "-mon", "chardev=charmonitor,id=monitor,mode=control"], "file descriptor"),
        (["-mon", "chardev=nope,mode=control"], "not on the command line"),
    ],
)
def test_unusable_monitors_say_why(option: list[str], why: str) -> None:
    """A monitor we cannot connect to is returned with the reason."""
    ((address, _, reason),) = monitors_of([QEMU, *option])
    assert address is None and reason is not None and why in reason


def test_readline_monitor_is_not_qmp() -> None:
    """-mon without mode=control (HMP) and -monitor are not QMP monitors."""
    argv = [QEMU, "-chardev", "socket,id=h,path=/r/h,server=on", "-mon", "chardev=h",
            "-monitor", "unix:/r/m,server,nowait"]
    assert monitors_of(argv) == []


def test_relative_socket_path_resolves_against_cwd() -> None:
    """A relative socket path is taken relative to the QEMU's working directory."""
    ((address, _, _),) = monitors_of([QEMU, "-qmp", "unix:vm.qmp,server=on"], cwd="/srv/vms")
    assert address == QmpAddress(path="/srv/vms/vm.qmp")


@pytest.mark.parametrize(
    ("value", "name"),
    [("web1", "web1"), ("guest=db,debug-threads=on", "db"), ("app,process=qemu-app", "app")],
)
def test_vm_name_forms(value: str, name: str) -> None:
    """-name NAME, -name guest=NAME,... and -name NAME,process=... give the VM name."""
    assert vm_name([QEMU, "-name", value]) == name


def _fake_proc(root: Path, pid: int, argv: list[str]) -> None:
    (root / str(pid)).mkdir()
    (root / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")


def test_scan_reads_proc_and_skips_libvirt_monitor(tmp_path: Path) -> None:
    """/proc scan: QEMU processes found, others ignored, libvirt's monitor skipped with a hint."""
    proc = tmp_path / "proc"
    proc.mkdir()
    _fake_proc(proc, 10, [QEMU, "-name", "guest=web", "-qmp", "unix:/r/web.qmp,server=on"])
    _fake_proc(proc, 11, ["/usr/bin/python3", "-qmp", "unix:/r/not.qmp,server=on"])
    _fake_proc(proc, 12, [QEMU, "-name", "guest=lv", "-chardev",
                          "socket,id=charmonitor,path=/var/lib/libvirt/qemu/domain-3-lv/"
                          "monitor.sock,server=on,wait=off",
                          "-mon", "chardev=charmonitor,id=monitor,mode=control"])
    result = scan(proc_root=str(proc), globs=())
    assert [(v.pid, v.name, v.address) for v in result.found] == [
        (10, "web", QmpAddress(path="/r/web.qmp"))
    ]
    (skipped,) = result.skipped
    assert (skipped.pid, skipped.name) == (12, "lv")
    assert "virsh qemu-monitor-command" in skipped.hint


def test_conventional_dirs_list_only_existing_sockets(tmp_path: Path) -> None:
    """A conventional socket directory contributes its sockets, not plain files."""
    d = tmp_path / "qemu-server"
    d.mkdir()
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(d / "101.qmp"))
    (d / "102.qmp").touch()  # a plain file, not a socket
    try:
        found = discover(proc_root=str(tmp_path / "noproc"),
                         globs=[(f"{d}/*.qmp", "proxmox")])
    finally:
        s.close()
    assert [(v.name, v.address.path, v.source) for v in found] == [
        ("101", str(d / "101.qmp"), "proxmox")
    ]


@pytest.mark.qemu
def test_discover_finds_real_qemus_both_socket_forms(
    start_vm: Callable[..., object], qemu_dir: Path
) -> None:
    """discover() finds a real QEMU's -qmp socket and its -chardev+-mon control socket."""
    mon = qemu_dir / "mon.sock"
    vm1 = start_vm([], name="d1", vm_name="guest=disc-one,debug-threads=on")
    vm2 = start_vm(["-chardev", f"socket,id=qm,path={mon},server=on,wait=off",
                    "-mon", "chardev=qm,mode=control"], name="d2")
    mine = {str(vm1.qmp_path), str(vm2.qmp_path), str(mon)}  # type: ignore[attr-defined]
    found = {v.address.path: v for v in discover() if v.address.path in mine}
    assert set(found) == mine
    assert found[str(vm1.qmp_path)].pid == vm1.pid  # type: ignore[attr-defined]
    assert found[str(vm1.qmp_path)].name == "disc-one"  # type: ignore[attr-defined]
    assert found[str(mon)].pid == vm2.pid  # type: ignore[attr-defined]
    assert "-mon" in found[str(mon)].source


def test_a_qemu_without_a_qmp_monitor_is_skipped_with_a_hint(tmp_path: Path) -> None:
    """A QEMU with no QMP monitor (none, or HMP only) is listed as skipped, never left out;
    one with -readconfig (whose file may hold its monitor) is not judged."""
    proc = tmp_path / "proc"
    proc.mkdir()
    _fake_proc(proc, 20, [QEMU, "-name", "bare", "-net", "nic", "-net", "user"])
    _fake_proc(proc, 21, [QEMU, "-name", "hmp", "-monitor", "unix:/r/hmp.sock,server=on"])
    _fake_proc(proc, 22, [QEMU, "-name", "incus", "-readconfig", "/run/incus/x/qemu.conf"])
    result = scan(proc_root=str(proc), globs=())
    assert [(s.pid, s.reason) for s in result.skipped] == [
        (20, "no QMP monitor"), (21, "no QMP monitor")]
    assert "qnetinspect lint --pid 20" in result.skipped[0].hint
