"""Benchmark: whole-process ``qnetinspect check --format json`` against a minimal raw client.

Starts N real, paused QEMUs (default 50), then times, in the same run and interleaved, two whole
processes over the same sockets:

- ``python -m qnetinspect check --format json SOCKETS...``
- ``python bench_check.py --raw SOCKETS...``: the minimal asyncio QMP client below, doing the
  same reads (greeting, qmp_capabilities, the 8 pipelined queries, then qom-get netdev/mac of
  every peripheral) and printing them as JSON; no parsing, no rules, no error mapping.

Prints the median of each and the ratio (target: <= 1.3 at N=50). Usage::

    python3 benchmarks/bench_check.py [-n 50] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FIRST = [
    ("query-name", None),
    ("query-version", None),
    ("query-status", None),
    ("human-monitor-command", {"command-line": "info network"}),
    ("human-monitor-command", {"command-line": "info usernet"}),
    ("qom-list", {"path": "/machine/peripheral"}),
    ("qom-list", {"path": "/machine/peripheral-anon"}),
    ("query-rx-filter", None),
]


# ----------------------------------------------------------------------------- raw client
class RawQmp:
    """Just enough QMP: newline-delimited JSON, replies matched by id."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.next_id = 0

    async def batch(self, commands: list[tuple[str, Any]]) -> list[Any]:
        ids = []
        for cmd, args in commands:
            self.next_id += 1
            msg: dict[str, Any] = {"execute": cmd, "id": self.next_id}
            if args:
                msg["arguments"] = args
            self.writer.write(json.dumps(msg).encode())
            ids.append(self.next_id)
        await self.writer.drain()
        replies: dict[int, Any] = {}
        while len(replies) < len(ids):
            line = await self.reader.readline()
            if not line:
                raise EOFError
            msg = json.loads(line)
            if "id" in msg:
                replies[msg["id"]] = msg.get("return", msg.get("error"))
        return [replies[i] for i in ids]


async def raw_one(path: str, timeout: float) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_unix_connection(path, limit=1 << 22)
        try:
            await reader.readline()  # greeting
            qmp = RawQmp(reader, writer)
            await qmp.batch([("qmp_capabilities", None)])
            first = await qmp.batch(FIRST)
            children = [
                f"{base}/{p['name']}"
                for base, listing in zip(("/machine/peripheral", "/machine/peripheral-anon"),
                                         first[5:7], strict=True)
                if isinstance(listing, list)
                for p in listing
                if str(p.get("type", "")).startswith("child<")
            ]
            second = await qmp.batch([
                ("qom-get", {"path": c, "property": prop})
                for c in children for prop in ("netdev", "mac")
            ]) if children else []
            return {"target": path, "first": first, "second": second}
        finally:
            writer.close()


async def raw_all(paths: list[str], timeout: float) -> list[Any]:
    results = await asyncio.gather(*(raw_one(p, timeout) for p in paths),
                                   return_exceptions=True)
    return [r if not isinstance(r, BaseException) else {"error": repr(r)} for r in results]


# ----------------------------------------------------------------------------- harness
def _net_args(i: int) -> list[str]:
    """A mix of topologies: the seed leak, -netdev pairs, hubport hubs."""
    from qnetinspect.vmrunner import free_loopback_port

    kind = i % 3
    if kind == 0:
        return ["-net", "nic", "-net", "user", "-net", "nic",
                "-net", f"socket,listen=127.0.0.1:{free_loopback_port()}"]
    if kind == 1:
        return ["-netdev", f"user,id=u{i}", "-device",
                f"virtio-net-pci,netdev=u{i},id=n{i},mac=52:54:00:be:{i // 256:02x}:{i % 256:02x}"]
    return ["-netdev", "user,id=uu", "-netdev", "hubport,id=hp0,hubid=1",
            "-device", f"e1000,netdev=hp0,id=e{i}", "-netdev", "hubport,id=hp1,hubid=1,netdev=uu"]


def _time(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, check=False)
    return time.perf_counter() - start, proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=50, help="QEMUs to start (default 50, max 100)")
    parser.add_argument("--rounds", type=int, default=7, help="timed runs of each (median)")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--raw", nargs="+", metavar="SOCKET", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw:  # the baseline process
        results = asyncio.run(raw_all(args.raw, args.timeout))
        json.dump(results, sys.stdout)
        return 0

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from qnetinspect.vmrunner import qemu_fleet, start_qemu

    n = max(1, min(args.n, 100))
    with tempfile.TemporaryDirectory(prefix="qni-bench-") as tmp, qemu_fleet() as fleet:
        t0 = time.perf_counter()
        for i in range(n):
            fleet.append(start_qemu(_net_args(i), Path(tmp), f"b{i}"))
        print(f"started {n} QEMUs in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        sockets = [str(vm.qmp_path) for vm in fleet]
        ours = [sys.executable, "-m", "qnetinspect", "check", "--format", "json",
                "--timeout", str(args.timeout), *sockets]
        raw = [sys.executable, str(Path(__file__).resolve()), "--raw", *sockets]
        _time(ours), _time(raw)  # warm the page cache and .pyc files
        t_ours: list[float] = []
        t_raw: list[float] = []
        for _ in range(args.rounds):
            dt, proc = _time(ours)
            doc = json.loads(proc.stdout)
            errors = [t["target"] for t in doc["targets"] if t["error"]]
            if errors:
                print(f"qnetinspect could not read {errors}", file=sys.stderr)
                return 1
            t_ours.append(dt)
            dt, proc = _time(raw)
            if any("error" in r for r in json.loads(proc.stdout)):
                print("raw client failed", file=sys.stderr)
                return 1
            t_raw.append(dt)
    m_ours, m_raw = statistics.median(t_ours), statistics.median(t_raw)
    print(f"N={n} rounds={args.rounds}")
    print(f"qnetinspect check --format json: median {m_ours * 1000:.0f} ms "
          f"(min {min(t_ours) * 1000:.0f}, max {max(t_ours) * 1000:.0f})")
    print(f"raw asyncio QMP client:          median {m_raw * 1000:.0f} ms "
          f"(min {min(t_raw) * 1000:.0f}, max {max(t_raw) * 1000:.0f})")
    print(f"ratio: {m_ours / m_raw:.2f} (target <= 1.3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
