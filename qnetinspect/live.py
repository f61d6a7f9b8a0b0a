"""Live watching of many VMs, refreshed on a timer, retried with capped exponential backoff.
No textual import: the TUI consumes this.

A QEMU monitor serves one client at a time, so by default every refresh is a *brief* session
(connect, negotiate, read, disconnect): nothing holds a monitor between refreshes and cron's
``check``, Proxmox or a person's qmp-shell get their turn. ``hold=True`` keeps one persistent
session per VM instead, refreshed on QMP events too (for monitors dedicated to qnetinspect).
Either way the watcher is the one owner of each VM's connection: ``run_exclusive(target, job)``
runs a hot-plug job in that VM's slot (its refreshes wait). A monitor another client holds is
``BUSY`` (retried with backoff and jitter, the last good reading kept with its age); targets
are re-expanded every interval (globs, ``auto``): new VMs appear, VMs gone are ``GONE``.

A *source* pushes ``VmUpdate`` / ``FleetUpdate`` values into a synchronous ``sink`` callback:

- ``Watcher``: real VMs over QMP (``qnetinspect.qmp.session.QmpSession``);
- ``StaticSource``: fixed snapshots (saved text, tests, snapshot tests, benchmarks).

Memory stays flat over days: a source keeps only the latest snapshot and findings of each VM,
QMP events go through a history-less listener, and changes are handed to the sink, never stored.
"""

from __future__ import annotations

import enum
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import anyio

from qnetinspect.errors import TargetError
from qnetinspect.models import Finding, NetClient, Snapshot, TargetFailure, Topology, VmInfo
from qnetinspect.qmp.transport import (
    Session,
    SessionFactory,
    open_session,
    qmp_session,
)
from qnetinspect.targets import Target

T = TypeVar("T")

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
#: brief sessions a watcher has open at once (see Watcher._limiter)
BRIEF_CONCURRENCY = 16
BACKOFF_MIN = 0.5
BACKOFF_MAX = 10.0


