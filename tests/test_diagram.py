"""render_diagram: seed-style ASCII hub diagrams."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qnetinspect.models import Hub, HubPort, NetClient, Topology
from qnetinspect.parse import parse_info_network
from qnetinspect.report.diagram import MIX_MARK, WIDTH, render_diagram

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = sorted((ROOT / "fixtures" / "captures").glob("*/*.json"))


def _topology(version: str, scenario: str) -> Topology:
    path = ROOT / "fixtures" / "captures" / version / f"{scenario}.json"
    return parse_info_network(json.loads(path.read_text(encoding="utf-8"))["info_network"] or "")


def test_exact_drawing_of_legacy_nic_user() -> None:
    """The legacy -net nic -net user hub is drawn as GUEST NIC / hub box / HOST (NAT)."""
    t = parse_info_network(
        "hub 0\n \\ hub0port1: #net106: index=0,type=user,net=10.0.2.0,restrict=off\n"
        " \\ hub0port0: e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\n"
    )
    assert render_diagram(t) == (
        "hub 0\n"
        "                  GUEST\n"
        "  e1000.0\n"
        "  e1000\n"
        "  52:54:00:12:34:56\n"
        "  |\n"
        "+--------------------------------------+\n"
        "| hub0port0          hub0port1         |\n"
        "| NIC                USER              |\n"
        "+--------------------------------------+\n"
        "                     |\n"
        "                     #net106\n"
        "                     (NAT)\n"
        "                     10.0.2.0\n"
        "                  HOST\n"
    )


def test_nat_plus_external_hub_is_marked() -> None:
    """A hub mixing user with socket/tap is marked; separated hubs are not."""
    leak = render_diagram(_topology("qemu-7.2.22", "legacy_seed_user_socket_listen"))
    assert f"hub 0  {MIX_MARK}: user #net218 + socket #net351" in leak
    tap = render_diagram(_topology("qemu-7.2.22", "legacy_user_tap_leak"))
    assert MIX_MARK in tap and "captap1" in tap
    assert MIX_MARK not in render_diagram(_topology("qemu-7.2.22", "hubport_separated_hubs"))


def test_host_side_labels() -> None:
    """Backends show their host side: socket connect address, stream tcp, dgram udp, tap ifname."""
    assert "-> 127.0.0.1:42016" in render_diagram(_topology("qemu-7.2.22", "socket_connect_netdev"))
    assert "tcp:127.0.0.1:42018" in render_diagram(_topology("qemu-7.2.22", "stream_connect_inet"))
    dgram = render_diagram(_topology("qemu-7.2.22", "dgram_local_remote"))
    assert "udp 127.0.0.1:42020" in dgram and "-> 127.0.0.1:42021" in dgram
    assert "captap0" in render_diagram(_topology("qemu-7.2.22", "tap_netdev"))


@pytest.mark.parametrize("path", CAPTURES, ids=[f"{p.parent.name}/{p.stem}" for p in CAPTURES])
def test_every_capture_fits_100_columns_and_is_deterministic(path: Path) -> None:
    """Every capture draws within 100 columns, the same way twice."""
    text = json.loads(path.read_text(encoding="utf-8"))["info_network"] or ""
    first = render_diagram(parse_info_network(text))
    assert first == render_diagram(parse_info_network(text))
    assert max(len(line) for line in first.splitlines()) <= WIDTH


def test_wide_hub_is_split_and_names_cut() -> None:
    """A hub wider than 100 columns is cut into boxes; long names are shortened with '~'."""
    long = "n" * 60
    ports = tuple(
        HubPort(
            f"p{i}",
            NetClient(
                name=f"{long}{i}",
                type="nic",
                info={"model": "e1000", "macaddr": f"52:54:00:12:34:{i:02x}"},
            ),
        )
        for i in range(12)
    )
    out = render_diagram(Topology(hubs=(Hub(0, ports),)), title="t" * 200)
    assert max(len(line) for line in out.splitlines()) <= WIDTH
    assert "(ports 1-4 of 12)" in out and "(ports 9-12 of 12)" in out
    assert "nnnnnnnnnnnnnnnnnnnnn~" in out


def test_multiqueue_pair_drawn_once_with_queue_count() -> None:
    """A multiqueue NIC/backend pair is one box that says how many queues it has."""
    t = parse_info_network(
        "mq: index=0,type=nic,model=virtio-net-pci,macaddr=52:54:00:12:34:56\n"
        " \\ t: index=0,type=tap,ifname=qt0,script=no,downscript=no\n"
        "mq: index=1,type=nic,\n"
        " \\ t: index=1,type=tap,ifname=qt0,script=no,downscript=no\n"
    )
    out = render_diagram(t)
    assert out.count("mq <-> t") == 1
    assert "2 queues" in out and "qt0" in out


def test_lonely_clients_and_empty() -> None:
    """A NIC without backend and a backend without NIC say so; empty says no clients."""
    out = render_diagram(_topology("qemu-7.2.22", "nic_device_no_netdev"))
    assert "(no backend)" in out
    lone = render_diagram(parse_info_network("u: index=0,type=user,net=10.0.2.0,restrict=off\n"))
    assert "(no NIC)" in lone and "(NAT)" in lone
    assert render_diagram(Topology()) == "(no network clients)\n"


def test_filters_are_named_under_their_client() -> None:
    """Filters (also inside a hub, #39) are listed under the client they attach to."""
    out = render_diagram(_topology("qemu-7.2.22-local", "filters_on_hub"))
    assert "filters: fbhu" in out and "filters: fdpu" in out
