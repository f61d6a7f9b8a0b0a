"""Live watching of many VMs: one persistent QMP session per target, refreshed on a timer and on
QMP events, reconnected with capped exponential backoff. No textual import: the TUI consumes this.

A *source* pushes ``VmUpdate`` / ``FleetUpdate`` values into a synchronous ``sink`` callback:

- ``Watcher``: real VMs over QMP (``qnetinspect.qmp.session.QmpSession``);
- ``StaticSource``: fixed snapshots (saved text, tests, snapshot tests, benchmarks).

Memory stays flat over days: a source keeps only the latest snapshot and findings of each VM,
QMP events go through a history-less listener, and changes are handed to the sink, never stored.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio

from qnetinspect.errors import TargetError
from qnetinspect.models import Finding, NetClient, Snapshot, TargetFailure, Topology, VmInfo
from qnetinspect.targets import Target

log = logging.getLogger(__name__)

#: QMP events after which a VM's network may look different: refresh that VM at once.
REFRESH_EVENTS = (
    "DEVICE_DELETED",
    "NIC_RX_FILTER_CHANGED",
    "NETDEV_STREAM_CONNECTED",
    "NETDEV_STREAM_DISCONNECTED",
    "SHUTDOWN",  # the VM is going away: the next read fails and we start reconnecting
    "STOP",  # run state changes: the status shown in the detail pane
    "RESUME",
)
#: a timer refresh reads only ``info network``; every this many, it reads everything (usernet
#: forwards, QOM, run state can change without changing ``info network``)
FULL_READ_EVERY = 10

MIN_INTERVAL = 0.2
MAX_INTERVAL = 3600.0
BACKOFF_MIN = 0.5
BACKOFF_MAX = 10.0


class VmState(enum.Enum):
    """Where the watcher stands with one VM."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    UNREACHABLE = "unreachable"
    RECONNECTING = "reconnecting"
    STATIC = "static"  # saved text: read once, never refreshed


@dataclass(frozen=True, slots=True)
class Change:
    """One thing that appeared or disappeared between two snapshots of a VM (or the VM's state)."""

    target: str
    kind: str  # "appeared", "disappeared" or "state"
    what: str  # "hub", "port", "client", "finding", "vm"
    text: str

    def __str__(self) -> str:
        sign = {"appeared": "+", "disappeared": "-"}.get(self.kind, "~")
        return f"{sign} {self.what} {self.text}"


@dataclass(frozen=True, slots=True)
class VmUpdate:
    """The latest we know about one VM. ``snapshot`` is the last good one (kept while unreachable).

    ``retry_in`` is the backoff delay before the next connection attempt, when unreachable.
    """

    target: str
    state: VmState
    snapshot: Snapshot | None = None
    error: TargetFailure | None = None
    findings: tuple[Finding, ...] = ()
    changes: tuple[Change, ...] = ()
    retry_in: float | None = None
    topology_changed: bool = True


@dataclass(frozen=True, slots=True)
class FleetUpdate:
    """Findings that only show across VMs (e.g. the same MAC in two VMs)."""

    findings: tuple[Finding, ...] = ()
    changes: tuple[Change, ...] = ()


Update = VmUpdate | FleetUpdate
Sink = Callable[[Update], None]
Reader = Callable[[Any, Target], Awaitable[Snapshot]]
Evaluator = Callable[[Sequence[Snapshot]], list[Finding]]


class Source(Protocol):
    """What the TUI drives: ``run`` pushes updates into ``sink`` until cancelled."""

    targets: list[str]
    interval: float
    paused: bool

    async def run(self, sink: Sink) -> None: ...

    def refresh_now(self, target: str | None = None) -> None: ...

    def set_paused(self, paused: bool) -> None: ...

    def set_interval(self, seconds: float) -> None: ...


# --------------------------------------------------------------------------- diffing (pure)
def _client_key(c: NetClient) -> str:
    return f"{c.type} {c.name}"


