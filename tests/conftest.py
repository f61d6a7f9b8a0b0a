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
