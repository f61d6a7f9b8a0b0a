#!/usr/bin/env python3
"""Record real QEMU ``info network`` captures for fixtures/captures/<dir>/<scenario>.json.

Each scenario starts a real, paused, disk-less QEMU (qnetinspect.vmrunner) with its network
options, optionally starts companion QEMUs after it (the other end of a socket/stream), runs QMP
steps (netdev_del, netdev_add ...), and records the same JSON layout as the shared captures:
``scenario, description, qemu_version, argv, outcome, exit_code, info_network, extra_hmp
{"info usernet"}, qom {container: {list, nics: {id: {type, netdev, mac}}}}, rx_filter,
qemu_stderr, expected, chroot, pid, objects`` (+ ``startup_info_network, steps, final_qom`` for
scenarios with steps, and ``companions`` with their argv and info network).

Every QEMU is stopped by PID when its scenario ends. Network traffic stays on 127.0.0.1; taps
are created by QEMU itself (root, ``script=no``) and vanish with it.

    python3 scripts/capture.py                       # every scenario -> qemu-<ver>-local/
    python3 scripts/capture.py --list
    python3 scripts/capture.py -s tap_multiqueue -o /tmp/caps
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qnetinspect.errors import QNetInspectError
from qnetinspect.qmp.recording import answer, record_qom_nics
from qnetinspect.qmp.session import QmpSession
from qnetinspect.vmrunner import (
    QemuProcess,
    QemuStartError,
    find_qemu,
    free_loopback_port,
    start_qemu,
)

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "fixtures" / "captures"


@dataclass
class Ctx:
    """Per-run values a scenario's argv may use: a temp dir and free loopback ports."""

    dir: Path
    ports: list[int] = field(default_factory=list)

    def port(self, i: int) -> int:
        while len(self.ports) <= i:
            self.ports.append(free_loopback_port())
        return self.ports[i]


Argv = Callable[[Ctx], list[str]]


@dataclass
class Scenario:
    name: str
    description: str
    argv: Argv
    companions: list[Argv] = field(default_factory=list)  # started after the main VM
    steps: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    wait_for: str | None = None  # text to wait for in the main VM's info network (companions)


def _dev(driver: str, netdev: str, nic_id: str, *extra: str) -> list[str]:
    return ["-device", ",".join([driver, f"netdev={netdev}", f"id={nic_id}", *extra])]


