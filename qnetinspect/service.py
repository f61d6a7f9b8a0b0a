"""The composition root: targets -> sessions -> snapshots -> findings. It owns every connection.

- ``inspect(specs, ...)``: one pass (show, check, demo): expand the targets, read each VM in a
  brief session (connect, negotiate, read, disconnect), evaluate the rules.
- ``watch(specs, ...)``: a live view (the TUI): a ``qnetinspect.live.Watcher`` that re-expands
  the targets every interval, reads in brief sessions (or holds them with ``hold=True``), and is
  the one owner of each VM's connection: ``run_exclusive(target, job)`` runs a hot-plug job in
  that VM's slot.

A QEMU monitor serves one client at a time, and cron's ``check``, Proxmox's qemu-server or a
person's qmp-shell need it too: nothing here holds a monitor between reads unless asked to.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qnetinspect.errors import UsageError

if TYPE_CHECKING:
    import threading

    from qnetinspect.config import Config
    from qnetinspect.live import Watcher
    from qnetinspect.models import Finding, Snapshot
    from qnetinspect.targets import Target

NO_TARGET = ("no target: give TARGET... (a socket path, tcp:HOST:PORT, a glob, auto, - or "
             "file:PATH) or `targets` in the config file")


@dataclass(frozen=True)
class Inspection:
    """One pass over the targets: a snapshot per target (in order), every finding, wall time."""

    snapshots: list[Snapshot]
    findings: list[Finding]
    duration: float
    config: Config


def target_specs(specs: Sequence[str], config: Config, *, default: Sequence[str] = ()) -> list[str]:
    """The specs to expand: the given ones, else the config's ``targets``, else ``default``.

    Raises UsageError when there is none at all.
    """
    chosen = list(specs) or list(config.targets) or list(default)
    if not chosen:
        raise UsageError(NO_TARGET)
    return chosen


def inspect(
    specs: Sequence[str],
    *,
    config_path: str | None = None,
    config: Config | None = None,
    timeout: float | None = None,
    concurrency: int | None = None,
    read_stdin: Callable[[], str] | None = None,
    check_fixes: bool = True,
    connect: str | None = None,
    monitor: bool = True,
    warm: Sequence[str] = (),
) -> Inspection:
    """Expand ``specs`` (none: the config's targets), read every VM once in brief sessions and
    evaluate the rules. ``read_stdin`` reads the text of a ``-`` target; ``check_fixes``: verify
    each finding's fix (``qnetinspect.rules.evaluate``; off for outputs that print no fix);
    ``warm``: modules the caller needs after the reads (its report), imported while they run.

    Raises UsageError (bad target, no target, bad config) and InputError (stdin unreadable).
    """
    import qnetinspect.inventory  # noqa: F401 - imported before the clock starts
    from qnetinspect.config import load_config
    from qnetinspect.targets import expand_targets

    config = config if config is not None else load_config(config_path)
    targets = expand_targets(target_specs(specs, config), connect=connect, monitor=monitor)
    if not targets:  # only `auto` and `libvirt:` can expand to nothing
        print("qnetinspect: no running QEMU found (auto, libvirt:)", file=sys.stderr)
    stdin_text = None
    if any(t.kind == "stdin" for t in targets):
        stdin_text = (read_stdin or sys.stdin.read)()
    started = time.monotonic()
    snapshots = run_gather(
        targets,
        timeout=timeout if timeout is not None else config.timeout,
        concurrency=concurrency if concurrency is not None else config.concurrency,
        stdin_text=stdin_text,
        warm=("qnetinspect.rules", *warm),
    )
    duration = time.monotonic() - started
    snapshots, findings = guarded_evaluate(snapshots, config, check_fixes=check_fixes)
    if any(s.manager == "libvirt" for s in snapshots):
        # a libvirt user applies fixes to the domain XML, not to a QEMU command line
        from qnetinspect.libvirt.fixes import with_domain_xml_fixes

        findings = with_domain_xml_fixes(findings, snapshots)
    return Inspection(snapshots, findings, duration, config)


def guarded_evaluate(
    snapshots: list[Snapshot], config: Config | None, *, check_fixes: bool = True
) -> tuple[list[Snapshot], list[Finding]]:
    """The rules over every snapshot; if a rule fails (a bug) on one VM's data, that VM becomes
    an ``internal`` error and the others are still evaluated and reported."""
    from dataclasses import replace

    from qnetinspect.models import TargetFailure
    from qnetinspect.rules import evaluate

    try:
        return snapshots, evaluate(snapshots, config, check_fixes=check_fixes)
    except Exception:
        pass
    isolated: list[Snapshot] = []
    for s in snapshots:
        try:
            evaluate([s], config, check_fixes=check_fixes)
            isolated.append(s)
        except Exception as exc:  # the culprit: reported, never a reason to lose the others
            message = " ".join(f"a rule failed on this VM: {type(exc).__name__}: {exc}".split())
            isolated.append(replace(s, error=TargetFailure("internal", message), topology=None))
    return isolated, evaluate(isolated, config, check_fixes=check_fixes)



def run_gather(
    targets: Sequence[Target], *, timeout: float, concurrency: int, stdin_text: str | None,
    warm: Sequence[str] = (),
) -> list[Snapshot]:
    """``inventory.gather`` on a fresh event loop, with asyncio's stray noise kept off stderr.

    ``warm``: modules imported in a thread meanwhile (see ``_Warmer``)."""
    import asyncio
    import gc
    import logging

    from qnetinspect.inventory import gather

    # A peer that drops the connection makes asyncio log "socket.send() raised exception" and
    # qemu.qmp leave a finished future unread; the target's error kind already says it.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)

    # Everything imported so far lives as long as the process: leave it out of the garbage
    # collector's passes (3% fewer instructions for 60 VMs, docs/performance.md).
    gc.freeze()

    warmer = _Warmer(warm)

    async def main() -> list[Snapshot]:
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: None)
        return await gather(targets, timeout=timeout, concurrency=concurrency,
                            stdin_text=stdin_text, on_contact=warmer.start if warm else None)

    try:
        return asyncio.run(main())
    finally:
        warmer.join()


class _Warmer:
    """Imports modules in a thread while the event loop waits for the QEMUs.

    The reads leave this process idle most of the time (every QEMU answers in turn, and a host
    has few cores), while the rules and the report cost ~30 ms of imports afterwards, when
    nothing else can run: done meanwhile, the time is not added to the run's
    (docs/performance.md). Started at the first open session (``start``), not before: until the
    connections are made, the thread would only take the interpreter from them. A module that
    fails to import here fails again, with its error, where it is used. The switch interval is
    shortened meanwhile so that the event loop, woken by a reply, gets the interpreter back
    within a millisecond, not Python's default 5 ms.
    """

    def __init__(self, modules: Sequence[str]) -> None:
        self._modules = tuple(dict.fromkeys(modules))
        self._thread: threading.Thread | None = None
        self._interval = sys.getswitchinterval()

    def start(self) -> None:
        if self._thread is not None:
            return
        import threading

        sys.setswitchinterval(0.001)
        self._thread = threading.Thread(target=self._run, name="qnetinspect-warm", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import importlib

        for name in self._modules:
            try:
                importlib.import_module(name)
            except Exception:  # the user of the module imports it again and reports it
                continue

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()
            sys.setswitchinterval(self._interval)


def watch(
    specs: Sequence[str],
    *,
    config: Config,
    interval: float = 2.0,
    hold: bool = False,
) -> Watcher:
    """A live source for ``specs`` (none: the config's targets, else ``auto``).

    The targets are expanded again every interval (globs, ``auto``): new VMs appear, VMs gone
    are marked so. Saved text (``file:``) is read once. Raises UsageError for a bad spec.
    """
    from qnetinspect.live import Watcher, cross_vm_evaluator, default_evaluator
    from qnetinspect.targets import expand_targets

    chosen = target_specs(specs, config, default=["auto"])
    expanded = expand_targets(chosen, allow_stdin=False)  # usage errors now, not in the TUI
    files = [t for t in expanded if t.kind != "qmp"]
    static = {}
    if files:
        static = {s.target: s for s in run_gather(files, timeout=config.timeout,
                                                  concurrency=config.concurrency,
                                                  stdin_text=None)}
    # saved text and libvirt domains are read once; sockets, globs and `auto` are re-expanded
    glob_specs = [s for s in chosen if not s.startswith(("file:", "libvirt:"))]

    def expand() -> list[Target]:
        found: list[Target] = []
        for spec in glob_specs:
            try:
                found.extend(expand_targets([spec], allow_stdin=False))
            except UsageError:
                continue  # a glob that matches nothing now: its VMs are gone, not a typo
        return [t for t in found if t.kind == "qmp"]

    return Watcher(
        [t for t in expanded if t.kind == "qmp"],
        interval=interval,
        timeout=config.timeout,
        evaluator=default_evaluator(config),
        fleet_evaluator=cross_vm_evaluator(config),
        static=static,
        hold=hold,
        expand=expand,
    )
