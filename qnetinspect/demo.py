"""The demo's VMs: the seed's cases as real, paused, disk-less QEMUs (or recorded replays).

- ``leaky-legacy-hub``: legacy ``-net``: two NICs, slirp NAT and a listening TCP socket on hub 0,
  so NAT traffic floods into the socket segment (the seed's leak);
- ``separated-hubs``: the same backends on their own hubs via ``-netdev hubport``;
- ``clean-pair``: one ``-netdev user`` + ``-device virtio-net-pci`` pair;
- ``segment-a`` / ``segment-b``: two VMs joined by a socket segment (listen + connect on
  127.0.0.1), both with QEMU's default MAC 52:54:00:12:34:56.

``start_demo_vms`` starts them (the caller owns stopping them: pass the list of a
``vmrunner.qemu_fleet()``); ``bundled_captures`` lists the recordings of the same VMs shipped in
``qnetinspect/data/demo/`` for machines without QEMU; ``record`` regenerates them::

    python -m qnetinspect.demo --record qnetinspect/data/demo
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from qnetinspect.vmrunner import (
    QemuProcess,
    QemuStartError,
    free_loopback_ports,
    qemu_fleet,
    start_qemu,
)

DATA_DIR = "demo"


@dataclass(frozen=True, slots=True)
class DemoVm:
    """One demo VM. ``net_args`` may hold ``{lan}`` / ``{leak}`` / ``{segment}`` port fields."""

    name: str
    what: str
    net_args: tuple[str, ...]

    def argv(self, ports: Mapping[str, int]) -> list[str]:
        return [arg.format(**ports) for arg in self.net_args]


DEMO_VMS: tuple[DemoVm, ...] = (
    DemoVm(
        "leaky-legacy-hub",
        "legacy -net: NAT and a TCP socket share hub 0 (NAT leak)",
        ("-net", "nic", "-net", "user", "-net", "nic", "-net", "socket,listen=127.0.0.1:{leak}"),
    ),
    DemoVm(
        "separated-hubs",
        "-netdev hubport: NAT on hub 0, the TCP socket on hub 1",
        (
            "-netdev",
            "hubport,id=h0nic,hubid=0",
            "-device",
            "e1000,netdev=h0nic,id=nat-nic",
            "-netdev",
            "user,id=nat",
            "-netdev",
            "hubport,id=h0nat,hubid=0,netdev=nat",
            "-netdev",
            "hubport,id=h1nic,hubid=1",
            "-device",
            "e1000,netdev=h1nic,id=lan-nic",
            "-netdev",
            "socket,id=lan,listen=127.0.0.1:{lan}",
            "-netdev",
            "hubport,id=h1lan,hubid=1,netdev=lan",
        ),
    ),
    DemoVm(
        "clean-pair",
        "-netdev user + -device virtio-net-pci: one NIC, one backend, no hub",
        ("-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0,id=nic0"),
    ),
    DemoVm(
        "segment-a",
        "listens on a 127.0.0.1 socket segment, default MAC",
        (
            "-netdev",
            "socket,id=seg,listen=127.0.0.1:{segment}",
            "-device",
            "e1000,netdev=seg,id=segnic",
        ),
    ),
    DemoVm(
        "segment-b",
        "connects to segment-a's socket, the same default MAC",
        (
            "-netdev",
            "socket,id=seg,connect=127.0.0.1:{segment}",
            "-device",
            "e1000,netdev=seg,id=segnic",
        ),
    ),
)

PORT_NAMES = ("leak", "lan", "segment")


def free_ports(names: Sequence[str] = PORT_NAMES) -> dict[str, int]:
    """Distinct free TCP ports on 127.0.0.1, by name."""
    return dict(zip(names, free_loopback_ports(len(names)), strict=True))


def _listening(port: int) -> bool:
    """Whether something LISTENs on 127.0.0.1:port, read from /proc (connecting would make the
    QEMU socket backend accept us as its one peer)."""
    wanted = f"0100007F:{port:04X}"
    try:
        with open("/proc/net/tcp", encoding="ascii") as f:
            rows = f.read().splitlines()[1:]
    except OSError:
        return True  # cannot tell: let QEMU's connect decide
    return any(r.split()[1] == wanted and r.split()[3] == "0A" for r in rows if len(r.split()) > 3)


def start_demo_vms(
    workdir: Path, started: list[QemuProcess], *, binary: str | None = None, wait: float = 10.0
) -> list[QemuProcess]:
    """Start every demo VM into ``started`` (append-as-you-go, so a failure half-way still lets
    the caller stop the ones already running). Raises QemuStartError."""
    ports = free_ports()
    for vm in DEMO_VMS:
        if vm.name == "segment-b":
            deadline = time.monotonic() + wait
            while not _listening(ports["segment"]):
                if time.monotonic() > deadline:
                    port = ports["segment"]
                    raise QemuStartError(f"segment-a never listened on 127.0.0.1:{port}")
                time.sleep(0.01)
        started.append(start_qemu(vm.argv(ports), workdir, vm.name, binary=binary, vm_name=vm.name))
    # segment-a accepts segment-b in its main loop, a moment after segment-b is up: wait for
    # it, so that the first look shows the joined segment rather than a waiting socket
    asyncio.run(_wait_accepted(started[DEMO_VMS.index(_vm("segment-a"))], wait))
    return started


def _vm(name: str) -> DemoVm:
    return next(vm for vm in DEMO_VMS if vm.name == name)


async def _wait_accepted(vm: QemuProcess, wait: float) -> None:
    import anyio

    from qnetinspect.qmp.session import QmpSession

    with anyio.move_on_after(wait):
        async with QmpSession(str(vm.qmp_path)) as qmp:
            while "connection from" not in await qmp.hmp("info network"):
                await anyio.sleep(0.01)


def bundled_captures() -> list[tuple[str, dict[str, Any]]]:
    """(VM name, capture) of the recordings shipped with the package, in demo order."""
    base = resources.files("qnetinspect").joinpath("data", DATA_DIR)
    out = []
    for vm in DEMO_VMS:
        text = base.joinpath(f"{vm.name}.json").read_text(encoding="utf-8")
        out.append((vm.name, json.loads(text)))
    return out


# ----------------------------------------------------------------------------- recording
async def _record_one(vm: QemuProcess, name: str, what: str) -> dict[str, Any]:
    from qnetinspect.qmp.recording import record_state
    from qnetinspect.qmp.session import QmpSession

    async with QmpSession(str(vm.qmp_path)) as qmp:
        state = await record_state(qmp)
    return {
        "scenario": name,
        "description": what,
        "argv": vm.argv,
        "outcome": "ok",
        "exit_code": 0,
        **state,
    }


def record(outdir: Path) -> list[Path]:
    """Start the demo VMs, save one capture JSON per VM into ``outdir``, stop them."""
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="qni-rec-") as tmp, qemu_fleet() as vms:
        start_demo_vms(Path(tmp), vms)
        for vm, spec in zip(vms, DEMO_VMS, strict=True):
            capture = asyncio.run(_record_one(vm, spec.name, spec.what))
            # paths of a temp dir mean nothing elsewhere; keep the argv readable
            capture["argv"] = [a.replace(tmp, "/tmp/qni-demo") for a in capture["argv"]]
            path = outdir / f"{spec.name}.json"
            path.write_text(json.dumps(capture, indent=1) + "\n", encoding="utf-8")
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qnetinspect.demo")
    parser.add_argument(
        "--record",
        type=Path,
        required=True,
        metavar="DIR",
        help="write one capture JSON per demo VM into DIR",
    )
    args = parser.parse_args(argv)
    for path in record(args.record):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
