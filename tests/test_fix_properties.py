"""Every fix qnetinspect prints removes the problem and adds none.

For generated ``-net``/``-netdev``/``-nic`` command lines (hypothesis) and for every capture:
each printed fix (the ``fix`` of ``legacy-net`` / ``nat-external-hub`` findings, and what
``qnetinspect migrate`` prints) is applied to the command line it came from; the fixed command
line must lint with no critical finding and no warning the original did not have. A sample of
fixed command lines starts on real QEMU and shows the predicted wiring in ``info network``.
"""

from __future__ import annotations

import contextlib
import io
import shlex
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_argv_helpers import (
    capture_id,
    iter_ok_captures,
    live_info_network,
    localize,
    net_args_of,
    segments,
    version_of,
)
from test_argv_properties import argvs

from qnetinspect.cli import main
from qnetinspect.fixcheck import argv_findings
from qnetinspect.migrate import FIXABLE_RULES, fix_for, migrate_argv
from qnetinspect.models import Finding, Severity, Snapshot
from qnetinspect.parse import parse_info_network
from qnetinspect.parse.argv import DEFAULT_VERSION, Version, predict
from qnetinspect.rules import evaluate

NOT_OFFERED = "no rewrite to copy"


def _lint(argv: Sequence[str], version: Version = DEFAULT_VERSION) -> list[Finding]:
    """What ``qnetinspect lint --format json --no-host-checks`` finds, as findings."""
    return argv_findings(argv, version)


def _worse(before: Sequence[Finding], after: Sequence[Finding]) -> list[str]:
    """Criticals of ``after``, and warning rules that fire more often than in ``before``."""
    bad = [f"{f.rule}: {f.message}" for f in after if f.severity >= Severity.CRITICAL]
    old = Counter(f.rule for f in before if f.severity == Severity.WARNING)
    new = Counter(f.rule for f in after if f.severity == Severity.WARNING)
    bad += [f"new {rule}" for rule, n in new.items() if n > old[rule]]
    return bad


def _printed_fixes(argv: list[str], version: Version) -> list[tuple[str, str, tuple[str, ...]]]:
    """(rule, fix text, the whole fixed argv) for each fix a finding on ``argv`` prints."""
    out = []
    for f in _lint(argv, version):
        if f.rule not in FIXABLE_RULES:
            continue
        text = fix_for(f.rule, argv, qemu_version=version)
        if text is None or text.startswith(NOT_OFFERED):
            continue
        split = "migrate --split" in text
        result = migrate_argv(argv, split=split, qemu_version=version)
        assert shlex.join(result.net_args()) in text  # the fix is that rewrite's options
        out.append((f.rule, text, result.argv))
    return out


def _migrate_cli(argv: Sequence[str], *options: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["migrate", *options, "--qemu-version", "7.2", "--", *argv])
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def check_argv(argv: list[str], version: Version = DEFAULT_VERSION) -> list[str]:
    """Problems of the fixes printed for ``argv`` (empty: every printed fix is right)."""
    problems = []
    before = _lint(argv, version)
    for rule, _text, fixed in _printed_fixes(argv, version):
        if worse := _worse(before, _lint(fixed, version)):
            problems.append(f"{rule} fix {shlex.join(fixed)}: {worse}")
    return problems


# ----------------------------------------------------------------------------- generated
#: leaks made of legacy -net, -nic and hubports: NICs, NAT and external backends on one hub
LEAK_PARTS = st.sampled_from([
    ["-net", "nic"], ["-net", "nic,model=rtl8139"], ["-net", "nic,model=virtio"],
    ["-net", "user"], ["-net", "socket,listen=127.0.0.1:40011"],
    ["-net", "socket,connect=127.0.0.1:40012"], ["-net", "tap,ifname=qnitap5"],
    ["-netdev", "user,id=nu"], ["-netdev", "hubport,id=hpu,hubid=0,netdev=nu"],
    ["-netdev", "socket,id=ns,listen=127.0.0.1:40013"],
    ["-netdev", "hubport,id=hps,hubid=0,netdev=ns"],
    ["-netdev", "hubport,id=hpn,hubid=0"], ["-device", "e1000,netdev=hpn"],
    ["-nic", "user,model=virtio"], ["-device", "virtio-net-pci"],
])
leaky_argvs = st.lists(LEAK_PARTS, min_size=2, max_size=8).map(
    lambda parts: ["qemu-system-x86_64", "-nodefaults", *(x for p in parts for x in p)]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argvs)
def test_printed_fixes_of_generated_command_lines_are_right(argv: list[str]) -> None:
    """Any generated command line: each printed fix lints with no critical, no new warning."""
    assert check_argv(argv) == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leaky_argvs)