def topology_items(topology: Topology | None) -> dict[tuple[str, str], str]:
    """The named parts of a topology, keyed for diffing: hubs, hub ports, clients."""
    items: dict[tuple[str, str], str] = {}
    if topology is None:
        return items
    for hub in topology.hubs:
        items[("hub", str(hub.id))] = f"hub {hub.id}"
        for port in hub.ports:
            peer = f" -> {_client_key(port.peer)}" if port.peer else " (no peer)"
            name = port.name or "?"
            items[("port", f"{hub.id}/{name}{peer}")] = f"hub {hub.id} port {name}{peer}"
    for client in topology.iter_clients():
        if client.index == 0:
            items[("client", _client_key(client))] = _client_key(client)
    return items


def _finding_text(f: Finding) -> str:
    return f"{f.severity.name} {f.rule}: {f.message}"


def diff(
    target: str,
    old: Topology | None,
    new: Topology | None,
    old_findings: Iterable[Finding] = (),
    new_findings: Iterable[Finding] = (),
) -> tuple[Change, ...]:
    """What appeared and disappeared between two topologies and their findings, stably ordered."""
    before, after = topology_items(old), topology_items(new)
    out: list[Change] = []
    for key in sorted(before.keys() - after.keys()):
        out.append(Change(target, "disappeared", key[0], before[key]))
    for key in sorted(after.keys() - before.keys()):
        out.append(Change(target, "appeared", key[0], after[key]))
    fb, fa = set(old_findings), set(new_findings)
    for f in sorted(fb - fa, key=_finding_text):
        out.append(Change(target, "disappeared", "finding", _finding_text(f)))
    for f in sorted(fa - fb, key=_finding_text):
        out.append(Change(target, "appeared", "finding", _finding_text(f)))
    return tuple(out)


# --------------------------------------------------------------------------- defaults
def default_evaluator(config: Any = None) -> Evaluator:
    """Every rule (``qnetinspect.rules.evaluate``), with the user's config."""
    from qnetinspect.rules import evaluate

    def run(snapshots: Sequence[Snapshot]) -> list[Finding]:
        findings = list(evaluate(snapshots, config))
        if any(s.argv for s in snapshots) and any(f.rule in _MIGRATABLE for f in findings):
            # a local VM's command line is known: offer its migrated form as the fix
            from qnetinspect.migrate import with_migrated_fixes

            findings = with_migrated_fixes(findings, snapshots)
        return findings

    return run


_MIGRATABLE = frozenset({"legacy-net", "nat-external-hub"})


def cross_vm_evaluator(config: Any = None) -> Evaluator:
    """Only the cross-VM rules: what the fleet pass needs (the per-VM ones ran already)."""
    from dataclasses import replace
    from types import MappingProxyType

    from qnetinspect.config import Config, RuleConfig
    from qnetinspect.rules import RULES

    base = config if config is not None else Config()
    rules = dict(base.rules)
    for rule in RULES:
        if not rule.cross_vm:
            rules[rule.slug] = RuleConfig(enabled=False)
    return default_evaluator(replace(base, rules=MappingProxyType(rules)))


async def default_reader(session: Any, target: Target) -> Snapshot:
    """Read one snapshot over an open session (``qnetinspect.inventory.read_snapshot``)."""
    from dataclasses import replace

    from qnetinspect.inventory import read_snapshot

    snapshot = await read_snapshot(session, target.spec, pid=target.pid)
    if target.name and not snapshot.vm.name:  # discovery knew the -name
        vm = snapshot.vm
        snapshot = replace(snapshot, vm=VmInfo(target.name, vm.qemu_version, vm.status, vm.pid))
    return snapshot


def default_session(target: Target, timeout: float) -> Any:
    from qnetinspect.qmp.session import QmpSession

    return QmpSession(target.address or target.spec, timeout=timeout, target=target.spec)


def as_target(spec: str | Target) -> Target:
    """A Target for a QMP address spelled as text (tests, the demo)."""
    if isinstance(spec, Target):
        return spec
    from qnetinspect.qmp.address import parse_address

    return Target(spec=spec, kind="qmp", address=parse_address(spec))


def _fingerprint(s: Snapshot) -> object:
    """What decides whether findings must be re-evaluated (cheap to compare)."""
    return (s.info_network_raw, s.topology, s.usernet, s.qom_nics, s.vm, s.error)


