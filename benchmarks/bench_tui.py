#!/usr/bin/env python3
"""Benchmark the TUI: keypress-to-redraw latency while many VMs refresh, and refresh round time.

All in one run, so the numbers compare against a baseline measured on the same machine and load:

1. keypress latency (headless ``App.run_test``, 180x50): time from posting a Key event (as the
   terminal driver does) until the first repaint that shows the moved tree cursor, including
   building the terminal output, pressing up/down in the tree. Baseline: the same app with 1
   idle VM. Then N = 100 and 200 VMs from an
   in-memory source republished every 0.5 s (a tenth of them with a changed topology, so the
   rules run and the tree rebuilds those nodes) while the keys are pressed. Target: p95 < 100 ms.
2. refresh time: the real ``Watcher`` (persistent QMP sessions) against N replay servers
   (``qnetinspect.qmp.replay.ReplayFleet``, in another thread): time until every VM is first
   shown connected, then the time of one ``refresh now`` round over all N, inside the TUI.

    python3 benchmarks/bench_tui.py [--sizes 100 200] [--presses 40]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "fixtures" / "captures" / "qemu-7.2.22"
SCENARIOS = (
    "legacy_seed_user_socket_listen",
    "netdev_user_virtio",
    "hubport_separated_hubs",
    "dup_macs",
    "legacy_nic_user",
    "tap_netdev",
    "socket_udp",
    "nic_models",
)
SIZE = (180, 50)


async def _snapshots(n: int) -> list[Any]:
    from qnetinspect.inventory import gather
    from qnetinspect.models import VmInfo
    from qnetinspect.targets import expand_targets

    files = [f"file:{CAPTURES / s}.json" for s in SCENARIOS]
    base = await gather(expand_targets(files))
    return [
        dataclasses.replace(
            base[i % len(base)], target=f"/run/bench/vm{i}.qmp", vm=VmInfo(name=f"vm{i:03d}"),
            live=True,
        )
        for i in range(n)
    ]


def _stats(samples: Sequence[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"median {statistics.median(ms):6.1f} ms  p95 {p95:6.1f} ms  max {ms[-1]:6.1f} ms"


async def _press_latency(n: int, presses: int, churn: bool) -> list[float]:
    from textual import events

    from qnetinspect.live import StaticSource
    from qnetinspect.tui.app import QNetInspectApp
    from qnetinspect.tui.widgets.vm_tree import VmTree

    snaps = await _snapshots(n)
    source = StaticSource(snaps, interval=0.5)
    app = QNetInspectApp(source)
    samples: list[float] = []
    async with app.run_test(size=SIZE) as pilot:
        with anyio.fail_after(120):
            while app.updates_seen < n:
                await pilot.pause(0.05)
        await pilot.pause()

        async def churner() -> None:
            """Every 0.5 s: republish every VM; change the topology of a tenth of them."""
            flip = 0
            while True:
                await anyio.sleep(0.5)
                flip += 1
                for i, snap in enumerate(snaps):
                    if i % 10 == flip % 10 and snap.topology is not None:
                        hubs = () if flip % 20 < 10 else snap.topology.hubs
                        source.replace(
                            dataclasses.replace(
                                snap, topology=dataclasses.replace(snap.topology, hubs=hubs)
                            )
                        )
                source.refresh_now()

        tree = app.query_one(VmTree)
        shown: list[tuple[float, int]] = []  # (when, tree cursor line) of every repaint
        display = app._display

        def timed_display(screen: Any, renderable: Any) -> None:
            # headless skips writing to a terminal: build the escape codes anyway, as a real
            # terminal would need them, so the cost of the repaint is in the number
            if renderable is not None and hasattr(renderable, "render_segments"):
                renderable.render_segments(app.console)
            shown.append((time.perf_counter(), tree.cursor_line))
            display(screen, renderable)

        app._display = timed_display  # type: ignore[method-assign]
        tree.cursor_line = 0  # down, down, up, up from the first line
        await pilot.pause()
        async with anyio.create_task_group() as tg:
            if churn:
                tg.start_soon(churner)
                await anyio.sleep(1.0)  # let the churn reach a steady state
            for i in range(presses):
                key = "down" if i % 4 < 2 else "up"
                want = tree.cursor_line + (1 if key == "down" else -1)
                del shown[:]
                start = time.perf_counter()
                app.post_message(events.Key(key, None))  # what the terminal driver does
                with anyio.fail_after(30):
                    while not any(line == want for _, line in shown):
                        await anyio.sleep(0.001)
                samples.append(next(t for t, line in shown if line == want) - start)
                await anyio.sleep(0.05)  # a person does not type faster
            tg.cancel_scope.cancel()
    return samples


async def _refresh_time(n: int) -> tuple[float, float]:
    from qnetinspect.live import VmState, Watcher, default_reader
    from qnetinspect.qmp.replay import ReplayFleet
    from qnetinspect.tui.app import QNetInspectApp

    captures = [CAPTURES / f"{SCENARIOS[i % len(SCENARIOS)]}.json" for i in range(n)]
    with tempfile.TemporaryDirectory(prefix="qni-bt-") as d, ReplayFleet(captures, d) as fleet:
        reads = 0

        async def reader(session: Any, target: Any) -> Any:
            nonlocal reads
            snapshot = await default_reader(session, target)
            reads += 1
            return snapshot

        source = Watcher([str(p) for p in fleet.sockets], interval=3600, reader=reader)
        app = QNetInspectApp(source)
        async with app.run_test(size=SIZE) as pilot:
            start = time.perf_counter()

            def connected() -> bool:
                return all(vm.state is VmState.CONNECTED for vm in app.model.vms.values())

            with anyio.fail_after(120):
                while not connected():
                    await pilot.pause(0.01)
            await pilot.pause()
            first = time.perf_counter() - start
            seen = reads
            start = time.perf_counter()
            source.refresh_now()
            with anyio.fail_after(120):
                while reads < seen + n:
                    await pilot.pause(0.01)
            await pilot.pause()
            again = time.perf_counter() - start
    return first, again


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 200])
    parser.add_argument("--presses", type=int, default=40)
    args = parser.parse_args(argv)

    print("keypress-to-redraw (180x50, headless):")
    base = anyio.run(_press_latency, 1, args.presses, False)
    print(f"  baseline, 1 idle VM        {_stats(base)}")
    worst = 0.0
    for n in args.sizes:
        idle = anyio.run(_press_latency, n, args.presses, False)
        busy = anyio.run(_press_latency, n, args.presses, True)
        print(f"  {n:4d} VMs, idle            {_stats(idle)}")
        print(f"  {n:4d} VMs, refreshing      {_stats(busy)}   "
              f"median ratio to baseline {statistics.median(busy) / statistics.median(base):.1f}x")
        worst = max(worst, sorted(busy)[round(0.95 * (len(busy) - 1))])
    print("refresh over QMP (Watcher + replay servers, inside the TUI):")
    for n in args.sizes:
        first, again = anyio.run(_refresh_time, n)
        print(f"  {n:4d} VMs: all connected and shown {first:6.2f} s, "
              f"one refresh-now round {again:6.2f} s")
    verdict = "OK" if worst < 0.100 else "OVER"
    print(f"target p95 < 100 ms while refreshing: {worst * 1000:.1f} ms -> {verdict}")
    return 0 if worst < 0.100 else 1


if __name__ == "__main__":
    sys.exit(main())
