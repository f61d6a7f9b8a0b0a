"""Every real capture parses to its golden, with nothing unparsed, and agrees with QOM/expected."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from qnetinspect.models import NetClient, Topology
from qnetinspect.parse import parse_info_network, parse_usernet
from qnetinspect.report.info_network import render_info_network
from qnetinspect.report.json import topology_to_dict

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = sorted((ROOT / "fixtures" / "captures").glob("*/*.json"))
GOLDENS = ROOT / "fixtures" / "goldens"
# scenarios QEMU ran (the rest were rejected or blocked: nothing to compare with QOM/expected)
RAN = [p for p in CAPTURES if json.loads(p.read_text(encoding="utf-8")).get("outcome") == "ok"]
WITH_EXPECTED = [p for p in RAN if json.loads(p.read_text(encoding="utf-8")).get("expected")]
AUTO_NAME_PREFIXES = ("#net", "__org.qemu.")


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _ids(paths: list[Path]) -> list[str]:
    return [f"{p.parent.name}/{p.stem}" for p in paths]


def _all_texts(capture: dict[str, Any]) -> list[str]:
    texts = [capture.get("info_network") or "", capture.get("startup_info_network") or ""]
    for step in capture.get("steps") or []:
        texts += [step.get("info_network_before") or "", step.get("info_network_after") or ""]
    return texts


def test_captures_exist() -> None:
    """The capture set covers at least the three shared QEMU versions."""
    versions = {p.parent.name for p in CAPTURES}
    assert {"qemu-5.2.0", "qemu-7.2.22", "qemu-10.0.13"} <= versions


@pytest.mark.parametrize("path", CAPTURES, ids=_ids(CAPTURES))
def test_capture_matches_golden(path: Path) -> None:
    """A capture's info network and info usernet parse exactly to its golden file."""
    capture = _load(path)
    golden = _load(GOLDENS / path.parent.name / path.name)
    topology = parse_info_network(capture.get("info_network") or "")
    assert topology_to_dict(topology) == golden["topology"]
    usernet = (capture.get("extra_hmp") or {}).get("info usernet") or ""
    assert [dataclasses.asdict(r) for r in parse_usernet(usernet)] == golden["usernet"]


@pytest.mark.parametrize("path", CAPTURES, ids=_ids(CAPTURES))
def test_capture_has_no_unparsed_lines(path: Path) -> None:
    """Every text QEMU printed in a capture (hot-plug steps included) parses with zero unparsed."""
    for text in _all_texts(_load(path)):
        topology = parse_info_network(text)
        assert topology.unparsed == ()
        assert render_info_network(topology) == text.replace("\r\n", "\n")


def _nic_pairs(t: Topology) -> dict[str, str | None]:
    """NIC name -> the name QOM's ``netdev`` holds: the backend, or the hub port; None if none."""
    pairs: dict[str, str | None] = {}
    for hub in t.hubs:
        for port in hub.ports:
            if port.peer is not None and port.peer.is_nic:
                pairs[port.peer.name] = port.name
    for c in t.clients:
        if c.is_nic and c.index == 0:
            pairs[c.name] = c.peer.name if c.peer is not None else None
    return pairs


def _macs(t: Topology) -> dict[str, str | None]:
    return {c.name: c.mac for c in t.nics()}


@pytest.mark.parametrize("path", RAN, ids=_ids(RAN))
def test_capture_agrees_with_qom(path: Path) -> None:
    """Each -device NIC's QOM netdev and mac agree with the parsed NIC/backend pairs."""
    capture = _load(path)
    topology = parse_info_network(capture.get("info_network") or "")
    qom = capture.get("final_qom") or capture.get("qom") or {}
    pairs, macs = _nic_pairs(topology), _macs(topology)
    checked = 0
    for container in ("/machine/peripheral",):
        for nic_id, nic in (qom.get(container, {}).get("nics") or {}).items():
            netdev = nic.get("netdev", {})
            if not netdev.get("ok"):
                continue
            assert nic_id in pairs, f"{nic_id} missing from the parsed topology"
            assert pairs[nic_id] == (netdev["result"] or None)
            assert macs[nic_id] == nic["mac"]["result"]
            checked += 1
    if capture["scenario"] in {"netdev_user_virtio", "hubport_separated_hubs", "nic_models"}:
        assert checked > 0


def _short(c: NetClient | None) -> str | None:
    if c is None or c.name.startswith(AUTO_NAME_PREFIXES):
        return None
    return c.name


def _mixes(t: Topology) -> bool:
    return any(
        any(c.is_nat for c in h.peers) and any(c.is_external for c in h.peers) for h in t.hubs
    )


@pytest.mark.parametrize("path", WITH_EXPECTED, ids=_ids(WITH_EXPECTED))
def test_capture_agrees_with_expected(path: Path) -> None:
    """The hand-written ``expected`` hubs, NIC/netdev pairs and NAT mixing match the parse."""
    capture = _load(path)
    expected = capture["expected"]
    t = parse_info_network(capture.get("info_network") or "")
    got_hubs = sorted(
        (
            h.id,
            sorted(
                (p.name or "", p.peer.type if p.peer else "", _short(p.peer) or "") for p in h.ports
            ),
        )
        for h in t.hubs
    )
    want_hubs = sorted(
        (
            int(h["hub"]),
            sorted((p["port"], p["peer_type"] or "", p["peer"] or "") for p in h["ports"]),
        )
        for h in expected.get("hubs", [])
    )
    assert got_hubs == want_hubs
    got_pairs = sorted(
        (c.name, _short(c.peer) or "", c.peer.type)
        for c in t.clients
        if c.is_nic and c.index == 0 and c.peer is not None
    )
    want_pairs = sorted(
        (p["nic"], p["netdev"] or "", p["netdev_type"])
        for p in expected.get("nic_netdev_pairs", [])
    )
    assert got_pairs == want_pairs
    assert _mixes(t) == expected["hub_mixes_user_with_external"]