def test_every_leak_gets_a_fix_that_removes_it(argv: list[str]) -> None:
    """A NAT+external hub always gets a printed fix (not only a 'decide' message), and the fix
    removes the leak without a new warning; migrate without --split refuses to copy it."""
    before = predict(argv)
    if before.errors:
        return
    leaking = [h.id for h in before.topology.hubs if h.mixes_nat_and_external]
    assert check_argv(argv) == []
    if not leaking:
        return
    fixes = [rule for rule, _, _ in _printed_fixes(argv, DEFAULT_VERSION)]
    assert "nat-external-hub" in fixes
    code, out, err = _migrate_cli(argv)
    assert code == 1 and out == "" and "--split" in err
    code, out, _ = _migrate_cli(argv, "--split")
    assert code == 0
    assert _worse(_lint(argv), _lint(shlex.split(out))) == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argvs, st.booleans())
def test_migrate_prints_only_right_command_lines(argv: list[str], split: bool) -> None:
    """Whatever migrate prints (exit 0) lints with no critical and no new warning."""
    code, out, _ = _migrate_cli(argv, *(["--split"] if split else []))
    if code != 0:
        assert out == ""
        return
    assert _worse(_lint(argv), _lint(shlex.split(out))) == []


def test_printed_fixes_of_every_capture_are_right() -> None:
    """Every accepted capture's command line: each printed fix lints clean (as above)."""
    problems = []
    checked = 0
    for path, doc in iter_ok_captures():
        version = version_of(path)
        found = check_argv(list(doc["argv"]), version)
        problems += [f"{capture_id(path)}: {p}" for p in found]
        checked += 1
    assert checked >= 20 and problems == []


# ----------------------------------------------------------------------------- real QEMU
SAMPLE = [
    "-net nic -net user -net socket,listen=127.0.0.1:{P}",
    "-net nic -net nic,model=rtl8139 -net user -net socket,listen=127.0.0.1:{P}",
    "-net nic -net nic -net nic -net user -net socket,listen=127.0.0.1:{P}",
    "-net nic,model=virtio -net user -net socket,listen=127.0.0.1:{P} -net user",
    "-netdev user,id=nu -netdev hubport,id=hpu,hubid=2,netdev=nu"
    " -netdev socket,id=ns,listen=127.0.0.1:{P} -netdev hubport,id=hps,hubid=2,netdev=ns"
    " -netdev hubport,id=hpn,hubid=2 -device e1000,netdev=hpn,id=n2",
    "-nic user,model=virtio -net nic -net user -net socket,listen=127.0.0.1:{P} -device e1000",
]


@pytest.mark.qemu
async def test_a_sample_of_fixed_command_lines_start_with_the_predicted_wiring(
    start_vm: object, qemu_dir: Path
) -> None:
    """The printed nat-external-hub fix of each sample leak starts on QEMU 7.2; its info
    network shows the predicted segments, no NAT+external hub and no backend or NIC left
    unwired that was wired before."""
    from qnetinspect.vmrunner import free_loopback_port

    failed = []
    for case in SAMPLE:
        argv = ["qemu-system-x86_64", "-nodefaults",
                *shlex.split(case.replace("{P}", str(free_loopback_port())))]
        fixes = {rule: fixed for rule, _, fixed in _printed_fixes(argv, (7, 2))}
        fixed = fixes["nat-external-hub"]
        predicted = predict(list(fixed), qemu_version=(7, 2))
        vm = start_vm(localize(net_args_of(fixed), qemu_dir))  # type: ignore[operator]
        try:
            live = parse_info_network(await live_info_network(vm.qmp_path))
        finally:
            vm.stop()
        rules = {f.rule for f in evaluate([Snapshot(target="t", topology=live, live=False)])}
        had = {f.rule for f in _lint(argv, (7, 2))}
        unwired = {"dangling-backend", "nic-without-backend"} - had
        if segments(live) != segments(predicted.topology) or rules & {
            "nat-external-hub", *unwired
        }:
            failed.append(f"{case}\n  -> {shlex.join(fixed)}\n  {segments(live)}\n  {rules}")
    assert failed == []


