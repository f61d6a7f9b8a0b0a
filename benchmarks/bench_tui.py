#!/usr/bin/env python3
"""Benchmark the TUI: keypress-to-redraw latency while many VMs refresh, and refresh round time.

All in one run, so the numbers compare against a baseline measured on the same machine and load:

1. keypress latency (headless ``App.run_test``, 180x50): time from posting a Key event (as the
   terminal driver does) until the first repaint that shows the moved tree cursor, including
   building the terminal output, pressing up/down in the tree. Baseline: the same app with 1
   idle VM. Then, for N = 100 and 200 VMs: idle (in-memory snapshots); the target case, the
   real ``Watcher`` reading every VM over QMP every 2 s from N replay servers
   (``qnetinspect.qmp.replay.ReplayFleet`` in a child process), target p95 < 100 ms; and
   "heavy churn": in-memory snapshots, a tenth of the VMs changing topology every 0.5 s
   (rules, tree rebuilds, change log), far more change than a real fleet shows.
2. refresh time: the real ``Watcher`` (persistent QMP sessions) against the same replay
   servers: time until every VM is first shown connected, then the time of one
   ``refresh now`` round over all N, inside the TUI.

    python3 benchmarks/bench_tui.py [--sizes 100 200] [--presses 40]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
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


@contextlib.contextmanager
def _served(n: int) -> Iterator[list[str]]:
    """N replay servers in a child process (so their CPU is not in the measured process)."""
    captures = [str(CAPTURES / f"{SCENARIOS[i % len(SCENARIOS)]}.json") for i in range(n)]
    with tempfile.TemporaryDirectory(prefix="qni-bt-") as d:
        code = (
            "import sys; from qnetinspect.qmp.replay import ReplayFleet\n"
            f"with ReplayFleet({captures!r}, {d!r}) as f:\n"
            "    print('ready', flush=True); sys.stdin.read()\n"
        )
        child = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
            yield [f"{d}/vm{i}.qmp" for i in range(n)]
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(30)


def _stats(samples: Sequence[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"median {statistics.median(ms):6.1f} ms  p95 {p95:6.1f} ms  max {ms[-1]:6.1f} ms"


async def _press_latency(
    n: int, presses: int, churn: bool, sockets: Sequence[str] = ()
) -> list[float]:
    from textual import events

    from qnetinspect.live import StaticSource
    from qnetinspect.tui.app import QNetInspectApp
    from qnetinspect.tui.widgets.vm_tree import VmTree

    snaps = await _snapshots(n)
    source: Any = StaticSource(snaps, interval=0.5)
    if sockets:  # real sessions: every VM read over QMP every 2 s while the keys are pressed
        from qnetinspect.live import Watcher

        source = Watcher(list(sockets), interval=2.0)
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
                before = tree.cursor_line
                del shown[:]
                start = time.perf_counter()
                app.post_message(events.Key(key, None))  # what the terminal driver does
                with anyio.fail_after(30):
                    while not any(line != before for _, line in shown):
                        await anyio.sleep(0.001)
                samples.append(next(t for t, line in shown if line != before) - start)
                await anyio.sleep(0.05)  # a person does not type faster
            tg.cancel_scope.cancel()
    return samples


async def _refresh_time(n: int) -> tuple[float, float]:
    from qnetinspect.live import VmState, Watcher, default_reader
    from qnetinspect.tui.app import QNetInspectApp

    with _served(n) as sockets:
        reads = 0

        async def reader(session: Any, target: Any) -> Any:
            nonlocal reads
            snapshot = await default_reader(session, target)
            reads += 1
            return snapshot

        source = Watcher(sockets, interval=3600, reader=reader)
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

    print("keypress-to-redraw (180x50, headless; ratio = median / baseline median):")
    base = anyio.run(_press_latency, 1, args.presses, False)
    print(f"  baseline, 1 idle VM            {_stats(base)}")
    worst = 0.0

    def row(title: str, samples: list[float]) -> None:
        ratio = statistics.median(samples) / statistics.median(base)
        print(f"  {title:30s} {_stats(samples)}   {ratio:.1f}x")

    for n in args.sizes:
        row(f"{n} VMs, idle", anyio.run(_press_latency, n, args.presses, False))
        with _served(n) as sockets:
            live = anyio.run(_press_latency, n, args.presses, False, sockets)
        row(f"{n} VMs, QMP refresh every 2 s", live)
        worst = max(worst, sorted(live)[round(0.95 * (len(live) - 1))])
        row(f"{n} VMs, heavy churn", anyio.run(_press_latency, n, args.presses, True))
    print("refresh over QMP (Watcher + replay servers in a child process, inside the TUI):")
    for n in args.sizes:
        first, again = anyio.run(_refresh_time, n)
        print(f"  {n:4d} VMs: all connected and shown {first:6.2f} s, "
              f"one refresh-now round {again:6.2f} s")
    verdict = "OK" if worst < 0.100 else "OVER"
    print(f"target p95 < 100 ms while QMP refreshes run: {worst * 1000:.1f} ms -> {verdict}")
    return 0 if worst < 0.100 else 1

if __name__ == "__main__":
    sys.exit(main())
