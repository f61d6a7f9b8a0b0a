"""The TUI's view model: the latest update of every VM, findings, filtering. Pure, no textual.

Widgets only draw what this module hands them; all the deciding (what is a leak, what matches
the filter, how findings sort) happens here, where it is cheap to test.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from qnetinspect.live import FleetUpdate, VmState, VmUpdate
from qnetinspect.models import Finding, Hub, NetClient, Severity, Snapshot, TargetFailure

SEVERITY_MARK = {Severity.CRITICAL: "CRIT", Severity.WARNING: "WARN", Severity.INFO: "INFO"}


def mixes_nat_and_external(hub: Hub) -> bool:
    """The leak the tool exists for: slirp NAT and an external backend on one hub."""
    peers = hub.peers
    return any(c.is_nat for c in peers) and any(c.is_external for c in peers)


@dataclass(frozen=True, slots=True)
class NodeRef:
    """What a tree node stands for: a VM, one of its hubs, or one of its clients."""

    target: str
    kind: str  # "vm", "hub", "pair", "client"
    hub: int | None = None
    client: str | None = None


@dataclass
class VmView:
    target: str
    state: VmState = VmState.CONNECTING
    snapshot: Snapshot | None = None
    error: TargetFailure | None = None
    findings: tuple[Finding, ...] = ()
    retry_in: float | None = None
    read_at: float | None = None  # time.time() of the last good reading

    @property
    def label(self) -> str:
        return self.snapshot.label if self.snapshot is not None else self.target

    @property
    def leaking_hubs(self) -> tuple[int, ...]:
        topo = self.snapshot.topology if self.snapshot else None
        if topo is None:
            return ()
        flagged = {h.id for h in topo.hubs if mixes_nat_and_external(h)}
        flagged |= {
            f.hub for f in self.findings if f.rule == "nat-external-hub" and f.hub is not None
        }
        return tuple(sorted(flagged))

    def counts(self, extra: Iterable[Finding] = ()) -> dict[Severity, int]:
        out = dict.fromkeys(Severity, 0)
        for f in (*self.findings, *extra):
            out[f.severity] += 1
        return out


@dataclass
class FleetModel:
    """Everything the screen shows, kept current by ``apply``; order is the targets' order."""

    vms: dict[str, VmView] = field(default_factory=dict)
    fleet_findings: tuple[Finding, ...] = ()
    filter_text: str = ""

    @classmethod
    def for_targets(cls, targets: Sequence[str]) -> FleetModel:
        return cls(vms={t: VmView(t) for t in targets})

    def apply(self, update: VmUpdate | FleetUpdate) -> bool:
        """Take one update; True when the findings list may have changed."""
        if isinstance(update, FleetUpdate):
            self.fleet_findings = update.findings
            return True
        vm = self.vms.setdefault(update.target, VmView(update.target))
        findings_changed = vm.findings != update.findings
        vm.state, vm.error, vm.retry_in = update.state, update.error, update.retry_in
        vm.snapshot, vm.findings, vm.read_at = update.snapshot, update.findings, update.read_at
        return findings_changed

    def drop(self, target: str) -> None:
        """Forget a VM (one that is gone) and its findings."""
        self.vms.pop(target, None)

    # ------------------------------------------------------------------ queries
    def fleet_for(self, target: str) -> tuple[Finding, ...]:
        """Cross-VM findings that name this VM (their ``target`` lists VMs joined by commas)."""
        return tuple(f for f in self.fleet_findings if target in f.target)

    def all_findings(self) -> list[Finding]:
        """Every finding, worst first, then by VM order, rule and message (stable on screen)."""
        order = {t: i for i, t in enumerate(self.vms)}
        found = [f for vm in self.vms.values() for f in vm.findings]
        found += self.fleet_findings
        return sorted(
            found, key=lambda f: (-f.severity, order.get(f.target, len(order)), f.rule, f.message)
        )

    def visible_findings(self) -> list[Finding]:
        text = self.filter_text.lower()
        if not text:
            return self.all_findings()
        return [f for f in self.all_findings() if _finding_matches(f, text, self)]

    def visible_vms(self) -> list[VmView]:
        text = self.filter_text.lower()
        return [vm for vm in self.vms.values() if not text or vm_matches(vm, text)]

    def summary(self) -> str:
        states = [vm.state for vm in self.vms.values()]
        down = sum(s in (VmState.UNREACHABLE, VmState.RECONNECTING) for s in states)
        busy = sum(s is VmState.BUSY for s in states)
        gone = sum(s is VmState.GONE for s in states)
        leaks = sum(bool(vm.leaking_hubs) for vm in self.vms.values())
        parts = [f"{len(states)} VM{'s' if len(states) != 1 else ''}"]
        if down:
            parts.append(f"{down} unreachable")
        if busy:
            parts.append(f"{busy} busy")
        if gone:
            parts.append(f"{gone} gone (d drops)")
        if leaks:
            parts.append(f"{leaks} NAT+external")
        return " · ".join(parts)


def _client_words(c: NetClient) -> str:
    return " ".join((c.name, c.type, c.model or "", c.mac or "", c.info_raw))


def vm_matches(vm: VmView, text: str) -> bool:
    """Filter: the VM's name, target, state, or any of its clients (name, type, model, MAC)."""
    words = [vm.label, vm.target, vm.state.value]
    if vm.error is not None:
        words.append(vm.error.kind)
    topo = vm.snapshot.topology if vm.snapshot else None
    if topo is not None:
        words += [f"hub {h.id}" for h in topo.hubs]
        words += [_client_words(c) for c in topo.iter_clients()]
    words += [f"{f.rule} {f.message}" for f in vm.findings]
    return any(text in w.lower() for w in words)


def _finding_matches(f: Finding, text: str, model: FleetModel) -> bool:
    vm = model.vms.get(f.target)
    label = vm.label if vm is not None else f.target
    hay = " ".join((SEVERITY_MARK[f.severity], f.rule, f.message, f.target, label, *f.clients))
    return text in hay.lower()