# --------------------------------------------------------------------------- shared bookkeeping
@dataclass
class _VmRecord:
    snapshot: Snapshot | None = None
    fingerprint: object = None
    findings: tuple[Finding, ...] = ()
    state: VmState = VmState.CONNECTING
    error_kind: str | None = None


@dataclass
class _Slot:
    """Per-target wake-up: ``refresh`` asks for a read now, ``reschedule`` for a new deadline."""

    wake: anyio.Event = field(default_factory=anyio.Event)
    refresh: bool = False

    def poke(self, refresh: bool) -> None:
        self.refresh = self.refresh or refresh
        self.wake.set()

    def take(self) -> bool:
        refresh, self.refresh = self.refresh, False
        self.wake = anyio.Event()
        return refresh


class _Base:
    """State and fleet-level findings shared by the live and the static source."""

    def __init__(
        self, evaluator: Evaluator | None, interval: float, fleet_evaluator: Evaluator | None
    ) -> None:
        self._evaluate = evaluator
        self._evaluate_fleet = fleet_evaluator
        self.interval = _clamp_interval(interval)
        self.paused = False
        self._records: dict[str, _VmRecord] = {}
        self._slots: dict[str, _Slot] = {}
        self._fleet_dirty = anyio.Event()
        self._fleet_findings: tuple[Finding, ...] = ()
        self._sink: Sink = lambda update: None

    def _evaluator(self) -> Evaluator:
        if self._evaluate is None:
            self._evaluate = default_evaluator()
        return self._evaluate

    def _fleet_evaluator(self) -> Evaluator:
        if self._evaluate_fleet is None:
            self._evaluate_fleet = cross_vm_evaluator()
        return self._evaluate_fleet

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        for slot in self._slots.values():
            slot.poke(refresh=False)

    def set_interval(self, seconds: float) -> None:
        self.interval = _clamp_interval(seconds)
        for slot in self._slots.values():
            slot.poke(refresh=False)

    def refresh_now(self, target: str | None = None) -> None:
        slots = self._slots.values() if target is None else [self._slots[target]]
        for slot in slots:
            slot.poke(refresh=True)

    def _publish_snapshot(self, target: str, snapshot: Snapshot, state: VmState) -> None:
        rec = self._records[target]
        fp = _fingerprint(snapshot)
        changed = fp != rec.fingerprint
        if not changed and rec.state is state:
            return  # nothing new: a steady fleet costs the screen nothing
        old_topology = rec.snapshot.topology if rec.snapshot else None
        old_findings = rec.findings
        if changed:
            try:
                findings = tuple(self._evaluator()([snapshot]))
            except Exception:  # a rule bug must not take the whole watcher down
                log.exception("rules failed on %s", target)
                findings = ()
        else:
            findings = rec.findings
        if rec.snapshot is None:
            # first sight: the tree shows the topology; log only what is wrong with it
            changes = diff(target, None, None, (), findings)
        else:
            changes = diff(target, old_topology, snapshot.topology, old_findings, findings)
        if rec.state is not state:
            changes = (Change(target, "state", "vm", state.value), *changes)
        rec.snapshot, rec.fingerprint, rec.findings, rec.state = snapshot, fp, findings, state
        rec.error_kind = None
        self._sink(
            VmUpdate(target, state, snapshot, None, findings, changes, topology_changed=changed)
        )
        if changed:
            self._fleet_dirty.set()

    def _publish_failure(
        self, target: str, state: VmState, error: TargetFailure, retry_in: float | None
    ) -> None:
        rec = self._records[target]
        changes: tuple[Change, ...] = ()
        # log only real transitions, not every unreachable/reconnecting round of the backoff
        if rec.state in (VmState.CONNECTED, VmState.CONNECTING, VmState.STATIC) or (
            rec.error_kind != error.kind
        ):
            changes = (Change(target, "state", "vm", f"unreachable ({error.kind})"),)
        rec.state, rec.error_kind = state, error.kind
        self._sink(
            VmUpdate(
                target,
                state,
                rec.snapshot,
                error,
                rec.findings,
                changes,
                retry_in,
                topology_changed=False,
            )
        )

    async def _fleet_loop(self) -> None:
        """Re-evaluate cross-VM findings after snapshots change, at most a few times a second."""
        while True:
            await self._fleet_dirty.wait()
            self._fleet_dirty = anyio.Event()
            snapshots = [r.snapshot for r in self._records.values() if r.snapshot is not None]
            per_vm = {f for r in self._records.values() for f in r.findings}
            try:
                everything = self._fleet_evaluator()(snapshots)
            except Exception:
                log.exception("cross-VM rules failed")
                everything = []
            fleet = tuple(f for f in everything if f not in per_vm)
            if fleet != self._fleet_findings:
                old, new = set(self._fleet_findings), set(fleet)
                changes = tuple(
                    Change(_first_target(f), kind, "finding", _finding_text(f))
                    for kind, group in (("disappeared", old - new), ("appeared", new - old))
                    for f in sorted(group, key=_finding_text)
                )
                self._fleet_findings = fleet
                self._sink(FleetUpdate(fleet, changes))
            await anyio.sleep(0.25)  # coalesce bursts (200 VMs refreshing together)