# option/value pairs stay on one line
# fmt: off
SCENARIOS: list[Scenario] = [
    Scenario(
        "hubport_netdev_binding",
        "hub 1 made of a hubport binding a user netdev (hubport,netdev=u0) and a hubport NIC",
        lambda c: [
            "-netdev", "user,id=u0",
            "-netdev", "hubport,id=hb,hubid=1,netdev=u0",
            "-netdev", "hubport,id=hn,hubid=1",
            *_dev("e1000", "hn", "n0"),
        ],
    ),
    Scenario(
        "hubport_unattached",
        "a hubport with no peer next to a hub with a NIC (port prints name only)",
        lambda c: [
            "-netdev", "hubport,id=lonelyport,hubid=4",
            "-netdev", "hubport,id=hp1,hubid=4",
            *_dev("e1000", "hp1", "n4"),
        ],
    ),
    Scenario(
        "socket_mcast",
        "-netdev socket,mcast=230.0.0.1:PORT,localaddr=127.0.0.1 paired with a NIC",
        lambda c: [
            "-netdev", f"socket,id=sm,mcast=230.0.0.1:{c.port(0)},localaddr=127.0.0.1",
            *_dev("e1000", "sm", "smn"),
        ],
    ),
    Scenario(
        "socket_listen_connected",
        "socket listen in this VM, a second VM connects to it (connection from ...)",
        lambda c: [
            "-netdev", f"socket,id=sl,listen=127.0.0.1:{c.port(0)}",
            *_dev("e1000", "sl", "sln"),
        ],
        companions=[
            lambda c: [
                "-netdev", f"socket,id=sc,connect=127.0.0.1:{c.port(0)}",
                *_dev("e1000", "sc", "scn"),
            ]
        ],
        wait_for="connection from",
    ),
    Scenario(
        "stream_listen_connected_inet",
        "stream server inet in this VM, a second VM connects to it",
        lambda c: [
            "-netdev",
            f"stream,id=st0,server=on,addr.type=inet,addr.host=127.0.0.1,addr.port={c.port(0)}",
            *_dev("virtio-net-pci", "st0", "stn0"),
        ],
        companions=[
            lambda c: [
                "-netdev",
                f"stream,id=st1,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port={c.port(0)}",
                *_dev("virtio-net-pci", "st1", "stn1"),
            ]
        ],
        wait_for="tcp:",
    ),
    Scenario(
        "stream_unix_pair",
        "stream server on a unix socket in this VM, a second VM connects to it",
        lambda c: [
            "-netdev", f"stream,id=su0,server=on,addr.type=unix,addr.path={c.dir}/st.sock",
            *_dev("virtio-net-pci", "su0", "sun0"),
        ],
        companions=[
            lambda c: [
                "-netdev", f"stream,id=su1,server=off,addr.type=unix,addr.path={c.dir}/st.sock",
                *_dev("virtio-net-pci", "su1", "sun1"),
            ]
        ],
        wait_for="unix:",
    ),
    Scenario(
        "dgram_unix",
        "-netdev dgram with unix local and remote paths",
        lambda c: [
            "-netdev",
            f"dgram,id=du,local.type=unix,local.path={c.dir}/dga.sock,"
            f"remote.type=unix,remote.path={c.dir}/dgb.sock",
            *_dev("e1000", "du", "dun"),
        ],
    ),
    Scenario(
        "tap_multiqueue",
        "tap queues=2 (root-created qnitap0) + virtio-net-pci mq=on: one line pair per queue",
        lambda c: [
            "-netdev", "tap,id=mqt,ifname=qnitap0,script=no,downscript=no,queues=2,vhost=off",
            *_dev("virtio-net-pci", "mqt", "mqtn", "mq=on", "vectors=6"),
        ],
    ),
    Scenario(
        "netdev_del_attached",
        "netdev_del of a netdev attached to a NIC, then netdev_add of the same id (name twice)",
        lambda c: ["-netdev", "user,id=att0", *_dev("e1000", "att0", "attn")],
        steps=[
            ("netdev_del", {"id": "att0"}),
            ("netdev_add", {"type": "user", "id": "att0"}),
        ],
    ),
    Scenario(
        "odd_ids",
        "ids with '.', '-', '_' on a hubport hub and a NIC/netdev pair",
        lambda c: [
            "-netdev", "user,id=u.9-z_",
            "-netdev", "hubport,id=h9.b-c_,hubid=9,netdev=u.9-z_",
            "-netdev", "hubport,id=h9n,hubid=9",
            *_dev("e1000", "h9n", "n.1-x_"),
            "-netdev", "user,id=a-b.c_d",
            *_dev("rtl8139", "a-b.c_d", "N_2.y-"),
        ],
    ),
    Scenario(
        "nic_net_mix",
        "-nic user plus legacy -net nic/-net user plus a -netdev/-device pair",
        lambda c: [
            "-nic", "user,model=virtio-net-pci",
            "-net", "nic,model=rtl8139",
            "-net", "user",
            "-netdev", "user,id=du0",
            *_dev("e1000", "du0", "dn0"),
        ],
    ),
    Scenario(
        "filters_on_hub",
        "filters on a hubport and on a user netdev bound into the hub, and on a plain netdev",
        lambda c: [
            "-netdev", "hubport,id=hp0,hubid=0",
            *_dev("e1000", "hp0", "hn0"),
            "-netdev", "user,id=hu0",
            "-netdev", "hubport,id=hp1,hubid=0,netdev=hu0",
            "-object", "filter-buffer,id=fbhp,netdev=hp0,interval=1000",
            "-object", "filter-buffer,id=fbhu,netdev=hu0,interval=2000",
            "-netdev", "user,id=pu0",
            *_dev("e1000", "pu0", "pn0"),
            "-object", f"filter-dump,id=fdpu,netdev=pu0,file={c.dir}/d.pcap",
        ],
    ),
    Scenario(
        "legacy_user_and_dgram_via_hubport",
        "legacy hub 0 (nic+user) with a dgram backend bound in through hubport netdev=",
        lambda c: [
            "-net", "nic,model=e1000",
            "-net", "user",
            "-netdev",
            f"dgram,id=dg,local.type=inet,local.host=127.0.0.1,local.port={c.port(0)},"
            f"remote.type=inet,remote.host=127.0.0.1,remote.port={c.port(1)}",
            "-netdev", "hubport,id=hd,hubid=0,netdev=dg",
        ],
    ),
    Scenario(
        "l2tpv3_loopback",
        "l2tpv3 over udp on 127.0.0.1 paired with a NIC",
        lambda c: [
            "-netdev",
            f"l2tpv3,id=l2,src=127.0.0.1,dst=127.0.0.1,udp=on,srcport={c.port(0)},"
            f"dstport={c.port(1)},txsession=1,rxsession=1",
            *_dev("e1000", "l2", "l2n"),
        ],
    ),
    Scenario(
        "hostfwd_udp_and_hub",
        "legacy -net user with tcp and udp hostfwd on 127.0.0.1 (info usernet header Hub 0)",
        lambda c: [
            "-net", "nic,model=e1000",
            "-net",
            f"user,hostfwd=tcp:127.0.0.1:{c.port(0)}-:22,hostfwd=udp:127.0.0.1:{c.port(1)}-:53",
        ],
    ),
]
# fmt: on


async def _info(qmp: QmpSession) -> str:
    return await qmp.hmp("info network")


