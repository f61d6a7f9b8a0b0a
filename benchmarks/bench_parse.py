#!/usr/bin/env python3
"""Time parse_info_network on a big synthetic topology against baselines in the same run.

The baselines touch the same text with plain string operations (``str.splitlines``, and a naive
``split(": ")`` of every line); the ratios say how much the real parser costs on top of merely
reading the lines, independent of the machine's speed.

    python3 benchmarks/bench_parse.py [--hubs 64] [--ports 16] [--pairs 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import timeit

from qnetinspect.models import Filter, Hub, HubPort, NetClient, Topology
from qnetinspect.parse import parse_info_network
from qnetinspect.report.info_network import render_info_network


def _nic(name: str, i: int) -> NetClient:
    mac = f"52:54:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"
    return NetClient(name, "nic", info_raw=f"model=virtio-net-pci,macaddr={mac}")


def synthetic(hubs: int, ports: int, pairs: int) -> Topology:
    """Hubs full of NICs plus a user and a socket backend, then NIC/backend pairs with filters."""
    hub_list = []
    for h in range(hubs):
        members = [
            HubPort(f"hub{h}port{p}", _nic(f"n{h}.{p}", h * ports + p)) for p in range(ports)
        ]
        members.append(
            HubPort(f"hub{h}nat", NetClient(f"u{h}", "user", info_raw="net=10.0.2.0,restrict=off"))
        )
        members.append(
            HubPort(
                f"hub{h}sock",
                NetClient(f"s{h}", "socket", info_raw="socket: connect to 127.0.0.1:5000"),
            )
        )
        hub_list.append(Hub(h, tuple(members)))
    clients = []
    for i in range(pairs):
        filt = (
            Filter(
                f"fb{i}",
                "filter-buffer",
                raw=f"type=filter-buffer,interval=1000,netdev=t{i},queue=all",
            ),
        )
        backend = NetClient(
            f"t{i}", "tap", info_raw=f"ifname=tap{i},script=no,downscript=no", filters=filt
        )
        clients.append(NetClient(f"p{i}", "nic", info_raw=_nic("x", i).info_raw, peer=backend))
    return Topology(hubs=tuple(hub_list), clients=tuple(clients))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hubs", type=int, default=64)
    ap.add_argument("--ports", type=int, default=16)
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    text = render_info_network(synthetic(args.hubs, args.ports, args.pairs)).replace("\n", "\r\n")
    lines = text.count("\n")
    parsed = parse_info_network(text)
    assert not parsed.unparsed, "the synthetic text must parse cleanly"

    def best(fn: object) -> float:
        return min(timeit.repeat(fn, number=1, repeat=args.repeat))  # type: ignore[arg-type]

    t_parse = best(lambda: parse_info_network(text))
    t_split = best(lambda: text.splitlines())
    t_naive = best(lambda: [ln.split(": ", 1) for ln in text.split("\n")])
    print(f"text: {lines} lines, {len(text)} bytes")
    print(f"parse_info_network : {t_parse * 1e3:9.2f} ms  ({t_parse / lines * 1e6:.2f} us/line)")
    print(f"str.splitlines     : {t_split * 1e3:9.2f} ms")
    print(f"naive split(': ')  : {t_naive * 1e3:9.2f} ms")
    print(f"ratio parse/splitlines   : {t_parse / t_split:8.1f}")
    print(f"ratio parse/naive split  : {t_parse / t_naive:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