# ----------------------------------------------------------------------------- topology fixes
def _pairs_of(topology: object) -> list[tuple[str, str]]:
    """(NIC model, backend type) of every NIC-backend pair outside the hubs."""
    from qnetinspect.models import Topology

    assert isinstance(topology, Topology)
    return sorted(
        (c.model or "", c.peer.type) for c in topology.clients if c.is_nic and c.peer is not None
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leaky_argvs)
def test_topology_fix_text_wires_what_was_verified(argv: list[str]) -> None:
    """Without a command line (show/check of a live VM), the nat-external-hub fix is options
    text: run through QEMU's option rules, that text builds the pairs that were verified, and
    the verified topology has no leak and no new warning."""
    from qnetinspect.rules import RULES
    from qnetinspect.rules._common import PLACEHOLDER

    before = predict(argv)
    if before.errors:
        return
    snap = Snapshot(target="t", topology=before.topology, live=False)
    rule = next(r for r in RULES if r.slug == "nat-external-hub")
    for f in evaluate([snap]):
        if f.rule != "nat-external-hub":
            continue
        assert not f.fix.startswith(NOT_OFFERED), f.fix
        fixed = rule.fixed(before.topology, f)
        assert fixed is not None
        after = evaluate([Snapshot(target="t", topology=fixed, live=False)])
        assert _worse(evaluate([snap]), after) == []
        text = f.fix.split(" (in place of")[0].replace(PLACEHOLDER, "127.0.0.1:1")
        built = predict(["-nodefaults", *shlex.split(text)])
        assert built.errors == (), text
        hub = before.topology.hub(f.hub or 0)
        assert hub is not None
        only_hub = fixed.clients[len(before.topology.clients):]
        assert _pairs_of(built.topology) == _pairs_of(
            type(fixed)(clients=tuple(c for c in only_hub if c.peer is not None))
        )


def test_a_fix_that_would_leave_a_warning_is_not_offered() -> None:
    """Two taps and three NICs on one hub: giving each tap a NIC leaves the third NIC without a
    backend, so bridged-externals says what to decide instead of a command line."""
    argv = ["-nodefaults", "-net", "nic", "-net", "nic", "-net", "nic",
            "-net", "tap,ifname=qnitap1", "-net", "tap,ifname=qnitap2"]
    topo = predict(argv).topology
    (f,) = [f for f in evaluate([Snapshot(target="t", topology=topo, live=False)])
            if f.rule == "bridged-externals"]
    assert f.fix.startswith(NOT_OFFERED) and "nic-without-backend" in f.fix
    assert "Decide which network each NIC should be on" in f.fix


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(argvs, leaky_argvs))
def test_every_offered_rewiring_fix_leaves_no_critical_and_no_new_warning(
    argv: list[str],
) -> None:
    """For every finding whose rule can apply its fix to the topology (nat-external-hub,
    multi-nic-hub, bridged-externals, nic-without-backend, default-mac, emulated-nic): a fix
    that is offered (not 'decide
    ...') removes that finding and adds no critical finding and no warning."""
    from qnetinspect.rules import RULES

    top = predict(argv).topology
    snap = Snapshot(target="t", topology=top, live=False)
    before = evaluate([snap])
    by_slug = {r.slug: r for r in RULES}
    for f in before:
        fixed = by_slug[f.rule].fixed(top, f)
        if fixed is None or f.fix.startswith(NOT_OFFERED):
            continue
        after = evaluate([Snapshot(target="t", topology=fixed, live=False)])
        count = Counter(x.rule for x in after)
        assert count[f.rule] < Counter(x.rule for x in before)[f.rule], (f.rule, f.fix)
        criticals = [x for x in after if x.severity >= Severity.CRITICAL]
        assert len(criticals) <= sum(1 for x in before if x.severity >= Severity.CRITICAL)
        assert [w for w in _worse(before, after) if w.startswith("new ")] == [], (f.rule, f.fix)


@pytest.mark.qemu
async def test_topology_fix_text_starts_on_qemu_as_verified(
    start_vm: object, qemu_dir: Path
) -> None:
    """The nat-external-hub fix printed for a VM whose command line is unknown (options text,
    HOST:PORT filled in) starts on QEMU 7.2 and wires the NIC-backend pairs that were verified,
    with no NAT+external hub."""
    from qnetinspect.rules import RULES
    from qnetinspect.rules._common import PLACEHOLDER
    from qnetinspect.vmrunner import free_loopback_port

    rule = next(r for r in RULES if r.slug == "nat-external-hub")
    failed = []
    for case in SAMPLE:
        argv = ["-nodefaults", *shlex.split(case.replace("{P}", str(free_loopback_port())))]
        top = predict(argv, qemu_version=(7, 2)).topology
        (f,) = [f for f in evaluate([Snapshot(target="t", topology=top, live=False)])
                if f.rule == "nat-external-hub"]
        fixed = rule.fixed(top, f)
        assert fixed is not None and not f.fix.startswith(NOT_OFFERED)
        text = f.fix.split(" (in place of")[0]
        text = text.replace(PLACEHOLDER, f"127.0.0.1:{free_loopback_port()}")
        vm = start_vm(shlex.split(text))  # type: ignore[operator]
        try:
            live = parse_info_network(await live_info_network(vm.qmp_path))
        finally:
            vm.stop()
        new = type(fixed)(clients=fixed.clients[len(top.clients):])
        rules = {x.rule for x in evaluate([Snapshot(target="t", topology=live, live=False)])}
        if _pairs_of(live) != _pairs_of(new) or "nat-external-hub" in rules:
            failed.append(f"{case}\n  fix {text}\n  {_pairs_of(live)} != {_pairs_of(new)}")
    assert failed == []
