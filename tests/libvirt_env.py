"""A real libvirtd for the tests, and real transient disk-less domains under it.

``libvirtd`` (session scope) connects to ``qemu:///system``; when nothing answers it starts
``virtlogd -d`` and ``libvirtd -d`` itself (no systemd here; .ci/libvirt-host prepared
qemu.conf) and stops the daemons it started, by PID, at the end. Without libvirt installed the
tests that need it are skipped on a developer's machine, and fail in CI (``CI`` set), where
.ci/run installs it.

``domain`` defines transient domains: nothing is written to libvirt's persistent config, and
every domain made is destroyed at the end of the test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import quoteattr

import pytest

URI = "qemu:///system"
_SOCKET = "/run/libvirt/libvirt-sock"


def _ci() -> bool:
    return bool(os.environ.get("CI"))


def _unavailable(why: str) -> None:
    if _ci():
        pytest.fail(f"libvirt is needed in CI: {why}")
    pytest.skip(why)


def _try_connect() -> Any:
    import libvirt

    try:
        return libvirt.open(URI)
    except libvirt.libvirtError:
        return None


def _pid_of(pidfile: str) -> int | None:
    try:
        return int(open(pidfile).read().strip())
    except (OSError, ValueError):
        return None


@dataclass
class Libvirtd:
    uri: str
    conn: Any
    started_pids: list[int]


@pytest.fixture(scope="session")
def libvirtd() -> Iterator[Libvirtd]:
    """A libvirtd answering on qemu:///system: the one running, or one started here."""
    try:
        import libvirt
    except ImportError:
        _unavailable("libvirt-python is not installed (pip install -e '.[libvirt]')")

    libvirt.registerErrorHandler(lambda *_: None, None)  # its errors are raised, not printed
    started: list[int] = []
    conn = _try_connect()
    if conn is None:
        if shutil.which("libvirtd") is None or shutil.which("virtlogd") is None:
            _unavailable("libvirtd is not installed (apt-get install libvirt-daemon "
                         "libvirt-daemon-driver-qemu; then bash .ci/libvirt-host)")
        if os.geteuid() != 0:
            _unavailable("no libvirtd answers on qemu:///system and only root may start one")
        os.makedirs("/var/log/libvirt/qemu", exist_ok=True)
        for daemon, pidfile in (("virtlogd", "/run/virtlogd.pid"),
                                ("libvirtd", "/run/libvirtd.pid")):
            if _pid_of(pidfile) is not None and os.path.exists(f"/proc/{_pid_of(pidfile)}"):
                continue  # already running (virtlogd alone, say)
            # a failure here (another test run started it a moment ago: its pidfile is locked)
            # shows below as a libvirtd that does or does not answer
            if subprocess.run([daemon, "-d"], timeout=30).returncode == 0:
                pid = _pid_of(pidfile)
                if pid is not None:
                    started.append(pid)
        deadline = time.monotonic() + 30
        while (conn := _try_connect()) is None:
            if time.monotonic() > deadline:
                log = _tail("/var/log/libvirt/libvirtd.log")
                pytest.fail(f"libvirtd did not answer on {URI} within 30s:\n{log}")
            time.sleep(0.2)
    try:
        yield Libvirtd(URI, conn, started)
    finally:
        conn.close()
        for pid in reversed(started):
            _stop(pid)


def _tail(path: str) -> str:
    try:
        return "".join(open(path, errors="replace").readlines()[-20:])
    except OSError:
        return f"({path} unreadable)"


def _stop(pid: int) -> None:
    import signal

    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 20
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.1)


def domain_xml(
    name: str,
    *,
    qemu_args: Sequence[str] = (),
    interfaces: Sequence[str] = (),
) -> str:
    """A disk-less transient domain; ``interfaces`` are ``<interface>`` elements as text.

    libvirt's own devices get explicit PCI slots from 0x05 on, because a raw ``-net nic`` in
    ``<qemu:commandline>`` takes the first free slot (2), which libvirt would otherwise give
    its first device, and QEMU would refuse to start.
    """
    args = "".join(f"<qemu:arg value={quoteattr(a)}/>" for a in qemu_args)
    commandline = f"<qemu:commandline>{args}</qemu:commandline>" if qemu_args else ""
    return f"""<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>{shutil.which('qemu-system-x86_64') or '/usr/bin/qemu-system-x86_64'}</emulator>
    <controller type='usb' model='none'/>
    {''.join(interfaces)}
    <memballoon model='none'/>
  </devices>
  {commandline}
</domain>"""


