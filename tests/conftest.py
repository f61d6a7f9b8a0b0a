"""Shared fixtures: real QEMU processes on sockets in a temp dir, stopped by PID."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from qnetinspect.vmrunner import QemuProcess, find_qemu, start_qemu

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"

StartQemu = Callable[..., QemuProcess]

# a real libvirtd and transient domains for libvirt: targets (fixtures `libvirtd`, `domain`)
pytest_plugins = ["libvirt_env"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if find_qemu() is None and not _ci():
        skip = pytest.mark.skip(reason="qemu-system-x86_64 is not installed")
        for item in items:
            if "qemu" in item.keywords:
                item.add_marker(skip)


def _ci() -> bool:
    import os

    # In CI a missing QEMU is a failure, not a skip: .ci/run installs it.
    return bool(os.environ.get("CI"))


@pytest.fixture
def qemu_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    # unix socket paths are limited to 107 bytes: keep them short
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="qni-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def start_vm(qemu_dir: Path) -> Iterator[StartQemu]:
    """Start real QEMUs: ``start_vm(["-net", "nic", "-net", "user"], name="vm1")``."""
    started: list[QemuProcess] = []
    counter = iter(range(1_000_000))

    def start(net_args: list[str], name: str | None = None, **kwargs: object) -> QemuProcess:
        vm = start_qemu(net_args, qemu_dir, name or f"vm{next(counter)}", **kwargs)  # type: ignore[arg-type]
        started.append(vm)
        return vm

    yield start
    for vm in started:
        vm.stop()


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``qnetinspect ARGS`` in this process: (exit code, stdout, stderr)."""
    from qnetinspect.cli import main

    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse exits on usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def leak_args() -> list[str]:
    """The seed's leak: two NICs, user NAT and a listening loopback socket on legacy hub 0."""
    from qnetinspect.vmrunner import free_loopback_port

    return ["-net", "nic", "-net", "user", "-net", "nic",
            "-net", f"socket,listen=127.0.0.1:{free_loopback_port()}"]


class PtyProcess:
    """A program on a pseudo-terminal (a TUI needs one), read continuously so it never blocks.

    Use as a context manager: on exit a program still running is killed and reaped.
    """

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        import os
        import pty

        self.output = b""
        self.status: int | None = None
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # child
            os.environ.update({"TERM": "xterm-256color", **(env or {})})
            os.execv(argv[0], argv)

    def _pump(self, wait: float) -> bool:
        import os
        import select

        if select.select([self.fd], [], [], wait)[0]:
            try:
                self.output += os.read(self.fd, 65536)
            except OSError:
                return False
        return True

    def read_until(self, done: Callable[[bytes], bool], timeout: float = 60.0) -> None:
        """Read its screen output until ``done(output)``; fails the test after ``timeout``."""
        import time

        deadline = time.monotonic() + timeout
        while not done(self.output):
            assert time.monotonic() < deadline, self.output[-2000:]
            if not self._pump(0.2):
                break

    def signal_and_wait(self, signum: int, timeout: float = 30.0) -> int:
        """Send ``signum``, wait for the program to exit (reading on), return its exit code."""
        import os
        import time

        os.kill(self.pid, signum)
        deadline = time.monotonic() + timeout
        while (waited := os.waitpid(self.pid, os.WNOHANG)) == (0, 0):
            assert time.monotonic() < deadline, "the program did not exit after the signal"
            self._pump(0.05)
        self.status = waited[1]
        return os.waitstatus_to_exitcode(self.status)

    def __enter__(self) -> PtyProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        import os
        import signal

        if self.status is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)
