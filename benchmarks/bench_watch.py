#!/usr/bin/env python3
"""Benchmark: watching N real paused QEMUs in the default mode (a brief session per refresh).

Starts N real QEMUs (default 200, ``-M pc -S``), then measures, in the same run:

1. one refresh round: the ``Watcher`` (brief sessions: connect, negotiate, read everything,
   disconnect, then the rules) asked to refresh every VM at once, until every VM was read,
   against the minimal raw asyncio client of ``raw_client.py`` doing the same brief sessions
   (greeting, capabilities, the pipelined queries, qom-get of each peripheral) over the same
   sockets; interleaved rounds, medians, ratio (target <= 1.3);
2. the fraction of time each monitor is held (from our connect to our disconnect) while the
   Watcher refreshes every VM every 2 s (target < 5 %, so others get the monitor);
3. keypress-to-redraw p95 in the TUI while it watches the N QEMUs every 2 s
   (``bench_tui._press_latency``; target < 100 ms).

    python3 benchmarks/bench_watch.py [-n 200] [--rounds 5] [--hold-seconds 20] [--presses 40]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import anyio

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_check import _net_args  # noqa: E402  (sibling scripts)
from raw_client import one as raw_one  # noqa: E402


async def raw_all(paths: list[str], timeout: float) -> list[Any]:
    """The raw client's brief sessions ("same" reads as ours), all at once."""
    import asyncio

    async def bounded(path: str) -> Any:
        async with asyncio.timeout(timeout):
            return await raw_one(path, "same")

    results = await asyncio.gather(*(bounded(p) for p in paths), return_exceptions=True)
    return [{"error": repr(r)} if isinstance(r, BaseException) else {"read": r}
            for r in results]


def _quiet_loop() -> None:
    """Sessions cut short when the benchmark stops leave qemu.qmp futures nobody reads; asyncio
    would print each at exit (the TUI and `check` do not show this: they close them)."""
    import asyncio

    asyncio.get_running_loop().set_exception_handler(lambda loop, context: None)


async def _watch_rounds(sockets: list[str], rounds: int, raw_times: list[float],
                        timeout: float) -> list[float]:
    """Refresh-now rounds of a brief-session Watcher, each followed by a raw-client round."""
    from qnetinspect.live import Watcher, default_reader

    reads = 0
    failed: list[str] = []

    async def reader(session: Any, target: Any) -> Any:
        nonlocal reads
        snapshot = await default_reader(session, target)
        reads += 1
        return snapshot

    def sink(update: Any) -> None:
        if getattr(update, "error", None) is not None:
            failed.append(f"{update.target}: {update.error.kind}")

    _quiet_loop()
    times: list[float] = []
    watcher = Watcher(sockets, interval=3600, timeout=timeout, reader=reader)
    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher.run, sink)
        with anyio.fail_after(300):
            while reads < len(sockets):
                await anyio.sleep(0.01)
        for _ in range(rounds):
            await anyio.sleep(0.5)  # settle (the fleet pass of the rules)
            seen = reads
            start = time.perf_counter()
            watcher.refresh_now()
            with anyio.fail_after(300):
                while reads < seen + len(sockets):
                    await anyio.sleep(0.002)
            times.append(time.perf_counter() - start)
            start = time.perf_counter()
            results = await raw_all(sockets, timeout)
            raw_times.append(time.perf_counter() - start)
            if any("error" in r for r in results):
                raise SystemExit("raw client failed")
        tg.cancel_scope.cancel()
    if failed:
        raise SystemExit(f"watcher could not read: {failed[:5]}")
    return times


async def _held_fraction(sockets: list[str], seconds: float, timeout: float) -> list[float]:
    """Per monitor: time inside our sessions / wall time, watching every 2 s."""
    from qnetinspect.live import Watcher
    from qnetinspect.qmp.session import QmpSession

    held: dict[str, float] = defaultdict(float)

    class Timed(QmpSession):
        started = 0.0

        async def open(self) -> None:
            self.started = time.perf_counter()  # from our connect ...
            await super().open()

        async def close(self) -> None:
            await super().close()
            held[self.target] += time.perf_counter() - self.started  # ... to our disconnect

    def factory(address: Any, target: str, t: float) -> Any:
        return Timed(address, timeout=t, target=target)

    _quiet_loop()
    watcher = Watcher(sockets, interval=2.0, timeout=timeout, session_factory=factory)
    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher.run, lambda update: None)
        await anyio.sleep(4.0)  # past the first, staggered reads
        held.clear()
        start = time.perf_counter()
        await anyio.sleep(seconds)
        elapsed = time.perf_counter() - start
        tg.cancel_scope.cancel()
    return [held[s] / elapsed for s in sockets]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=200, help="QEMUs to start (default 200)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--hold-seconds", type=float, default=20.0)
    parser.add_argument("--presses", type=int, default=40)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=None,
                        help="brief sessions open at once (default: the Watcher's)")
    args = parser.parse_args()
    if args.concurrency:
        import qnetinspect.live

        qnetinspect.live.BRIEF_CONCURRENCY = args.concurrency

    from bench_tui import _press_latency, _stats

    from qnetinspect.vmrunner import qemu_fleet, start_qemu

    n = max(1, args.n)
    with tempfile.TemporaryDirectory(prefix="qni-bw-") as tmp, qemu_fleet() as fleet:
        t0 = time.perf_counter()
        for i in range(n):
            fleet.append(start_qemu(_net_args(i), Path(tmp), f"w{i}"))
        print(f"started {n} QEMUs in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        sockets = [str(vm.qmp_path) for vm in fleet]

        raw: list[float] = []
        ours = anyio.run(_watch_rounds, sockets, args.rounds, raw, args.timeout)
        m_ours, m_raw = statistics.median(ours), statistics.median(raw)
        print(f"N={n} real paused QEMUs, default mode (brief sessions)")
        print(f"1. refresh round, Watcher:        median {m_ours * 1000:6.0f} ms "
              f"(min {min(ours) * 1000:.0f}, max {max(ours) * 1000:.0f})")
        print(f"   same brief sessions, raw client: median {m_raw * 1000:6.0f} ms "
              f"(min {min(raw) * 1000:.0f}, max {max(raw) * 1000:.0f})")
        ratio = m_ours / m_raw
        print(f"   ratio {ratio:.2f} (target <= 1.3)")

        fractions = anyio.run(_held_fraction, sockets, args.hold_seconds, args.timeout)
        worst = max(fractions)
        print(f"2. monitor held, interval 2 s over {args.hold_seconds:g} s: median "
              f"{statistics.median(fractions) * 100:.2f} %, max {worst * 100:.2f} % "
              "(target < 5 %)")

        presses = anyio.run(_press_latency, n, args.presses, False, sockets)
        p95 = sorted(presses)[round(0.95 * (len(presses) - 1))]
        print(f"3. keypress to redraw while watching every 2 s: {_stats(presses)} "
              "(target p95 < 100 ms)")
    ok = ratio <= 1.3 and worst < 0.05 and p95 < 0.100
    print("verdict:", "OK" if ok else "OVER")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
