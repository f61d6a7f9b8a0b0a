"""Rule catalogue: every case file under fixtures/rules, docs, registry, engine order, config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qnetinspect.models import Finding, Severity, Snapshot, VmInfo
from qnetinspect.parse import parse_info_network, parse_usernet
from qnetinspect.rules import RULES, evaluate, evaluate_topology, rule_by_slug, sort_findings

CASES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "rules"


def _load(slug: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CASES_DIR / f"{slug}.json").read_text())
    return data


def _snapshots(case: dict[str, Any]) -> list[Snapshot]:
    return [
        Snapshot(
            target=vm["target"],
            vm=VmInfo(name=vm.get("name")),
            topology=parse_info_network(vm["info_network"]),
            usernet=parse_usernet(vm.get("usernet", "")),
            live=vm.get("live", True),
            usernet_read="usernet" in vm,  # a capture JSON keeps it even when not live
        )
        for vm in case["vms"]
    ]


def _all_cases() -> list[Any]:
    out = []
    for path in sorted(CASES_DIR.glob("*.json")):
        data = json.loads(path.read_text())
        for case in data["cases"]:
            out.append(pytest.param(data["rule"], case, id=f"{data['rule']}: {case['name']}"))
    return out


@pytest.mark.parametrize(("slug", "case"), _all_cases())
def test_rule_case(slug: str, case: dict[str, Any]) -> None:
    """Each case gives exactly its expected findings (severity, target, hub, clients)."""
    snaps = _snapshots(case)
    for snap in snaps:  # unparsed lines are what the cases of unparsed-lines are about
        assert snap.topology is not None
        assert slug == "unparsed-lines" or not snap.topology.unparsed, snap.topology
    found = [f for f in evaluate(snaps) if f.rule == slug]
    got = [
        {"severity": f.severity.label, "target": f.target, "hub": f.hub, "clients": list(f.clients)}
        for f in found
    ]
    want = [{k: v for k, v in e.items() if k != "message_contains"} for e in case["expect"]]
    assert got == want
    for f, e in zip(found, case["expect"], strict=True):
        if "message_contains" in e:
            assert e["message_contains"] in f.message


@pytest.mark.parametrize(("slug", "case"), _all_cases())
def test_findings_name_vm_hub_and_clients(slug: str, case: dict[str, Any]) -> None:
    """Every finding's message names its VM, its hub and its clients, and carries a fix."""
    snaps = _snapshots(case)
    labels = {s.target: s.label for s in snaps}
    for f in evaluate(snaps):
        assert labels[f.target] in f.message
        if f.hub is not None:
            assert f"hub {f.hub}" in f.message
        for client in f.clients:
            assert client in f.message
        assert f.fix


def test_every_rule_has_cases_and_docs() -> None:
    """Every registered rule has failing and passing cases and a full docstring."""
    for rule in RULES:
        path = CASES_DIR / f"{rule.slug}.json"
        assert path.is_file(), f"missing {path}"
        data = _load(rule.slug)
        assert data["rule"] == rule.slug
        assert any(c["expect"] for c in data["cases"]), f"{rule.slug}: no failing case"
        assert any(not c["expect"] for c in data["cases"]), f"{rule.slug}: no passing case"
        doc = rule.doc()
        assert doc.summary.endswith("."), rule.slug
        assert len(doc.why) > 40, f"{rule.slug}: no 'Why it matters:'"
        assert "-netdev" in doc.fix or "-device" in doc.fix, (
            f"{rule.slug}: fix without a command line"
        )


def test_case_files_match_registry() -> None:
    """No case file exists for an unknown rule (a renamed slug leaves no orphan)."""
    slugs = {r.slug for r in RULES}
    for path in CASES_DIR.glob("*.json"):
        assert path.stem in slugs


def test_registry_slugs_unique_and_catalogue_complete() -> None:
    """The registry holds the whole catalogue of DESIGN.md, each slug once."""
    slugs = [r.slug for r in RULES]
    assert len(slugs) == len(set(slugs))
    assert set(slugs) == {
        "nat-external-hub",
        "bridged-externals",
        "multi-nic-hub",
        "nic-without-backend",
        "dangling-backend",
        "duplicate-mac",
        "default-mac",
        "hostfwd-all-addresses",
        "socket-disconnected",
        "emulated-nic",
        "legacy-net",
        "inconsistent-listing",  # issue 14: a crafted string can only add alarms
        "unparsed-lines",
    }
    assert rule_by_slug("nat-external-hub") is RULES[0]
    assert rule_by_slug("nope") is None


SEED = (
    "hub 0\r\n"
    " \\ hub0port3: #net351: index=0,type=socket,\r\n"
    " \\ hub0port2: #net218: index=0,type=user,net=10.0.2.0,restrict=off\r\n"
    " \\ hub0port1: e1000.1: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:57\r\n"
    " \\ hub0port0: e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\r\n"
)


def test_nat_external_fix_is_a_pasteable_command_line() -> None:
    """The seed's fix pairs each backend with its own NIC in -netdev/-device form."""
    (f,) = [x for x in evaluate_topology(parse_info_network(SEED)) if x.rule == "nat-external-hub"]
    assert f.fix.startswith(
        "-netdev user,id=nat0 -device e1000,netdev=nat0 "
        "-netdev socket,id=ext0,listen=HOST:PORT -device e1000,netdev=ext0"
    )
    assert "-net options" in f.fix


def test_findings_sorted_worst_first_then_target_hub_rule() -> None:
    """evaluate() orders findings by severity desc, target, hub (none first), rule."""
    found = evaluate_topology(parse_info_network(SEED), target="t")
    assert found == sort_findings(reversed(found))
    keys = [(-int(f.severity), f.target, f.hub is not None, f.hub or 0, f.rule) for f in found]
    assert keys == sorted(keys)
    assert found[0].rule == "nat-external-hub"
    assert found[-1].severity is Severity.INFO


def test_error_and_empty_snapshots_are_skipped() -> None:
    """A snapshot with an error or without a topology yields no finding and no crash."""
    from qnetinspect.models import TargetFailure

    snaps = [
        Snapshot(target="a", error=TargetFailure("refused", "Connection refused")),
        Snapshot(target="b"),
        Snapshot(target="c", topology=parse_info_network(SEED)),
    ]
    assert {f.target for f in evaluate(snaps)} == {"c"}


def test_label_is_vm_name_when_known() -> None:
    """Messages name the VM by its -name when QEMU reports one, else by target."""
    snap = Snapshot(target="/run/x.qmp", vm=VmInfo(name="web1"), topology=parse_info_network(SEED))
    found: list[Finding] = evaluate([snap])
    assert all(f.message.startswith("web1: ") for f in found)
    assert all(f.target == "/run/x.qmp" for f in found)
