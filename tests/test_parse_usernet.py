"""Unit tests of parse_usernet (HMP ``info usernet``)."""

from __future__ import annotations

from qnetinspect.models import UsernetForward
from qnetinspect.parse import parse_usernet

REAL = (
    "Hub -1 (fw1):\r\n"
    "  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ\r\n"
    "  TCP[HOST_FORWARD]   8               * 43011       10.0.2.15    22     0     0\r\n"
)


def test_wildcard_host_forward() -> None:
    """#19: a forward on every host address has source '*' and all_addresses True."""
    (row,) = parse_usernet(REAL)
    assert row == UsernetForward("fw1", -1, "TCP", "HOST_FORWARD", "*", 43011, "10.0.2.15", 22)
    assert row.all_addresses


def test_several_blocks_udp_and_connection_states() -> None:
    """Rows are tagged with their block's netdev/hub; UDP, ESTABLISHED and 'N sec' states kept."""
    text = (
        "Hub 0 (#net123):\n"
        "  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ\n"
        "  TCP[ESTABLISHED]   25       10.0.2.15 50000       127.0.0.1    80     0     0\n"
        "  UDP[236 sec]       12       10.0.2.15    68        10.0.2.2    67     0     0\n"
        "VLAN 1 (user.1):\n"
        "  UDP[HOST_FORWARD]   8       127.0.0.1 42010       10.0.2.15    53     0     0\n"
    )
    rows = parse_usernet(text)
    assert [(r.netdev, r.hub, r.protocol, r.state) for r in rows] == [
        ("#net123", 0, "TCP", "ESTABLISHED"),
        ("#net123", 0, "UDP", "236 sec"),
        ("user.1", 1, "UDP", "HOST_FORWARD"),
    ]
    assert not rows[2].all_addresses


def test_unknown_lines_are_skipped() -> None:
    """Garbage and truncated rows give no row and no exception."""
    assert parse_usernet("junk\n  TCP[HOST_FORWARD]   8  *\n\x00\xff") == ()
