"""qnetinspect.parse.argv against the installed QEMU: what it predicts is what QEMU does.

Each case starts a real paused QEMU (``start_vm``) with the options and reads ``info network``
over QMP, or sees QEMU refuse them. QEMU sends its QMP greeting only once every option has been
processed, so a refused command line shows as a closed connection and an exited process.
"""

from __future__ import annotations

import re
import shlex

import pytest
from test_argv_helpers import live_info_network

from qnetinspect.errors import TargetError
from qnetinspect.parse.argv import parse_version, predict
from qnetinspect.report.info_network import render_info_network
from qnetinspect.vmrunner import QemuStartError, free_loopback_port

pytestmark = pytest.mark.qemu

# Tricky spellings and orders; {P} is replaced by a free 127.0.0.1 port, {T} by a tap name.
ACCEPTED = [
    "-net nic,model=virtio -net nic,model=ne2k_pci -net nic,model=i82551 -net user"
    " -device e1000,mac=52:54:00:12:34:57 -device e1000 -nic user"
    " -net nic,macaddr=52:54:00:12:34:56",
    "-netdev hubport,id=hp,hubid=0 -device rtl8139,netdev=hp -net nic -net user",
    "-net user,id=foo -net nic,id=bar",
    "-nic user,id=foo,model=virtio",
    "-nic hubport,hubid=3 -net nic",
    "-net nic,netdev=u -netdev user,id=u",
    "-device e1000 -device e1000,id=e1000.1 -device e1000",
    "-netdev user,id=u0 -netdev user,id=u1 -device e1000,netdev=u1"
    " -netdev socket,id=s0,listen=127.0.0.1:{P}",
    "-netdev socket,id=s0,listen=127.0.0.1:{P} -netdev user,id=u"
    " -netdev stream,id=st,server=on,addr.type=inet,addr.host=127.0.0.1,addr.port={P}",
    "-netdev user,id=u,net=10.9.8.0/24,restrict -device virtio-net-pci,netdev=u",
    "-M q35 -net nic -net user",
    "-machine type=q35 -nic user",
    "-net nic,model=ne2k_isa -net nic,model=ne2k_isa",
    "-net nic -netdev hubport,id=x,hubid=0 -net user -netdev hubport,id=y,hubid=2"
    " -nic hubport,hubid=2",
    "-netdev dgram,id=d,local.type=inet,local.host=127.0.0.1,local.port={P},"
    "remote.type=inet,remote.host=127.0.0.1,remote.port={P} -netdev user,id=u"
    " -netdev hubport,id=h1,hubid=1,netdev=u -netdev hubport,id=h2,hubid=1,netdev=d"
    " -netdev hubport,id=h3,hubid=1 -device e1000,netdev=h3",
    "-net nic,model=virtio,macaddr=52-54-00-AA-BB-CC -net user,restrict=on,net=10.1.0.0/16",
    "-nic none",
    "-net none",
    "--netdev user,id=u --device e1000-82540em,netdev=u",
    "-netdev tap,id=t,ifname={T},script=no,downscript=no,queues=2"
    " -device virtio-net-pci,netdev=t,mq=on,vectors=6 -device virtio-net-pci",
    "-netdev user,id=f -device e1000,netdev=f"
    " -object filter-buffer,id=fb,netdev=f,interval=1000,queue=tx",
]
REFUSED = [
    "-net nic -net nic -net nic -net nic -net nic -net nic -net nic -nic user -nic user",
    "-net nic,model=usb-net",
    "-netdev user,id=u -object filter-buffer,id=f,netdev=nope,interval=10",
    "-net user,name=foo",
    "-netdev tap,id=t0,ifname={T},script=no,foo=1",
    "-netdev socket,id=s,listen=127.0.0.1:{P},connect=127.0.0.1:{P}",
    "-net user,id=a -netdev user,id=a",
    "-netdev hubport,id=h,hubid=0,netdev=u -netdev user,id=u",
    "-netdev user,id=u -device e1000,netdev=u -netdev hubport,id=h,hubid=0,netdev=u",
    "-net nic,macaddr=01:00:00:00:00:01 -net user",
    "-netdev user,id=u -device e1000,netdev=u,id=1x",
    "-net=nic",
]


def _fill(case: str) -> list[str]:
    text = re.sub(r"\{P\}", lambda _m: str(free_loopback_port()), case)
    return shlex.split(text.replace("{T}", "qnitap7"))


def _mask(text: str) -> str:
    return re.sub(r"#net\d+", "#net?", text.replace("\r\n", "\n")).strip()


def _installed_version() -> tuple[int, int]:
    import subprocess

    out = subprocess.run(
        ["qemu-system-x86_64", "--version"], capture_output=True, text=True, check=False
    ).stdout
    return parse_version(out)


async def _run(start_vm: object, args: list[str]) -> tuple[str | None, str]:
    """(info network, or None when QEMU refused the options; QEMU's output)."""
    try:
        vm = start_vm(args)  # type: ignore[operator]
    except QemuStartError as exc:
        return None, exc.output
    try:
        return await live_info_network(vm.qmp_path), vm.output()
    except TargetError:
        vm.process.wait(10)
        return None, vm.output()


async def test_accepted_command_lines_match_qemu(start_vm: object) -> None:
    """For each accepted case, the predicted 'info network' is QEMU's (auto names masked)."""
    version = _installed_version()
    failed = []
    for case in ACCEPTED:
        args = _fill(case)
        real, output = await _run(start_vm, args)
        result = predict(["-nodefaults", *args], qemu_version=version)
        mine = render_info_network(result.topology)
        if real is None or result.errors or _mask(real) != _mask(mine):
            failed.append(f"{case}\n  qemu: {real!r} {output.strip()!r}\n  mine: {mine!r} "
                          f"{result.errors}")
    assert failed == []


async def test_refused_command_lines_are_errors(start_vm: object) -> None:
    """For each refused case, QEMU printed the first predicted error's message."""
    version = _installed_version()
    failed = []
    for case in REFUSED:
        args = _fill(case)
        real, output = await _run(start_vm, args)
        result = predict(["-nodefaults", *args], qemu_version=version)
        if real is not None or not result.errors or (
            result.errors[0].message.splitlines()[0] not in output
        ):
            failed.append(f"{case}\n  qemu: {real!r} {output.strip()!r}\n  mine: {result.errors}")
    assert failed == []


def test_cases_exist() -> None:
    """The case lists are not empty (a test over an empty list proves nothing)."""
    assert len(ACCEPTED) >= 20 and len(REFUSED) >= 10
