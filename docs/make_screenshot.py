"""Regenerate docs/images/tui.svg: the TUI on the demo's recorded VMs, served by the replay server.

    python3 docs/make_screenshot.py [OUTPUT.svg]

No QEMU needed: the five captures in qnetinspect/data/demo/ are served over QMP by
ReplayFleet, and the real TUI (QNetInspectApp + Watcher) reads them like live VMs.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from qnetinspect.demo import bundled_captures
from qnetinspect.live import Watcher, default_evaluator
from qnetinspect.qmp.replay import ReplayFleet
from qnetinspect.tui.app import QNetInspectApp

OUT = Path(__file__).resolve().parent / "images" / "tui.svg"


async def shoot(sockets: list[Path], out: Path) -> None:
    source = Watcher([str(s) for s in sockets], interval=2.0, evaluator=default_evaluator())
    app = QNetInspectApp(source, title="qnetinspect demo", clock=lambda: "12:00:00")
    async with app.run_test(size=(160, 46)) as pilot:
        for _ in range(100):  # until every VM has been read once
            await pilot.pause(0.05)
            if all(r.snapshot is not None for r in source._records.values()):
                break
        await pilot.pause(0.3)
        svg = app.export_screenshot(title="qnetinspect demo")
    # the sockets live in a temp dir whose name changes each run
    svg = svg.replace(str(sockets[0].parent), "/run/qemu")
    out.write_text(svg, encoding="utf-8")


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    recorded = bundled_captures()
    with (
        tempfile.TemporaryDirectory(prefix="qni-shot-") as tmp,
        ReplayFleet([c for _, c in recorded], tmp, names=[n for n, _ in recorded]) as fleet,
    ):
        asyncio.run(shoot(fleet.sockets, out))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
