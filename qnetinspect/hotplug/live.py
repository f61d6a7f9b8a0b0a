"""The I/O half of hot-plug: read what a plan needs from the live QEMU, apply a plan, roll back.

Every QMP call goes through ``QmpSession``. Facts that depend only on the QEMU build (its QAPI
schema, its NIC models) are cached per QEMU version, in memory and, for the NIC models (about
450 ``device-list-properties`` calls), on disk in ``$XDG_CACHE_HOME/qnetinspect``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from qnetinspect.errors import CommandFailed, HotplugError, TargetError, UsageError
from qnetinspect.hotplug import audit
from qnetinspect.hotplug.plan import Plan, PlanContext, QmpCommand, refuse_critical
from qnetinspect.hotplug.schema import NetdevSchema
from qnetinspect.models import QomNic, Snapshot, Topology
from qnetinspect.parse import parse_info_network
from qnetinspect.qmp.session import QmpSession
from qnetinspect.qmp.transport import WaitingSession

log = logging.getLogger(__name__)

DEFAULT_UNPLUG_TIMEOUT = 5.0
_ROOT_PORT_TYPES = frozenset({"pcie-root-port", "ioh3420", "cxl-rp", "xio3130-downstream"})
_CHILD = re.compile(r"child<(.+)>")

_schemas: dict[str, NetdevSchema | None] = {}
_models: dict[str, tuple[frozenset[str], frozenset[str]]] = {}


class ApplyFailed(HotplugError):
    """A command of a plan failed; what was sent before it has been rolled back."""

    def __init__(
        self,
        message: str,
        *,
        command: QmpCommand | None = None,
        qemu_message: str = "",
        rolled_back: Sequence[QmpCommand] = (),
    ) -> None:
        super().__init__(message)
        self.command = command
        self.qemu_message = qemu_message
        self.rolled_back = tuple(rolled_back)


class UnplugTimeout(HotplugError):
    """device_del was accepted but QEMU did not release the device in time."""


@dataclass(frozen=True)
class ApplyResult:
    plan: Plan
    sent: tuple[QmpCommand, ...]
    topology: Topology | None  # info network as re-read after the change (None for link)
    #: remove with --keep-netdev: device_del was accepted but the device is not released yet
    pending: bool = False


# ---------------------------------------------------------------------- reading
def session_for(spec: str, *, timeout: float = 5.0) -> QmpSession:
    """An unopened session to the one live QMP target ``spec`` names (use ``async with``).

    Raises UsageError for saved text, stdin, or a spec that names several VMs.
    """
    from qnetinspect.targets import expand_targets

    targets = expand_targets([spec], allow_stdin=False)
    if len(targets) != 1:
        raise UsageError(f"{spec!r} names {len(targets)} VMs: a change goes to exactly one")
    target = targets[0]
    if target.kind != "qmp" or target.address is None:
        raise UsageError(f"{spec!r}: a change needs a live QMP socket, not saved text")
    # waits (within timeout) while another client holds the monitor, instead of failing at once
    return WaitingSession(target.address, timeout=timeout, target=target.spec)


async def read_snapshot(session: QmpSession, target: str) -> Snapshot:
    """The target's current snapshot (through ``qnetinspect.inventory``).

    Raises TargetError when the VM cannot be read.
    """
    from qnetinspect.inventory import read_snapshot as inventory_read

    snap = await inventory_read(session, target)
    if snap.error is not None:
        raise TargetError(target, snap.error.kind, snap.error.message)
    return snap


async def _version_key(session: QmpSession) -> str:
    ver = await session.execute("query-version")
    if isinstance(ver, dict):
        q = ver.get("qemu", {})
        return (
            f"{q.get('major')}.{q.get('minor')}.{q.get('micro')} {ver.get('package', '')}".strip()
        )
    return session.greeting_version or "unknown"


async def read_schema(session: QmpSession, version: str) -> NetdevSchema | None:
    if version not in _schemas:
        try:
            reply = await session.execute("query-qmp-schema")
        except CommandFailed:
            reply = None  # QEMU before 2.5: no introspection, options are passed unchecked
        _schemas[version] = NetdevSchema.from_reply(reply)
    return _schemas[version]


def _cache_file(version: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    safe = re.sub(r"[^A-Za-z0-9.+_-]+", "_", version)
    return Path(base) / "qnetinspect" / f"nic-models-{safe}.json"


async def read_nic_models(
    session: QmpSession, version: str
) -> tuple[frozenset[str], frozenset[str]]:
    """(NIC models, those of them on PCI) of this QEMU build: the non-abstract devices that
    have a ``netdev`` property. Cached per version in memory and on disk."""
    if version in _models:
        return _models[version]
    path = _cache_file(version)
    try:
        data = json.loads(path.read_text())
        result = (frozenset(data["nic"]), frozenset(data["pci"]))
        _models[version] = result
        return result
    except (OSError, ValueError, KeyError, TypeError):
        pass
    types, pci = await session.execute_many(
        [
            ("qom-list-types", {"implements": "device", "abstract": False}),
            ("qom-list-types", {"implements": "pci-device", "abstract": False}),
        ]
    )
    names = [t["name"] for t in types if isinstance(t, dict)] if isinstance(types, list) else []
    props = await session.execute_many([("device-list-properties", {"typename": n}) for n in names])
    nics = frozenset(
        n
        for n, p in zip(names, props, strict=True)
        if isinstance(p, list) and any(isinstance(x, dict) and x.get("name") == "netdev" for x in p)
    )
    pci_names = {t["name"] for t in pci if isinstance(t, dict)} if isinstance(pci, list) else set()
    result = (nics, frozenset(nics & pci_names))
    _models[version] = result
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"nic": sorted(result[0]), "pci": sorted(result[1])}))
    except OSError as exc:
        log.debug("cannot write %s: %s", path, exc)
    return result


async def read_context(
    session: QmpSession, snapshot: Snapshot, others: Sequence[Snapshot] = ()
) -> PlanContext:
    """Everything a plan checks against: schema, NIC models, machine type, free root ports.

    Raises TargetError (timeout, disconnected).
    """
    version = await _version_key(session)
    schema = await read_schema(session, version)
    nic_models, pci_models = await read_nic_models(session, version)
    machine, peripheral, unattached = await session.execute_many(
        [
            ("qom-get", {"path": "/machine", "property": "type"}),
            ("qom-list", {"path": "/machine/peripheral"}),
            ("qom-list", {"path": "/machine/unattached"}),
        ]
    )
    legacy = await _legacy_nics(session, unattached, nic_models)
    device_ids: set[str] = set()
    root_ports: list[str] = []
    if isinstance(peripheral, list):
        for entry in peripheral:
            m = _CHILD.fullmatch(str(entry.get("type", ""))) if isinstance(entry, dict) else None
            if m is None:
                continue
            device_ids.add(entry["name"])
            if m.group(1) in _ROOT_PORT_TYPES:
                root_ports.append(entry["name"])
    free: list[str] = []
    if root_ports:
        # a root port's secondary bus is a QOM child named like the port; a device on it shows
        # up there as a child[N] link
        buses = await session.execute_many(
            [("qom-list", {"path": f"/machine/peripheral/{rp}/{rp}"}) for rp in root_ports]
        )
        for rp, bus in zip(root_ports, buses, strict=True):
            if isinstance(bus, list) and not any(
                isinstance(e, dict) and str(e.get("name", "")).startswith("child[") for e in bus
            ):
                free.append(rp)
    return PlanContext(
        schema=schema,
        nic_models=nic_models or None,
        pci_models=pci_models if nic_models else None,
        machine=machine if isinstance(machine, str) else None,
        free_root_ports=tuple(sorted(free)),
        root_ports=tuple(root_ports),
        device_ids=frozenset(device_ids),
        others=tuple(others),
        legacy_nics=legacy,
    )


async def _legacy_nics(
    session: QmpSession, unattached: object, nic_models: frozenset[str] | set[str] | None
) -> tuple[QomNic, ...] | None:
    """NICs QEMU made without an id (``-net nic``, ``-nic``): they live under
    /machine/unattached as ``device[N]``, and that path is what ``device_del`` takes."""
    if not isinstance(unattached, list) or not nic_models:
        return None
    found: list[tuple[str, str]] = []
    for entry in unattached:
        m = _CHILD.fullmatch(str(entry.get("type", ""))) if isinstance(entry, dict) else None
        if m is not None and m.group(1) in nic_models:
            found.append((f"/machine/unattached/{entry['name']}", m.group(1)))
    if not found:
        return ()
    replies = await session.execute_many(
        [
            ("qom-get", {"path": path, "property": prop})
            for path, _ in found
            for prop in ("netdev", "mac")
        ]
    )
    out: list[QomNic] = []
    for i, (path, model) in enumerate(found):
        netdev, mac = replies[2 * i], replies[2 * i + 1]
        out.append(
            QomNic(
                path=path,
                id="",
                type=model,
                netdev=netdev if isinstance(netdev, str) and netdev else None,
                mac=mac if isinstance(mac, str) else None,
            )
        )
    return tuple(out)


# ---------------------------------------------------------------------- applying
def _undo(cmd: QmpCommand) -> QmpCommand | None:
    if cmd.execute == "netdev_add":
        return QmpCommand("netdev_del", {"id": cmd.arguments["id"]})
    if cmd.execute == "device_add":
        return QmpCommand("device_del", {"id": cmd.arguments["id"]})
    return None


async def _rollback(session: QmpSession, sent: Sequence[QmpCommand]) -> list[QmpCommand]:
    done: list[QmpCommand] = []
    for cmd in reversed(sent):
        undo = _undo(cmd)
        if undo is None:
            continue
        try:
            await session.execute(undo.execute, undo.arguments)
            done.append(undo)
        except CommandFailed as exc:
            log.warning("rollback %s failed: %s", undo, exc.qemu_message)
    return done


def _names(topo: Topology) -> set[str]:
    names = {c.name for c in topo.iter_clients()}
    for hub in topo.hubs:
        names.update(p.name for p in hub.ports if p.name)
    return names


async def apply_plan(
    session: QmpSession,
    plan: Plan,
    *,
    force: bool = False,
    unplug_timeout: float = DEFAULT_UNPLUG_TIMEOUT,
) -> ApplyResult:
    """Send a plan's commands in order, then confirm the change in ``info network``.

    A command QEMU rejects rolls back what was sent before it (netdev_add -> netdev_del), so
    nothing is left half-applied. Every attempt is written to the audit log.

    Raises HotplugError (refused: a critical finding without ``force``), ApplyFailed (QEMU
    rejected a command; names QEMU's reason), UnplugTimeout (device_del not completed),
    TargetError (timeout, disconnected).
    """
    refuse_critical(plan, force)
    sent: list[QmpCommand] = []
    commands = [c.to_json() for c in plan.commands]

    def log_result(
        result: str, error: str | None = None, rollback: Sequence[QmpCommand] = (),
        step: QmpCommand | None = None,
    ) -> None:
        audit.record(
            target=plan.target,
            action=plan.action,
            commands=commands,
            result=result,
            error=error,
            rollback=[c.to_json() for c in rollback],
            step=step.to_json() if step is not None else None,
        )

    # intent first: if we die (or the VM's QEMU does) mid-plan, the log still says what began
    log_result("intent")
    try:
        return await _send_all(session, plan, sent, log_result, unplug_timeout)
    except TargetError as exc:
        # the session broke mid-plan: a new one finishes or undoes what it can, and the
        # message names exactly what is left in QEMU
        return await _recover(session, plan, sent, exc, log_result)


async def _send_all(
    session: QmpSession, plan: Plan, sent: list[QmpCommand], log_result: Any,
    unplug_timeout: float,
) -> ApplyResult:
    """The commands in order, each audited after it; then the change confirmed."""
    for cmd in plan.commands:
        log_result("sending", step=cmd)  # before: if we never hear back, the log still says it
        try:
            if cmd.execute == "device_del" and plan.wait_deleted is not None:
                released = await _unplug(session, cmd, plan.wait_deleted, unplug_timeout)
                if not released:
                    later = plan.commands[len(sent) + 1 :]
                    if later:
                        raise UnplugTimeout(_unplug_message(plan, unplug_timeout, later))
                    # --keep-netdev: only the request was asked for; it stays pending in QEMU
                    log_result("pending", f"{plan.wait_deleted} not released yet")
                    return ApplyResult(plan=plan, sent=(*sent, cmd), topology=None, pending=True)
            else:
                await session.execute(cmd.execute, cmd.arguments)
        except CommandFailed as exc:
            undone = await _rollback(session, sent)
            reason = exc.qemu_message
            what = f"{cmd.execute} failed: {reason}"
            if undone:
                what += "; rolled back: " + ", ".join(
                    f"{u.execute} {u.arguments.get('id')}" for u in undone
                )
            log_result("failed", what, undone)
            raise ApplyFailed(
                f"{plan.target}: {what}", command=cmd, qemu_message=reason, rolled_back=undone
            ) from exc
        except UnplugTimeout as exc:
            log_result("timeout", str(exc))
            raise
        except TargetError as exc:
            log_result("broken", str(exc), step=cmd)
            raise
        sent.append(cmd)
        log_result("sent", step=cmd)

    if plan.action == "link":
        log_result("ok")
        return ApplyResult(plan=plan, sent=tuple(sent), topology=None)
    topo = parse_info_network(await session.hmp("info network"))
    names = _names(topo)
    missing = [n for n in plan.expect_present if n not in names]
    still = [n for n in plan.expect_absent if n in names]
    if missing or still:
        problem = (
            f"QEMU accepted every command but info network does not show {', '.join(missing)}"
            if missing
            else f"QEMU accepted every command but info network still shows {', '.join(still)}"
        )
        log_result("unconfirmed", problem)
        raise HotplugError(f"{plan.target}: {problem}")
    log_result("ok")
    return ApplyResult(plan=plan, sent=tuple(sent), topology=topo)


def _created(cmd: QmpCommand) -> str | None:
    """The name ``cmd`` makes appear in ``info network`` (a netdev or NIC id), if any."""
    if cmd.execute in ("netdev_add", "device_add"):
        return str(cmd.arguments.get("id") or "") or None
    return None


async def _recover(
    session: QmpSession, plan: Plan, sent: list[QmpCommand], cause: TargetError,
    log_result: Any,
) -> ApplyResult:
    """After a broken session: look again in a new one; confirm a change that went through,
    else undo what the plan created. Raises ApplyFailed naming what is left in QEMU."""
    done = len(sent)
    unsure = plan.commands[done] if done < len(plan.commands) else None
    unsure_text = f"{unsure.execute} {unsure.arguments.get('id', '')}".strip() if unsure else ""
    head = f"{plan.target}: the session broke ({cause.kind}: {cause.message})"
    if unsure is not None:
        head += f" during {unsure_text}"
    created = [n for c in (*sent, *([unsure] if unsure else [])) if (n := _created(c))]
    # one session per monitor: the broken one is closed first (QEMU serves one client, and a
    # half-dead connection would keep the new one from ever being greeted)
    await session.close()
    fresh = QmpSession(session.address, timeout=session.timeout, target=session.target)
    try:
        async with fresh:
            names = _names(parse_info_network(await fresh.hmp("info network")))
            if plan.action == "link" and unsure is not None:
                await fresh.execute(unsure.execute, unsure.arguments)  # set_link is idempotent
                log_result("ok", f"{head}; set_link sent again in a new session", step=unsure)
                return ApplyResult(plan=plan, sent=plan.commands, topology=None)
            if all(n in names for n in plan.expect_present) and not any(
                n in names for n in plan.expect_absent
            ) and (plan.expect_present or plan.expect_absent):
                topo = parse_info_network(await fresh.hmp("info network"))
                log_result("ok", f"{head}; a new session confirmed the change")
                return ApplyResult(plan=plan, sent=plan.commands, topology=topo)
            undone: list[QmpCommand] = []
            if plan.action == "remove" and plan.wait_deleted not in names:
                # the NIC is gone: finish the plan (its netdev_del), nothing to undo
                for cmd in plan.commands[done:]:
                    if cmd.execute == "netdev_del" and cmd.arguments.get("id") in names:
                        await fresh.execute(cmd.execute, cmd.arguments)
                        undone.append(cmd)
            for cmd in reversed([*sent, *([unsure] if unsure else [])]):
                undo = _undo(cmd)
                name = _created(cmd)
                if undo is None or name is None or name not in names:
                    continue
                try:
                    await fresh.execute(undo.execute, undo.arguments)
                    undone.append(undo)
                except CommandFailed as exc:
                    log.warning("rollback %s failed: %s", undo, exc.qemu_message)
            after = _names(parse_info_network(await fresh.hmp("info network")))
            left = sorted(n for n in after if n in created or n in plan.expect_absent)
            if plan.action == "remove" and not left:
                log_result("ok", f"{head}; a new session finished it", undone)
                return ApplyResult(plan=plan, sent=plan.commands, topology=None)
    except TargetError as again:
        left_sent = [n for c in sent if (n := _created(c))]
        maybe = _created(unsure) if unsure is not None else None
        what = f"{head}; the VM cannot be read again ({again.kind}), so nothing was undone."
        what += (f" Left in QEMU: {', '.join(left_sent)}" if left_sent
                 else " Nothing of the change was confirmed in QEMU")
        if maybe:
            what += f"; {maybe} may exist too ({unsure_text} got no answer)"
        undo_hint = [u for c in reversed(sent) if (u := _undo(c)) is not None]
        if undo_hint:
            what += ". To undo: " + ", ".join(
                f"QMP {u.execute} {u.arguments.get('id')}" for u in undo_hint)
        log_result("broken", what)
        raise ApplyFailed(what, command=unsure) from cause
    what = head
    if undone:
        what += "; a new session sent: " + ", ".join(
            f"{u.execute} {u.arguments.get('id')}" for u in undone)
    what += f". Left in QEMU: {', '.join(left)}" if left else ". Nothing of it is left in QEMU"
    if any(u.execute == "device_del" for u in undone) and left:
        what += " (a PCI NIC goes only when the guest OS acknowledges the unplug)"
    log_result("broken", what, undone)
    raise ApplyFailed(what, command=unsure, rolled_back=undone) from cause


async def _unplug(session: QmpSession, cmd: QmpCommand, device_id: str, timeout: float) -> bool:
    """Send device_del and wait for its DEVICE_DELETED; False if it did not come in time."""
    # listen BEFORE device_del: usb-net is released at once, the event may precede the reply
    async with session.listen(["DEVICE_DELETED"]) as listener:
        try:
            await session.execute(cmd.execute, cmd.arguments)
        except CommandFailed as exc:
            # an earlier device_del is still pending (6.2+ says so): keep waiting for it
            if "in the process of unplug" not in exc.qemu_message:
                raise
        with anyio.move_on_after(timeout):
            async for event in listener:
                data: Any = event.get("data", {})
                # an id-less (legacy) NIC is removed by path: its event has only "path"
                if isinstance(data, dict) and device_id in (data.get("device"), data.get("path")):
                    return True
    return False


def _unplug_message(plan: Plan, timeout: float, skipped: Sequence[QmpCommand]) -> str:
    device_id = plan.wait_deleted
    not_sent = ", ".join(f"{c.execute} {c.arguments.get('id')}" for c in skipped)
    return (
        f"{plan.target}: device_del {device_id} was accepted but QEMU did not release the NIC "
        f"within {timeout:g}s: a PCI NIC is released only when a running guest OS acknowledges "
        "the unplug (a paused, prelaunch or OS-less guest never does). The request stays "
        f"pending and {not_sent} was not sent. Resume the guest (with an OS), or pass "
        "--keep-netdev to only request the unplug"
    )