def ethernet_interface(mac: str, slot: int, model: str = "virtio") -> str:
    """An ``<interface type='ethernet'>``: a tap, no libvirt network (dnsmasq may be absent)."""
    return (f"<interface type='ethernet'><mac address='{mac}'/><model type='{model}'/>"
            f"<address type='pci' domain='0x0000' bus='0x00' slot='{slot:#04x}' "
            "function='0x0'/></interface>")


MakeDomain = Callable[..., str]


@pytest.fixture
def domain(libvirtd: Libvirtd) -> Iterator[MakeDomain]:
    """``domain("leak", qemu_args=[...], interfaces=[...])`` -> the running domain's name."""
    import libvirt

    made: list[str] = []
    counter = iter(range(1_000_000))

    def make(label: str = "vm", **kwargs: Any) -> str:
        # unique across concurrent test runs on one host
        name = f"qni-{os.getpid()}-{next(counter)}-{label}"
        try:
            libvirtd.conn.createXML(domain_xml(name, **kwargs), 0)
        except libvirt.libvirtError as exc:
            log = _tail(f"/var/log/libvirt/qemu/{name}.log")
            raise AssertionError(f"libvirt refused domain {name}: {exc}\n{log}") from exc
        made.append(name)
        return name

    yield make
    for name in made:
        with contextlib.suppress(libvirt.libvirtError):  # already gone
            libvirtd.conn.lookupByName(name).destroy()


@pytest.fixture(scope="session")
def ssh_uri(libvirtd: Libvirtd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``qemu+ssh://root@127.0.0.1:PORT/system?keyfile=...``: an sshd of this test's own on
    loopback, with host and user keys made here; stopped at the end."""
    import signal

    sshd, ssh_keygen = shutil.which("sshd") or "/usr/sbin/sshd", shutil.which("ssh-keygen")
    if not os.path.exists(sshd) or ssh_keygen is None or shutil.which("ssh") is None:
        _unavailable("openssh-server/openssh-client are not installed")
    from qnetinspect.vmrunner import free_loopback_port

    d = tmp_path_factory.mktemp("sshd")
    for key in ("hostkey", "userkey"):
        subprocess.run([ssh_keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)],
                       check=True, timeout=30)
    (d / "authorized_keys").write_text((d / "userkey.pub").read_text())
    port = free_loopback_port()
    (d / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {d / 'hostkey'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        f"PidFile {d / 'sshd.pid'}\nStrictModes no\n"
    )
    os.makedirs("/run/sshd", exist_ok=True)  # its privilege separation directory
    proc = subprocess.Popen([sshd, "-D", "-f", str(d / "sshd_config"), "-E", str(d / "log")])
    try:
        import socket

        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, _tail(str(d / "log"))
            assert time.monotonic() < deadline, "sshd did not listen"
            time.sleep(0.05)
        yield f"qemu+ssh://root@127.0.0.1:{port}/system?keyfile={d / 'userkey'}&no_verify=1"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


@pytest.fixture
def only_this_run(monkeypatch: pytest.MonkeyPatch) -> str:
    """Discovery (``auto``, ``discover``) sees only QEMUs named ``qni-<this pid>-...``: on a
    shared host, other people's VMs (and their faults) stay out of these tests. Returns the
    name prefix."""
    from qnetinspect import discovery

    prefix = f"qni-{os.getpid()}-"
    processes = discovery._qemu_processes
    scan = discovery.scan

    def ours(proc_root: str) -> Iterator[tuple[int, list[str], str | None]]:
        for pid, argv, cwd in processes(proc_root):
            if (discovery.vm_name(argv) or "").startswith(prefix):
                yield pid, argv, cwd

    monkeypatch.setattr(discovery, "_qemu_processes", ours)
    monkeypatch.setattr(discovery, "scan", lambda **kw: scan(**{"globs": (), **kw}))
    return prefix
