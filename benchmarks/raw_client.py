"""The baseline of bench_check.py: a minimal asyncio QMP client, as lean as a client can be.

It imports only asyncio, json and sys (no argparse, no statistics), does no parsing, no rules, no
error mapping, and prints one summary line instead of a document. Two modes:

- ``same SOCKET...``: the reads ``qnetinspect check`` does (greeting, qmp_capabilities, the 6
  pipelined queries, then ``netdev``/``mac`` of every peripheral child; the fleet has only NICs);
- ``four SOCKET...``: only the four reads the mission needs (name, version, ``info network``,
  ``info usernet``), pipelined after the negotiation.
"""

import asyncio
import json
import sys

SAME = [
    ("query-name", None),
    ("query-status", None),
    ("human-monitor-command", {"command-line": "info network"}),
    ("human-monitor-command", {"command-line": "info usernet"}),
    ("qom-list", {"path": "/machine/peripheral"}),
    ("qom-list", {"path": "/machine/peripheral-anon"}),
]
FOUR = [SAME[0], ("query-version", None), SAME[2], SAME[3]]


async def batch(reader, writer, commands, first_id):
    """Send the commands in one write; return their replies in order (matched by id)."""
    out = []
    for n, (cmd, args) in enumerate(commands):
        msg = {"execute": cmd, "id": first_id + n}
        if args:
            msg["arguments"] = args
        out.append(json.dumps(msg))
    writer.write("".join(out).encode())
    replies = {}
    while len(replies) < len(commands):
        line = await reader.readline()
        if not line:
            raise EOFError("peer closed")
        msg = json.loads(line)
        if "id" in msg:
            replies[msg["id"]] = msg.get("return", msg.get("error"))
    return [replies[first_id + n] for n in range(len(commands))]


async def one(path, mode):
    reader, writer = await asyncio.open_unix_connection(path, limit=1 << 20)
    try:
        await reader.readline()  # greeting
        await batch(reader, writer, [("qmp_capabilities", None)], 0)
        if mode == "four":
            return len(await batch(reader, writer, FOUR, 1))
        first = await batch(reader, writer, SAME, 1)
        children = [
            base + "/" + p["name"]
            for base, listing in zip(("/machine/peripheral", "/machine/peripheral-anon"),
                                     first[4:6], strict=True)
            if isinstance(listing, list)
            for p in listing
            if str(p.get("type", "")).startswith("child<")
        ]
        second = [("qom-get", {"path": c, "property": prop})
                  for c in children for prop in ("netdev", "mac")]
        return len(first) + (len(await batch(reader, writer, second, 100)) if second else 0)
    finally:
        writer.close()


async def main(mode, paths):
    results = await asyncio.gather(*(one(p, mode) for p in paths), return_exceptions=True)
    failed = [p for p, r in zip(paths, results, strict=True) if isinstance(r, BaseException)]
    print(json.dumps({"targets": len(paths), "failed": failed}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2:])))