async def _record(sc: Scenario, vm: QemuProcess, companions: list[QemuProcess]) -> dict[str, Any]:
    async with QmpSession(str(vm.qmp_path), timeout=10) as qmp:
        version = await qmp.execute("query-version")
        if sc.wait_for:
            deadline = time.monotonic() + 5
            while sc.wait_for not in await _info(qmp) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        doc: dict[str, Any] = {"qemu_version": version}
        startup = await _info(qmp)
        qom = await record_qom_nics(qmp)
        if sc.steps:
            doc["startup_info_network"] = startup
            steps = []
            for cmd, args in sc.steps:
                before = await _info(qmp)
                (reply,) = await qmp.execute_many([(cmd, args)])
                result = answer(reply)
                steps.append(
                    {
                        "cmd": cmd,
                        "args": args,
                        "result": result,
                        "events": [],
                        "info_network_before": before,
                        "info_network_after": await _info(qmp),
                    }
                )
            doc["steps"] = steps
            doc["final_qom"] = await record_qom_nics(qmp)
        doc["info_network"] = await _info(qmp)
        doc["extra_hmp"] = {"info usernet": await qmp.hmp("info usernet")}
        doc["qom"] = qom
        (rx,) = await qmp.execute_many([("query-rx-filter", None)])
        doc["rx_filter"] = answer(rx)
        objects = await qmp.execute("qom-list", {"path": "/objects"})
        doc["objects"] = {"ok": True, "result": objects}
    comp_docs = []
    for cvm in companions:
        async with QmpSession(str(cvm.qmp_path), timeout=10) as cq:
            comp_docs.append({"argv": cvm.argv, "info_network": await _info(cq)})
    if comp_docs:
        doc["companions"] = comp_docs
    return doc


def run_scenario(sc: Scenario, workdir: Path, chroot: Path | None = None) -> dict[str, Any]:
    """Start the scenario's QEMUs, record, stop them all by PID; never leaves a process.

    With ``chroot``, QEMU runs inside that debootstrap tree and sees ``workdir`` relative to it.
    """
    ctx = Ctx(Path("/", workdir.relative_to(chroot)) if chroot else workdir)
    argv = sc.argv(ctx)
    doc: dict[str, Any] = {
        "scenario": sc.name,
        "description": sc.description,
        "qemu_version": None,
        "argv": [],
        "outcome": "ok",
        "exit_code": None,
        "info_network": None,
        "rx_filter": None,
        "qom": None,
        "expected": {},
        "qemu_stderr": "",
        "chroot": str(chroot or ""),
        "pid": None,
        "extra_hmp": {},
        "objects": None,
    }
    started: list[QemuProcess] = []
    try:
        try:
            vm = start_qemu(argv, workdir, sc.name, chroot=chroot)
        except QemuStartError as exc:
            doc.update(outcome="qemu_rejected", exit_code=exc.returncode, qemu_stderr=exc.output)
            doc["qemu_version"] = {"banner": _banner(chroot)}
            return doc
        started.append(vm)
        doc.update(argv=vm.argv, pid=vm.pid)
        for i, comp in enumerate(sc.companions):
            started.append(start_qemu(comp(ctx), workdir, f"{sc.name}-peer{i}", chroot=chroot))
        doc.update(asyncio.run(_record(sc, vm, started[1:])))
        doc["qemu_stderr"] = vm.output()
    finally:
        for p in started:
            p.stop()
    return doc


def _banner(chroot: Path | None = None) -> str:
    if chroot is not None:
        cmd = ["chroot", str(chroot), "qemu-system-x86_64", "--version"]
    else:
        exe = find_qemu()
        if exe is None:
            raise QemuStartError("qemu-system-x86_64 not found")
        cmd = [exe, "--version"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0] if out else ""


def _version_dir(chroot: Path | None = None) -> str:
    """``qemu-7.2.22-local`` from ``qemu-system-x86_64 --version`` (works for rejected runs too)."""
    m = re.search(r"version (\d+\.\d+\.\d+)", _banner(chroot))
    return f"qemu-{m[1] if m else 'unknown'}-local"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-s", "--scenario", action="append", help="only this scenario (repeatable)")
    ap.add_argument("-o", "--out", type=Path, help="output dir (default captures/qemu-V-local)")
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    ap.add_argument(
        "--chroot",
        type=Path,
        help="run the QEMU of another Debian release from this debootstrap tree "
        "(debootstrap --include=qemu-system-x86,ipxe-qemu bullseye DIR)",
    )
    args = ap.parse_args()
    chroot: Path | None = args.chroot.resolve() if args.chroot else None
    if args.list:
        for sc in SCENARIOS:
            print(f"{sc.name:36} {sc.description}")
        return 0
    chosen = [s for s in SCENARIOS if not args.scenario or s.name in args.scenario]
    unknown = set(args.scenario or ()) - {s.name for s in SCENARIOS}
    if unknown:
        print(f"capture: unknown scenario(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    failed = 0
    for sc in chosen:
        tmp_root = chroot / "tmp" if chroot else None
        workdir = Path(tempfile.mkdtemp(prefix="qnicap-", dir=tmp_root))
        try:
            doc = run_scenario(sc, workdir, chroot)
        except (QNetInspectError, OSError) as exc:
            print(f"capture: {sc.name}: {exc}", file=sys.stderr)
            failed += 1
            continue
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        out_dir = args.out or CAPTURES / _version_dir(chroot)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{sc.name}.json"
        path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{sc.name}: {doc['outcome']} -> {path}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
