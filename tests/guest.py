"""A tiny running guest OS for tests whose outcome needs one (no tests here).

A PCI NIC is released by ``device_del`` only when a running guest OS acknowledges the ACPI
unplug, so a test of a completed unplug boots a real Linux kernel: Debian's cloud kernel (it has
ACPI PCI hotplug built in) with an initramfs made here from a static busybox. The init prints a
marker on the serial console and sleeps; the kernel's acpiphp does the rest, no userspace.

Where the files come from: ``QNI_GUEST_DIR`` (default ``~/.cache/qnetinspect-tests/guest``)
holds ``vmlinuz`` and ``busybox``; ``.ci/run`` fills it from the apt packages
``linux-image-cloud-amd64`` and ``busybox-static`` (downloaded and unpacked, not installed).
``ensure_guest_files`` does the same on a developer machine when apt is there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

READY = b"QNI-GUEST-READY"

_INIT = (
    "#!/bin/busybox sh\n"
    "/bin/busybox mount -t proc proc /proc\n"
    "/bin/busybox mount -t sysfs sysfs /sys\n"
    f"/bin/busybox echo {READY.decode()}\n"
    "exec /bin/busybox sleep 100000\n"
)


def guest_dir() -> Path:
    default = Path.home() / ".cache" / "qnetinspect-tests" / "guest"
    return Path(os.environ.get("QNI_GUEST_DIR", str(default)))


def ensure_guest_files(directory: Path | None = None) -> tuple[Path, Path] | None:
    """(kernel, busybox), fetching them with apt-get download when missing; None if that
    cannot be done here."""
    d = directory or guest_dir()
    kernel, busybox = d / "vmlinuz", d / "busybox"
    if kernel.is_file() and busybox.is_file():
        return kernel, busybox
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        return None
    d.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="qni-guest-") as tmp:
        try:
            subprocess.run(
                ["apt-get", "download", "busybox-static",
                 _kernel_package()],
                cwd=tmp, check=True, capture_output=True, timeout=600,
            )
            for deb in Path(tmp).glob("*.deb"):
                subprocess.run(["dpkg-deb", "-x", str(deb), str(Path(tmp) / "root")], check=True,
                               capture_output=True, timeout=600)
        except (OSError, subprocess.SubprocessError):
            return None
        root = Path(tmp) / "root"
        kernels = sorted(root.glob("boot/vmlinuz-*"))
        if not kernels or not (root / "bin" / "busybox").is_file():
            return None
        shutil.copyfile(kernels[-1], kernel)
        shutil.copyfile(root / "bin" / "busybox", busybox)
    return kernel, busybox


def _kernel_package() -> str:
    """The versioned package linux-image-cloud-amd64 depends on (apt-get download wants it)."""
    out = subprocess.run(["apt-cache", "depends", "linux-image-cloud-amd64"], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    for line in out.splitlines():
        word = line.strip().removeprefix("Depends:").strip()
        if word.startswith("linux-image-") and word != "linux-image-cloud-amd64":
            return word
    raise subprocess.SubprocessError("no kernel package behind linux-image-cloud-amd64")


def _cpio_entry(name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> bytes:
    """One entry of a ``newc`` cpio archive (the format the kernel unpacks as initramfs)."""
    fields = [0, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
    header = b"070701" + b"".join(f"{v:08x}".encode() for v in fields)
    out = header + name.encode() + b"\0"
    out += b"\0" * (-len(out) % 4)
    out += data + b"\0" * (-len(data) % 4)
    return out


def build_initramfs(busybox: Path, dest: Path) -> Path:
    """A cpio with busybox, an init that prints READY and sleeps, and /dev/console."""
    entries = [
        _cpio_entry("bin", 0o040755),
        _cpio_entry("dev", 0o040755),
        _cpio_entry("proc", 0o040755),
        _cpio_entry("sys", 0o040755),
        _cpio_entry("dev/console", 0o020600, rdev=(5, 1)),
        _cpio_entry("bin/busybox", 0o100755, busybox.read_bytes()),
        _cpio_entry("init", 0o100755, _INIT.encode()),
        _cpio_entry("TRAILER!!!", 0),
    ]
    dest.write_bytes(b"".join(entries))
    return dest


def guest_args(kernel: Path, initrd: Path, console_log: Path) -> list[str]:
    """QEMU options booting the guest (serial console to ``console_log``), to put before the
    network options of a test; the VM must not be started with -S for the guest to run."""
    return [
        "-kernel", str(kernel), "-initrd", str(initrd),
        "-append", "console=ttyS0 panic=-1 quiet loglevel=3 nokaslr",
        "-m", "256",
        "-serial", f"file:{console_log}",
    ]


if __name__ == "__main__":  # .ci/run: fill the cache before the tests
    import sys

    files = ensure_guest_files()
    print(f"guest files: {files}" if files else "guest files: cannot fetch them (apt-get)")
    sys.exit(0 if files else 1)