class VmState(enum.Enum):
    """Where the watcher stands with one VM."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    UNREACHABLE = "unreachable"
    RECONNECTING = "reconnecting"
    BUSY = "busy"  # another client holds the monitor: retried, the last reading kept
    GONE = "gone"  # no longer matched by its glob / auto: not watched any more
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
    ``read_at`` is the ``time.time()`` of the last good reading (None: never read).
    """

    target: str
    state: VmState
    snapshot: Snapshot | None = None
    error: TargetFailure | None = None
    findings: tuple[Finding, ...] = ()
    changes: tuple[Change, ...] = ()
    retry_in: float | None = None
    topology_changed: bool = True
    read_at: float | None = None


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
    read_at: float | None = None


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
        rec.read_at = time.time()
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
            VmUpdate(target, state, snapshot, None, findings, changes, topology_changed=changed,
                     read_at=rec.read_at)
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
            word = "busy" if state is VmState.BUSY else "unreachable"
            changes = (Change(target, "state", "vm", f"{word} ({error.kind})"),)
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
                read_at=rec.read_at,
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
    """Watch QMP targets, each refreshed every ``interval`` seconds, retried with exponential
    backoff (``BACKOFF_MIN`` .. ``BACKOFF_MAX``) when it cannot be read.

    By default each refresh is a brief session; ``hold=True`` keeps one persistent session per
    VM, refreshed on network events too. ``expand()`` (optional) lists the targets again; it is
    called every interval and on ``refresh_now()``. ``reader(session, target)`` reads one
    snapshot; ``session_factory(address, target, timeout)`` makes an unopened session. Both are
    injectable for tests.
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
        session_factory: SessionFactory | None = None,
        static: Mapping[str, Snapshot] | None = None,
        backoff: tuple[float, float] = (BACKOFF_MIN, BACKOFF_MAX),
        quick_probe: bool | None = None,
        hold: bool = False,
        expand: Callable[[], Sequence[Target]] | None = None,
        concurrency: int | None = None,
    ) -> None:
        super().__init__(evaluator, interval, fleet_evaluator)
        self._static = dict(static or {})
        self._targets = {t.spec: t for t in map(as_target, targets)}
        self.targets = [*self._static, *self._targets]
        self.timeout = timeout
        self.hold = hold
        self._reader = reader or default_reader
        # brief refreshes, hot-plug jobs and --hold all speak QMP through qemu.qmp (the
        # project's QMP library; what that costs per refresh is in docs/performance.md)
        self._session_factory = session_factory or qmp_session
        self._brief_factory = session_factory or qmp_session
        self._backoff = backoff
        self._expand = expand
        self._expand_wake = anyio.Event()
        # the probe needs the real session's hmp(); an injected reader may read anything
        self._quick_probe = reader is None if quick_probe is None else quick_probe
        self._locks: dict[str, anyio.Lock] = {}
        self._held: dict[str, Session] = {}  # hold mode: each VM's open session
        self._scopes: dict[str, anyio.CancelScope] = {}
        # brief sessions open at once: 200 interleaved on one event loop would each stay open
        # (holding its monitor) for the whole round; a few at a time are each over in a moment
        self._limiter = anyio.CapacityLimiter(max(1, concurrency or BRIEF_CONCURRENCY))
        self._tg: anyio.abc.TaskGroup | None = None
        for t in self.targets:
            self._records[t] = _VmRecord()
            self._slots[t] = _Slot()

    async def run(self, sink: Sink) -> None:
        """Push updates into ``sink`` until cancelled. Never raises for a target's failure."""
        self._sink = sink
        async with anyio.create_task_group() as tg:
            self._tg = tg
            tg.start_soon(self._fleet_loop)
            for target, snap in self._static.items():
                if snap.error is not None:  # a missing or unreadable file: say so, not "static"
                    self._publish_failure(target, VmState.UNREACHABLE, snap.error, None)
                else:
                    self._publish_snapshot(target, snap, VmState.STATIC)
            for target in self._targets:
                tg.start_soon(self._run_target, target)
            if self._expand is not None:
                tg.start_soon(self._expand_loop)

    def refresh_now(self, target: str | None = None) -> None:
        super().refresh_now(target)
        if target is None:
            self._expand_wake.set()  # `r`: look for new VMs too

    # ------------------------------------------------------------------ exclusive jobs
    def _lock(self, target: str) -> anyio.Lock:
        lock = self._locks.get(target)
        if lock is None:
            lock = self._locks[target] = anyio.Lock()
        return lock

    async def run_exclusive(self, target: str, job: Callable[[Session], Awaitable[T]]) -> T:
        """Run ``job(session)`` in the watcher's slot for ``target``: in its held session
        (``hold``), else in a brief session of its own; that VM's refreshes wait meanwhile,
        and it is read again right after.

        Raises TargetError (busy, not-found ...) when no session can be opened, and whatever
        ``job`` raises.
        """
        try:
            async with self._lock(target):
                held = self._held.get(target)
                if held is not None and held.is_open:
                    return await job(held)
                session = await self._open(target)
                try:
                    return await job(session)
                finally:
                    await session.close()
        finally:
            if target in self._slots:
                self._slots[target].poke(refresh=True)

    async def _open(self, target: str, *, brief: bool = False) -> Session:
        t = self._targets.get(target) or as_target(target)
        assert t.address is not None
        factory = self._brief_factory if brief else self._session_factory
        timeout = self.timeout
        if brief:
            # a refresh waits for a busy monitor at most about an interval (it holds one of
            # the limiter's slots meanwhile), then says busy and retries with backoff
            timeout = min(self.timeout, max(1.0, self.interval))
        return await open_session(t.address, target=t.spec, timeout=timeout, factory=factory,
                                  command_timeout=self.timeout)

    # ------------------------------------------------------------------ targets coming and going
    async def _expand_loop(self) -> None:
        assert self._expand is not None
        while True:
            with anyio.move_on_after(self.interval):
                await self._expand_wake.wait()
            asked = self._expand_wake.is_set()
            self._expand_wake = anyio.Event()
            if self.paused and not asked:
                continue  # paused: nothing changes on screen until `r` or resume
            try:
                found = await anyio.to_thread.run_sync(self._expand)
            except Exception:  # discovery failing once must not stop the watcher
                log.exception("re-expanding the targets failed")
                continue
            self._retarget(list(found))

    def _retarget(self, found: Sequence[Target]) -> None:
        """Start watching new targets; mark the ones no longer found as gone."""
        specs = {t.spec: t for t in found}
        for spec, t in specs.items():
            rec = self._records.get(spec)
            if rec is not None and rec.state is not VmState.GONE:
                continue
            self._targets[spec] = t
            if spec not in self.targets:
                self.targets.append(spec)
            self._records[spec] = _VmRecord()
            self._slots[spec] = _Slot()
            self._sink(VmUpdate(spec, VmState.CONNECTING,
                                changes=(Change(spec, "state", "vm", "appeared"),)))
            if self._tg is not None:
                self._tg.start_soon(self._run_target, spec)
        for spec in list(self._targets):
            rec = self._records[spec]
            if spec in specs or rec.state is VmState.GONE:
                continue
            scope = self._scopes.pop(spec, None)
            if scope is not None:
                scope.cancel()
            rec.state = VmState.GONE
            self._sink(VmUpdate(spec, VmState.GONE, rec.snapshot, None, rec.findings,
                                (Change(spec, "state", "vm", "gone"),), topology_changed=False,
                                read_at=rec.read_at))

    def drop(self, target: str) -> None:
        """Forget a target that is gone (the TUI's ``d``); a live one is kept."""
        rec = self._records.get(target)
        if rec is None or rec.state is not VmState.GONE:
            return
        for table in (self._records, self._slots, self._targets, self._locks):
            table.pop(target, None)
        if target in self.targets:
            self.targets.remove(target)
        self._fleet_dirty.set()

    # ------------------------------------------------------------------ reading
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

    async def _run_target(self, target: str) -> None:
        with anyio.CancelScope() as scope:
            self._scopes[target] = scope
            await self._watch(target)

    async def _watch(self, target: str) -> None:
        delay = self._backoff[0]
        while True:
            error: TargetFailure
            try:
                if self.hold:
                    await self._session_loop(target)
                else:
                    await self._brief_loop(target)
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
            busy = error.kind == "busy"
            # jitter: VMs (and other qnetinspects) that failed together do not retry together
            wait = delay * random.uniform(0.75, 1.25) if busy else delay
            self._publish_failure(
                target, VmState.BUSY if busy else VmState.UNREACHABLE, error, round(wait, 2)
            )
            await self._wait(target, wait, honour_pause=False)
            delay = min(self._backoff[1], delay * 2)
            if not busy:
                self._publish_failure(target, VmState.RECONNECTING, error, None)

    async def _brief_loop(self, target: str) -> None:
        """Default mode: every refresh connects, reads and disconnects."""
        snapshot: Snapshot | None = None
        asked = True
        rounds = 0
        while True:
            async with self._lock(target), self._limiter:
                session = await self._open(target, brief=True)
                try:
                    if snapshot is None or asked or rounds % FULL_READ_EVERY == 0 or (
                        not self._quick_probe
                    ):
                        snapshot = await self._reader(session, self._targets[target])
                    else:
                        snapshot = await self._probe(session, target, snapshot)
                finally:
                    await session.close()
            self._publish_snapshot(target, snapshot, VmState.CONNECTED)
            # spread the VMs over the interval: 200 reads at once would stall the screen
            scale = 0.5 + _spread(target) if rounds == 0 else 1.0
            rounds += 1
            asked = await self._wait(target, None, scale=scale)

    async def _session_loop(self, target: str) -> None:
        """``hold`` mode: one persistent session, read on a timer and on network events."""
        async with self._lock(target):
            session = await self._open(target)
        try:
            self._held[target] = session
            async with session.listen(REFRESH_EVENTS) as listener:
                slot = self._slots[target]

                async def on_events() -> None:
                    async for _event in listener:
                        if not self.paused:
                            slot.poke(refresh=True)

                async with anyio.create_task_group() as tg:
                    tg.start_soon(on_events)
                    async with self._lock(target):
                        snapshot = await self._reader(session, self._targets[target])
                    self._publish_snapshot(target, snapshot, VmState.CONNECTED)
                    asked = await self._wait(target, None, scale=0.5 + _spread(target))
                    rounds = 0
                    while True:
                        rounds += 1
                        async with self._lock(target):
                            if not session.is_open:
                                raise TargetError(target, "disconnected", "session ended")
                            if asked or rounds % FULL_READ_EVERY == 0 or not self._quick_probe:
                                snapshot = await self._reader(session, self._targets[target])
                            else:
                                snapshot = await self._probe(session, target, snapshot)
                        self._publish_snapshot(target, snapshot, VmState.CONNECTED)
                        asked = await self._wait(target, None)
        finally:
            self._held.pop(target, None)
            await session.close()

    async def _probe(self, session: Session, target: str, last: Snapshot) -> Snapshot:
        """A timer refresh: one ``info network``; the full read (about a dozen commands) only
        when that text changed. Events and refresh-now always read everything."""
        text = await session.hmp("info network")
        if text == last.info_network_raw:
            return last
        return await self._reader(session, self._targets[target])