def _spread(target: str) -> float:
    """A stable fraction in [0, 1) per target, to stagger the VMs' refresh times."""
    import zlib

    return (zlib.crc32(target.encode("utf-8", "surrogatepass")) % 1000) / 1000


def _first_target(f: Finding) -> str:
    """Cross-VM findings may name several targets; the change log files it under the first."""
    return f.target.split(",")[0].strip()


def _clamp_interval(seconds: float) -> float:
    return min(MAX_INTERVAL, max(MIN_INTERVAL, float(seconds)))


# --------------------------------------------------------------------------- static source
class StaticSource(_Base):
    """Fixed snapshots, published once (and again on ``refresh_now``): deterministic."""

    def __init__(
        self,
        snapshots: Sequence[Snapshot],
        *,
        evaluator: Evaluator | None = None,
        interval: float = 2.0,
        fleet_evaluator: Evaluator | None = None,
    ) -> None:
        super().__init__(evaluator, interval, fleet_evaluator)
        self.snapshots = list(snapshots)
        self.targets = [s.target for s in self.snapshots]
        for s in self.snapshots:
            self._records[s.target] = _VmRecord()
            self._slots[s.target] = _Slot()

    def replace(self, snapshot: Snapshot) -> None:
        """Swap in a new snapshot for its target (tests, benchmarks) and publish it."""
        i = self.targets.index(snapshot.target)
        self.snapshots[i] = snapshot
        self._slots[snapshot.target].poke(refresh=True)

    async def run(self, sink: Sink) -> None:
        self._sink = sink
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._fleet_loop)
            for s in self.snapshots:
                self._publish_one(s.target)
            # the whole first batch is published before the cross-VM pass
            for target in self.targets:
                tg.start_soon(self._wait_one, target)

    def _publish_one(self, target: str) -> None:
        snap = self.snapshots[self.targets.index(target)]
        if snap.error is not None:
            self._publish_failure(target, VmState.UNREACHABLE, snap.error, None)
        else:
            self._publish_snapshot(target, snap, VmState.CONNECTED if snap.live else VmState.STATIC)

    async def _wait_one(self, target: str) -> None:
        slot = self._slots[target]
        while True:
            await slot.wake.wait()
            if slot.take():
                self._publish_one(target)


