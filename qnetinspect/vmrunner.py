"""Start and stop real, paused, disk-less QEMU processes with a QMP socket each.

Used by ``demo``, the test suite, the fixture capture script and the benchmarks. Every process
gets PR_SET_PDEATHSIG (SIGKILL) so it dies with us even on a crash, and its own process group
so a Ctrl-C in the terminal reaches us, not it; ``stop()`` kills it by PID.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qnetinspect.errors import QNetInspectError

QEMU_BINARY = "qemu-system-x86_64"
BASE_ARGS = ("-M", "pc", "-S", "-nodefaults", "-display", "none")
_PR_SET_PDEATHSIG = 1


class QemuStartError(QNetInspectError):
    """QEMU exited or never opened its QMP socket; ``output`` is what it printed."""

    def __init__(self, message: str, output: str = "", returncode: int | None = None) -> None:
        super().__init__(message)
        self.output = output
        self.returncode = returncode


def free_loopback_ports(count: int, kind: int = socket.SOCK_STREAM) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 now (QEMU binds them a moment later).

    Every socket is held until all are chosen, so the kernel cannot hand one out twice.
    """
    holders: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, kind)
            holders.append(s)
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in holders]
    finally:
        for s in holders:
            s.close()


def free_loopback_port(kind: int = socket.SOCK_STREAM) -> int:
    """One port free on 127.0.0.1 now."""
    return free_loopback_ports(1, kind)[0]


def find_qemu(binary: str = QEMU_BINARY) -> str | None:
    return shutil.which(binary)


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


@dataclass
class QemuProcess:
    """A running QEMU; ``qmp_path`` is its unix QMP socket."""

    argv: list[str]
    qmp_path: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    extra_sockets: list[Path] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Kill by PID (SIGTERM, then SIGKILL) and reap; idempotent."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGCONT)  # a SIGSTOPped QEMU must see SIGTERM
                os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)


def qmp_option(path: Path) -> list[str]:
    return ["-qmp", f"unix:{path},server=on,wait=off"]


def start_qemu(
    net_args: Sequence[str],
    workdir: Path,
    name: str,
    *,
    binary: str | None = None,
    base_args: Sequence[str] = BASE_ARGS,
    vm_name: str | None = None,
    extra_qmp: int = 0,
    wait: float = 10.0,
    check_socket: bool = True,
    chroot: Path | None = None,
) -> QemuProcess:
    """Start ``qemu-system-x86_64 BASE_ARGS -qmp unix:WORKDIR/NAME.qmp ... NET_ARGS``.

    Waits until the QMP socket accepts a connection (the greeting is left unread), unless
    ``check_socket`` is False (for QEMUs expected to block before their main loop).
    ``extra_qmp`` adds more QMP monitors (``NAME.qmp2`` ...).
    ``chroot`` runs the QEMU of another Debian release installed in that directory (made with
    ``debootstrap``); ``workdir`` must then lie inside it.
    Raises QemuStartError with QEMU's output when it exits or the socket never appears.
    """
    if chroot is not None:
        return _start_in_chroot(
            net_args, workdir, name, chroot, base_args=base_args, vm_name=vm_name, wait=wait,
            check_socket=check_socket,
        )
    exe = binary or find_qemu()
    if exe is None:
        raise QemuStartError(
            f"{QEMU_BINARY} not found: install it (Debian/Ubuntu: apt-get install qemu-system-x86)"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    qmp_path = workdir / f"{name}.qmp"
    extra = [workdir / f"{name}.qmp{i + 2}" for i in range(extra_qmp)]
    for p in (qmp_path, *extra):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    argv = [exe, *base_args]
    if vm_name:
        argv += ["-name", vm_name]
    argv += qmp_option(qmp_path)
    for p in extra:
        argv += qmp_option(p)
    argv += list(net_args)
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            start_new_session=True,
        )
    vm = QemuProcess(
        argv=argv, qmp_path=qmp_path, process=proc, log_path=log_path, extra_sockets=extra
    )
    if check_socket:
        _wait_for_socket(vm, wait)
    return vm


def _start_in_chroot(
    net_args: Sequence[str],
    workdir: Path,
    name: str,
    chroot: Path,
    *,
    base_args: Sequence[str],
    vm_name: str | None,
    wait: float,
    check_socket: bool,
) -> QemuProcess:
    root = chroot.resolve()
    workdir = workdir.resolve()
    if not workdir.is_relative_to(root):
        raise QemuStartError(f"{workdir} is not inside the chroot {root}")
    inside = "/" + str(workdir.relative_to(root))
    workdir.mkdir(parents=True, exist_ok=True)
    qmp_path = workdir / f"{name}.qmp"
    with contextlib.suppress(FileNotFoundError):
        qmp_path.unlink()
    argv = ["chroot", str(root), QEMU_BINARY, *base_args]
    if vm_name:
        argv += ["-name", vm_name]
    argv += ["-qmp", f"unix:{inside}/{name}.qmp,server=on,wait=off", *net_args]
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent, start_new_session=True,
        )
    vm = QemuProcess(argv=argv, qmp_path=qmp_path, process=proc, log_path=log_path)
    if check_socket:
        _wait_for_socket(vm, wait)
    return vm


def _wait_for_socket(vm: QemuProcess, wait: float) -> None:
    deadline = time.monotonic() + wait
    while True:
        if vm.process.poll() is not None:
            raise QemuStartError(
                f"QEMU exited with {vm.process.returncode}: {vm.output().strip()}",
                vm.output(),
                vm.process.returncode,
            )
        if _accepts(vm.qmp_path):
            return
        if time.monotonic() > deadline:
            vm.stop()
            raise QemuStartError(f"QEMU did not open {vm.qmp_path} within {wait:g}s", vm.output())
        time.sleep(0.01)


def _accepts(path: Path) -> bool:
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def qemu_fleet() -> Iterator[list[QemuProcess]]:
    """A list to append started QEMUs to; every one is stopped on exit, whatever happens."""
    started: list[QemuProcess] = []
    try:
        yield started
    finally:
        for vm in started:
            vm.stop()
