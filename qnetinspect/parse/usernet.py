"""Parser of HMP ``info usernet`` (the slirp connection table of every ``user`` backend).

Shape (libslirp ``slirp_connection_info``, one block per user netdev)::

    Hub -1 (fw1):
      Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ
      TCP[HOST_FORWARD]   8               * 43011       10.0.2.15    22     0     0
      UDP[236 sec]       12       10.0.2.15 68           10.0.2.2    67     0     0

``Hub -1`` means "not on a hub"; QEMU before 1.2 printed ``VLAN <n>`` instead. ``*`` as the source
address means every host address. Every row is returned (host forwards and live connections:
``ESTABLISHED``, ``123 sec`` ...); the ``state`` field tells them apart. Lines of other shapes
(the column header, blank lines, anything unknown) are skipped. Pure, never raises.
"""

from __future__ import annotations

import re

from qnetinspect.models import UsernetForward

__all__ = ["parse_usernet"]

# leading whitespace: pasted text is often indented (QEMU prints the header in column 0)
_HEADER = re.compile(r"\s*(?:Hub|VLAN) (?P<hub>-?\d+) \((?P<netdev>.*)\):\s*\Z")
_ROW = re.compile(
    r"\s*(?P<proto>[A-Z0-9]+)\[(?P<state>[^\]]*)\]\s+(?P<fd>-?\d+)"
    r"\s+(?P<src>\S+)\s+(?P<sport>\d+)\s+(?P<dst>\S+)\s+(?P<dport>\d+)"
    r"\s+(?P<recvq>\d+)\s+(?P<sendq>\d+)\s*\Z"
)


def parse_usernet(text: str) -> tuple[UsernetForward, ...]:
    """Rows of ``info usernet`` in printed order, each tagged with its netdev and hub."""
    rows: list[UsernetForward] = []
    netdev, hub = "", -1
    for line in text.split("\n"):
        line = line.rstrip("\r")
        m = _HEADER.match(line)
        if m:
            netdev, hub = m["netdev"], int(m["hub"])
            continue
        m = _ROW.match(line)
        if m:
            rows.append(
                UsernetForward(
                    netdev=netdev,
                    hub=hub,
                    protocol=m["proto"],
                    state=m["state"],
                    src_addr=m["src"],
                    src_port=int(m["sport"]),
                    dst_addr=m["dst"],
                    dst_port=int(m["dport"]),
                )
            )
    return tuple(rows)
