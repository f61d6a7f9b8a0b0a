"""Hypothesis over hostile names, paths and info strings (issue 14): no traceback, no control
character in text outputs, and no finding lost by a newline injected into a backend's info."""

from __future__ import annotations

import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qnetinspect.models import Finding, Severity, Snapshot, TargetFailure, VmInfo
from qnetinspect.parse import parse_info_network
from qnetinspect.report.dot import render_dot, render_mermaid
from qnetinspect.report.nagios import render_nagios, verdict
from qnetinspect.report.prometheus import build_registry, render_prometheus
from qnetinspect.report.text import render_text
from qnetinspect.rules import evaluate

# leaks as QEMU 7.2 prints them; {x} is where the external backend's info string ends
BASES = [
    "hub 0\n"
    " \\ p1: st0: index=0,type=stream,unix:/run/vm/s{x}\n"
    " \\ p0: u0: index=0,type=user,net=10.0.2.0,restrict=off\n"
    " \\ p2: e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\n",
    "hub 0\n"
    " \\ hub0port2: #net312: index=0,type=tap,ifname=tap0,script=no,downscript=/etc/d{x}\n"
    " \\ hub0port1: #net106: index=0,type=user,net=10.0.2.0,restrict=off\n"
    " \\ hub0port0: e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\n"
    "n1: index=0,type=nic,model=virtio-net-pci,macaddr=52:54:00:3e:00:01\n"
    " \\ t1: index=0,type=tap,ifname=tap1,script=no,downscript=no\n",
    "hub 1\n"
    " \\ h1n: nic1: index=0,type=nic,model=rtl8139,macaddr=52:54:00:12:34:57\n"
    "hub 0\n"
    " \\ h0s: st0: index=0,type=stream,unix:/tmp/x{x}\n"
    " \\ h0b: u0: index=0,type=user,net=10.0.2.0,restrict=off\n"
    " \\ h0n: nic0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\n",
    "hub 0\n"
    " \\ p2: u0: index=0,type=user,net=10.0.2.0,restrict=off\n"
    "filters:\n"
    "  - fd0: type=filter-dump,file=/tmp/dump{x}\n"
    " \\ p1: t0: index=0,type=tap,ifname=tap0,script=no,downscript=no\n"
    " \\ p0: e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\n",
    "st9: index=0,type=stream,unix:/tmp/y{x}\n"
    "hub 0\n"  # not what QEMU prints (hubs come first): a contradiction already
    " \\ p0: u0: index=0,type=user,net=10.0.2.0,restrict=off\n"
    " \\ p1: t0: index=0,type=tap,ifname=tap0,script=no,downscript=no\n"
    " \\ p2: e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\n",
]
FRAGMENTS = st.one_of(
    st.sampled_from([
        "hub 0", "hub 7", "hub -1", "filters:", "VLAN 0 devices:", "Devices not on any VLAN:",
        "  - f: type=filter-buffer,interval=1", " \\ hub0port9", " \\ hub7port0",
        " \\ p9: x9: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:99",
        " \\ p8: u8: index=0,type=user,net=10.0.2.0,restrict=off",
        "x1: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:98",
        "x2: index=0,type=user,net=10.0.2.0,restrict=off", "  a: model=e1000 peer=b", "",
    ]),
    st.text(max_size=12),
)
INJECTION = st.lists(FRAGMENTS, min_size=1, max_size=6).map(lambda parts: "\n" + "\n".join(parts))
HOSTILE = st.text(max_size=20) | st.sampled_from(
    ["web | 'critical'=0;;;0", "a\nQNETINSPECT OK - x", "\x1b]0;pwned\x07", "[/oops]", "\udcff"]
)


def _alarms(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity >= Severity.WARNING]


def _kept(f: Finding, after: list[Finding]) -> bool:
    """``f`` is still reported: itself, or named by an inconsistent-listing as severe."""
    for g in after:
        # the same alarm, perhaps naming more clients (a fake one added by the crafted text)
        if g.rule == f.rule and set(g.clients) >= set(f.clients) and g.severity >= f.severity:
            return True
        if (g.rule == "inconsistent-listing" and g.severity >= f.severity
                and f"{f.rule} ({f.severity.label})" in g.message
                and set(g.clients) >= set(f.clients)):
            return True
    return False


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(BASES), injected=INJECTION)
def test_a_newline_in_a_backend_info_removes_no_finding(base: str, injected: str) -> None:
    """Whatever follows a newline in an external backend's path, every warning or critical
    finding of the honest listing is still reported (or named by inconsistent-listing)."""
    honest = _alarms(evaluate([Snapshot("vm", topology=parse_info_network(base.format(x="")))]))
    assert honest
    crafted = parse_info_network(base.format(x=injected))
    after = evaluate([Snapshot("vm", topology=crafted)])
    lost = [f for f in honest if not _kept(f, after)]
    assert not lost, (lost, after)


def _no_control(text: str) -> bool:
    return not any(
        ch != "\n" and unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in text
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=HOSTILE, target=HOSTILE, path=HOSTILE, message=HOSTILE, base=st.sampled_from(BASES))
def test_hostile_strings_never_crash_or_reach_text_outputs(
    name: str, target: str, path: str, message: str, base: str
) -> None:
    """Hostile VM names, targets, paths and peer error texts: every report renders, with no
    control character but its own newlines, and the Nagios status line stays one line."""
    snaps = [
        Snapshot(target=f"/run/{target}.qmp", vm=VmInfo(name=name),
                 topology=parse_info_network(base.format(x=path))),
        Snapshot(target=f"/run/{target}2.qmp", error=TargetFailure("not-qmp", message)),
    ]
    findings = evaluate(snaps)
    v = verdict(snaps, findings)
    nagios = render_nagios(snaps, findings, v, duration=0.1)
    for out in (render_text(snaps, findings), nagios, render_dot(snaps), render_mermaid(snaps),
                render_prometheus(build_registry(snaps, findings, state=v.state, duration=1))):
        assert _no_control(out)
        out.encode("utf-8")
    lines = nagios.splitlines()
    assert lines[0].startswith("QNETINSPECT ") and lines[0].count("|") == 1
    assert not any(line.startswith("QNETINSPECT") for line in lines[1:])
