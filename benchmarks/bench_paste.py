#!/usr/bin/env python3
"""Fuzz the reading of pasted ``info network`` text, and check that its time per line stays flat.

1. ``-n`` fuzzed pasted texts (default 10^5): pasted forms of the real captures (the corpus of
   tests/paste_corpus.py) with random damage (characters inserted from an alphabet of paste
   artifacts, lines cut, duplicated, swapped, dropped, the text truncated) go through the whole
   reading: decode -> parse_info_network(pasted=True) -> unreadable_reason -> the rules. Any
   exception is a failure (exit 1, the text that raised is printed).
2. Linearity: texts of 1x, 10x and 100x the lines (plain pasted output, and adversarial
   shapes: long lines cut into pieces, a prompt and echo on every other line, many outputs,
   garbage; and one line of 1x, 10x, 100x the length, per KB) are read; the time per line at
   each size is reported as a ratio to the smallest size, next to ``str.splitlines`` on the
   same text as the baseline measured in the same run.

    python3 benchmarks/bench_paste.py [-n 100000] [--seed 1] [--lines 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import timeit
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qnetinspect.parse import parse_info_network
from qnetinspect.parse.decode import decode_text
from qnetinspect.parse.paste import unreadable_reason
from qnetinspect.rules import evaluate_topology
from tests.paste_corpus import (
    BLOCK,
    ENCODING,
    INNER,
    OUTER,
    WRAP,
    captures,
    render,
)

ARTIFACTS = [
    " ", "  ", "\t", "\u00a0", "\\", " \\ ", ">", "> ", "(qemu) ", "qm> ", "info network", ":",
    ": ", ",", "=", "\r", "\n", "{", '"', "```", "- ", "1. ", "\ufeff", "\u200b", "hub 0",
    "type=nic,", "index=0,", "filters:", "  - ", "\xff", "#", "$ ",
]


def _damage(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(0, 4)):
        op = rng.randrange(6)
        i = rng.randrange(len(lines))
        if op == 0:
            pos = rng.randint(0, len(lines[i]))
            lines[i] = lines[i][:pos] + rng.choice(ARTIFACTS) + lines[i][pos:]
        elif op == 1:
            pos = rng.randint(0, len(lines[i]))
            lines[i : i + 1] = [lines[i][:pos], lines[i][pos:]]
        elif op == 2:
            lines.insert(i, lines[i])
        elif op == 3 and len(lines) > 1:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 4 and len(lines) > 1:
            del lines[i]
        else:
            lines[i] = lines[i][: rng.randint(0, len(lines[i]))]
    return "\n".join(lines)


def _read(data: bytes) -> None:
    topology = parse_info_network(decode_text(data), pasted=True)
    if unreadable_reason(topology) is None:
        evaluate_topology(topology)


def fuzz(n: int, seed: int) -> int:
    rng = random.Random(seed)
    texts = [t for _, t in captures()]
    groups = [sorted(INNER), sorted(WRAP), sorted(BLOCK), sorted(OUTER)]
    encodings = sorted(ENCODING)
    started = time.perf_counter()
    for k in range(n):
        layers = [rng.choice(g) for g in groups if rng.random() < 0.5]
        text = render(rng.choice(texts), layers, "lf").decode()
        data = _damage(rng, text).encode("utf-8", "surrogatepass")
        data = ENCODING[rng.choice(encodings)](data.decode("utf-8", "replace"))
        if rng.random() < 0.05:
            data = data[: rng.randint(0, len(data))]
        try:
            _read(data)
        except Exception:
            traceback.print_exc()
            print(f"fuzz text #{k} raised: {data!r}", file=sys.stderr)
            return 1
    took = time.perf_counter() - started
    print(f"fuzz: {n} pasted texts read, no exception, {took:.1f} s ({took / n * 1e6:.0f} us/text)")
    return 0


def _shapes(lines: int) -> dict[str, str]:
    seed = next(t for name, t in captures()
                if name.endswith("7.2.22/legacy_seed_user_socket_listen"))
    block = render(seed, ["mail-quote", "qemu-prompt-echo"], "lf").decode()
    per = block.count("\n")
    # long lines (a filter with many properties) cut by a terminal at 64 columns: 8 pieces each
    long_line = "f0: index=0,type=tap,ifname=tap0,script=" + "/a" * 220
    cut = "\n".join(long_line[i : i + 64] for i in range(0, len(long_line), 64)) + "\n"
    return {
        "pasted outputs": block * max(1, lines // per),
        "lines cut in pieces": cut * max(1, lines // cut.count("\n")),
        "prompt + echo lines": "(qemu) info network\n(qemu) \n" * (lines // 2),
        "garbage": "".join(random.Random(lines).choice(ARTIFACTS) + "x\n" for _ in range(lines)),
    }


def linearity(base: int, repeat: int) -> None:
    print(f"\nlinearity (time per line at 10x and 100x, as a ratio to {base} lines; "
          "str.splitlines is the baseline)")
    for name in _shapes(base):
        row = []
        for scale in (1, 10, 100):
            text = _shapes(base * scale)[name]
            n = max(1, text.count("\n"))

            def best(fn: Callable[[], object]) -> float:
                return min(timeit.repeat(fn, number=1, repeat=repeat))

            t_read = best(lambda: parse_info_network(text, pasted=True))  # noqa: B023
            t_split = best(lambda: text.splitlines())  # noqa: B023
            row.append((n, t_read / n, t_split / n))
        first = row[0][1]
        cells = "  ".join(f"{n:>7} lines {t * 1e6:7.2f} us/line (x{t / first:4.2f}, "
                          f"splitlines x{t / s:5.0f})" for n, t, s in row)
        print(f"  {name:24} {cells}")
    # one line that grows: its time per KB must stay flat too (a long value of repeated keys
    # once took time quadratic in its length)
    row = []
    for scale in (1, 10, 100):
        text = "n0: index=0,type=nic," + "a=b," * (base * 12 * scale)
        t = min(timeit.repeat(lambda: parse_info_network(text, pasted=True),  # noqa: B023
                              number=1, repeat=repeat))
        row.append((len(text) / 1024, t / (len(text) / 1024)))
    first = row[0][1]
    cells = "  ".join(f"{kb:7.0f} KB {t * 1e6:7.2f} us/KB (x{t / first:4.2f})" for kb, t in row)
    print(f"  {'one long line':24} {cells}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("-n", type=int, default=100_000, help="fuzzed texts (default 10^5)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lines", type=int, default=1000, help="smallest size of the linearity run")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    code = fuzz(args.n, args.seed)
    linearity(args.lines, args.repeat)
    return code


if __name__ == "__main__":
    sys.exit(main())