# --------------------------------------------------------------------------- live watcher
class Watcher(_Base):
    """Watch QMP targets: one persistent session each, refreshed every ``interval`` seconds and on
    network events, reconnected with exponential backoff (``BACKOFF_MIN`` .. ``BACKOFF_MAX``).

    ``reader(session, target)`` reads one snapshot; ``session_factory(target, timeout)`` makes an
    unopened async-context session. Both are injectable for tests.
    """

    def __init__(
        self,
        targets: Sequence[str | Target],
        *,
        interval: float = 2.0,
        timeout: float = 5.0,
        reader: Reader | None = None,
        evaluator: Evaluator | None = None,
        fleet_evaluator: Evaluator | None = None,
        session_factory: Callable[[Target, float], Any] | None = None,
        static: Mapping[str, Snapshot] | None = None,
        backoff: tuple[float, float] = (BACKOFF_MIN, BACKOFF_MAX),
        quick_probe: bool | None = None,
    ) -> None:
        super().__init__(evaluator, interval, fleet_evaluator)
        self._static = dict(static or {})
        self._targets = {t.spec: t for t in map(as_target, targets)}
        self.targets = [*self._static, *self._targets]
        self.timeout = timeout
        self._reader = reader or default_reader
        self._session_factory = session_factory or default_session
        self._backoff = backoff
        # the probe needs the real session's hmp(); an injected reader may read anything
        self._quick_probe = reader is None if quick_probe is None else quick_probe
        for t in self.targets:
            self._records[t] = _VmRecord()
            self._slots[t] = _Slot()

    async def run(self, sink: Sink) -> None:
        """Push updates into ``sink`` until cancelled. Never raises for a target's failure."""
        self._sink = sink
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._fleet_loop)
            for target, snap in self._static.items():
                if snap.error is not None:  # a missing or unreadable file: say so, not "static"
                    self._publish_failure(target, VmState.UNREACHABLE, snap.error, None)
                else:
                    self._publish_snapshot(target, snap, VmState.STATIC)
            for target in self._targets:
                tg.start_soon(self._watch, target)

    async def _wait(
        self, target: str, delay: float | None, *, honour_pause: bool = True, scale: float = 1.0
    ) -> bool:
        """Sleep ``delay`` seconds (None: ``scale`` times the current interval, re-read when it
        changes) from now, or until asked to refresh; pause holds it. True when asked."""
        slot = self._slots[target]
        start = time.monotonic()
        while True:
            if self.paused and honour_pause:
                await slot.wake.wait()
                if slot.take():
                    return True
                continue
            wait = self.interval * scale if delay is None else delay
            remaining = start + wait - time.monotonic()
            if remaining <= 0:
                return slot.take()
            with anyio.move_on_after(remaining):
                await slot.wake.wait()
            # woken to refresh: go; woken for a new interval or pause: recompute the deadline
            if slot.wake.is_set() and slot.take():
                return True

    async def _watch(self, target: str) -> None:
        delay = self._backoff[0]
        while True:
            error: TargetFailure
            try:
                await self._session_loop(target)
                error = TargetFailure("disconnected", "session ended")
            except* TargetError as group:
                exc = group.exceptions[0]
                assert isinstance(exc, TargetError)
                error = TargetFailure(exc.kind, exc.message)
            except* Exception as group:  # a bug in a reader must not stop the other VMs
                log.error("reading %s failed", target, exc_info=group.exceptions[0])
                error = TargetFailure("internal", repr(group.exceptions[0]))
            if self._records[target].state is VmState.CONNECTED:
                delay = self._backoff[0]  # it worked until now: retry soon
            self._publish_failure(target, VmState.UNREACHABLE, error, delay)
            await self._wait(target, delay, honour_pause=False)
            delay = min(self._backoff[1], delay * 2)
            self._publish_failure(target, VmState.RECONNECTING, error, None)

    async def _session_loop(self, target: str) -> None:
        session = self._session_factory(self._targets[target], self.timeout)
        async with session, session.listen(REFRESH_EVENTS) as listener:
            slot = self._slots[target]

            async def on_events() -> None:
                async for _event in listener:
                    if not self.paused:
                        slot.poke(refresh=True)

            async with anyio.create_task_group() as tg:
                tg.start_soon(on_events)
                snapshot = await self._reader(session, self._targets[target])
                self._publish_snapshot(target, snapshot, VmState.CONNECTED)
                # spread the VMs over the interval: 200 reads at once would stall the screen
                asked = await self._wait(target, None, scale=0.5 + _spread(target))
                rounds = 0
                while True:
                    rounds += 1
                    if asked or rounds % FULL_READ_EVERY == 0 or not self._quick_probe:
                        snapshot = await self._reader(session, self._targets[target])
                    else:
                        snapshot = await self._probe(session, target, snapshot)
                    self._publish_snapshot(target, snapshot, VmState.CONNECTED)
                    asked = await self._wait(target, None)

    async def _probe(self, session: Any, target: str, last: Snapshot) -> Snapshot:
        """A timer refresh: one ``info network``; the full read (about a dozen commands) only
        when that text changed. Events and refresh-now always read everything."""
        text = await session.hmp("info network")
        if text == last.info_network_raw:
            return last
        return await self._reader(session, self._targets[target])
