"""Benchmark: whole-process ``qnetinspect check --format json`` against minimal raw clients.

Starts N real, paused QEMUs (two NICs each on most: the seed leak, -netdev pairs, hubport hubs),
then times whole processes over the same sockets, interleaved round by round in the same run:

- ``qnetinspect check --format json SOCKETS...`` (run as ``python -m qnetinspect``);
- ``raw_client.py same SOCKETS...``: a minimal asyncio client doing the same reads;
- ``raw_client.py four SOCKETS...``: a minimal client doing only name, version, ``info network``
  and ``info usernet``.

Each is reported as min and median over ``--rounds``, wall time and CPU time (user + system of
the process: on a busy machine it moves far less than wall time), with ratios (min to min,
median to median; targets at N=60: <= 1.2 against same-reads, <= 1.6 against four-reads).
By default qnetinspect is installed as a user installs it (``pip install .`` into a fresh
virtualenv in a temp dir, not editable; the baselines run with the same interpreter); ``--here``
uses the current interpreter.

    python3 benchmarks/bench_check.py [-n 1 10 60 100] [--rounds 5] [--here] [--instructions]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _net_args(i: int) -> list[str]:
    """A mix of topologies: the seed leak, -netdev pairs, hubport hubs."""
    from qnetinspect.vmrunner import free_loopback_port

    kind = i % 3
    if kind == 0:
        return ["-net", "nic", "-net", "user", "-net", "nic",
                "-net", f"socket,listen=127.0.0.1:{free_loopback_port()}"]
    if kind == 1:
        return ["-netdev", f"user,id=u{i}", "-device",
                f"virtio-net-pci,netdev=u{i},id=n{i},mac=52:54:00:be:{i // 256:02x}:{i % 256:02x}",
                "-netdev", f"user,id=w{i}", "-device",
                f"e1000,netdev=w{i},id=e{i},mac=52:54:00:bf:{i // 256:02x}:{i % 256:02x}"]
    return ["-netdev", "user,id=uu", "-netdev", "hubport,id=hp0,hubid=1",
            "-device", f"e1000,netdev=hp0,id=e{i}", "-netdev", "hubport,id=hp1,hubid=1,netdev=uu"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's install has its .pyc files
    env.pop("PYTHONPATH", None)
    return env


def _install(tmp: Path) -> str:
    """``pip install .`` into a fresh venv; returns its python."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", str(ROOT)], check=True, env=_env(),
                   cwd=tmp)
    return python


def _time(cmd: list[str], cwd: Path) -> tuple[float, float, bytes]:
    """Wall time, CPU time (user + system, from the child's rusage) and stdout of one run.

    CPU time is what the process itself spent: on a busy machine it moves far less than wall
    time, so both are reported."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_env(),
                            cwd=cwd)
    out = proc.stdout.read() if proc.stdout else b""
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0  # reaped by wait4
    if proc.stdout:
        proc.stdout.close()
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime, out


def _commands(python: str, sockets: list[str], timeout: float) -> dict[str, list[str]]:
    return {
        "check": [python, "-m", "qnetinspect", "check", "--format", "json",
                  "--timeout", str(timeout), *sockets],
        "same": [python, str(HERE / "raw_client.py"), "same", *sockets],
        "four": [python, str(HERE / "raw_client.py"), "four", *sockets],
    }


def _instructions(cmd: list[str], cwd: Path, tmp: Path) -> int:
    """Instructions the process executed, counted by valgrind's callgrind: the same count for the
    same work whatever else the machine is doing."""
    out = tmp / "callgrind.out"
    proc = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *cmd],
                          capture_output=True, check=False, env=_env(), cwd=cwd, text=True)
    for line in proc.stderr.splitlines():
        if "Collected :" in line:
            return int(line.split(":")[-1])
    raise SystemExit(f"valgrind gave no count: {proc.stderr[-500:]}")


def _bench(python: str, sockets: list[str], rounds: int, timeout: float,
           cwd: Path) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    cmds = _commands(python, sockets, timeout)
    for cmd in cmds.values():  # warm the page cache and the .pyc files
        _time(cmd, cwd)
    times: dict[str, list[float]] = {k: [] for k in cmds}
    cpu: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(rounds):
        for name, cmd in cmds.items():
            dt, ct, out = _time(cmd, cwd)
            doc = json.loads(out)
            failed = ([t["target"] for t in doc["targets"] if t["error"]] if name == "check"
                      else doc["failed"])
            if failed:
                raise SystemExit(f"{name} could not read {failed}")
            times[name].append(dt)
            cpu[name].append(ct)
    return times, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, nargs="+", default=[60],
                        help="fleet sizes to measure (default 60; max 200)")
    parser.add_argument("--rounds", type=int, default=5, help="timed runs of each (default 5)")
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions with valgrind's callgrind (one run each; "
                             "independent of the machine's load) instead of timing")
    parser.add_argument("--here", action="store_true",
                        help="use this interpreter (e.g. an editable install) instead of a "
                             "fresh `pip install .`")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from qnetinspect.vmrunner import qemu_fleet, start_qemu

    sizes = sorted({max(1, min(n, 200)) for n in args.n})
    with tempfile.TemporaryDirectory(prefix="qni-bench-") as tmp_name, qemu_fleet() as fleet:
        tmp = Path(tmp_name)
        python = sys.executable if args.here else _install(tmp)
        t0 = time.perf_counter()
        for i in range(sizes[-1]):
            fleet.append(start_qemu(_net_args(i), tmp, f"b{i}"))
        print(f"started {sizes[-1]} QEMUs in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        sockets = [str(vm.qmp_path) for vm in fleet]
        if args.instructions:
            print(f"{'N':>4} {'check':>8} {'same-reads':>11} {'four-reads':>11} "
                  f"{'ratio same':>11} {'ratio four':>11}   (millions of instructions)")
            for n in sizes:
                counts = {
                    name: _instructions(cmd, tmp, tmp)
                    for name, cmd in _commands(python, sockets[:n], args.timeout * 20).items()
                }
                print(f"{n:>4} {counts['check'] / 1e6:>8.0f} {counts['same'] / 1e6:>11.0f} "
                      f"{counts['four'] / 1e6:>11.0f} {counts['check'] / counts['same']:>11.2f} "
                      f"{counts['check'] / counts['four']:>11.2f}", flush=True)
            return 0
        print(f"{'N':>4} {'':>5} {'check min/med':>14} {'same-reads':>11} {'four-reads':>11} "
              f"{'ratio same':>11} {'ratio four':>11}   (ms; ratios: min, median)")
        for n in sizes:
            for kind, t in zip(("wall", "cpu"), _bench(python, sockets[:n], args.rounds,
                                                        args.timeout, tmp), strict=True):
                mins = {k: min(v) for k, v in t.items()}
                meds = {k: statistics.median(v) for k, v in t.items()}
                cells = {k: f"{mins[k] * 1000:.0f}/{meds[k] * 1000:.0f}" for k in t}
                print(f"{n:>4} {kind:>5} {cells['check']:>14} {cells['same']:>11} "
                      f"{cells['four']:>11} "
                      f"{mins['check'] / mins['same']:>5.2f} {meds['check'] / meds['same']:>5.2f} "
                      f"{mins['check'] / mins['four']:>5.2f} {meds['check'] / meds['four']:>5.2f}",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
