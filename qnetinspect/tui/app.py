"""The Textual app: a tree of VMs, a detail pane, findings and a change log, kept live.

The app never talks QMP: a *source* (``qnetinspect.live.Watcher`` for real VMs, ``StaticSource``
for fixed snapshots) runs in one long-lived worker and posts ``SourceUpdate`` messages. Updates
are folded into a ``FleetModel``; widgets are redrawn in one batch per burst of messages, and
only the VMs that changed are touched, so 200 VMs refreshing stay responsive.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ClassVar, TypeVar

from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input

from qnetinspect.live import Change, FleetUpdate, Source, VmState, VmUpdate
from qnetinspect.models import Finding
from qnetinspect.report import escape
from qnetinspect.tui import render
from qnetinspect.tui.messages import NodeChosen, SourceUpdate
from qnetinspect.tui.model import FleetModel, NodeRef, VmView, vm_matches
from qnetinspect.tui.rule_docs import rule_doc
from qnetinspect.tui.screens.help import HelpScreen
from qnetinspect.tui.widgets.panes import ChangeLog, DetailPane, FindingDetail, FindingsTable
from qnetinspect.tui.widgets.vm_tree import VmTree

T = TypeVar("T")
HOTPLUG_MODULE = "qnetinspect.tui.screens.hotplug"
#: the refresh intervals ``+`` and ``-`` step through (seconds)
INTERVALS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
#: change-log lines waiting for the next redraw; beyond this the oldest are dropped
PENDING_CHANGES = 500
#: seconds of no typing before the filter is applied
FILTER_DELAY = 0.15
#: the findings table is redrawn at most this often (seconds) while findings keep changing
FINDINGS_EVERY = 1.0
#: rows of the findings table (a DataTable rebuild costs ~0.3 ms a row)
FINDING_ROWS = 150


class QNetInspectApp(App[int]):
    """Watch VMs from ``source``; read-only unless ``allow_changes``.

    ``clock`` stamps change-log lines (None: no stamps, for deterministic screenshots).
    """

    CSS_PATH = "app.tcss"
    #: below 36 rows the fixed-height panes shrink (app.tcss ``Screen.-short``) so the diagram
    #: keeps room on an 80x24 terminal
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]  # noqa: RUF012 - typed by App
    TITLE = "qnetinspect"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("r", "refresh_now", "Refresh"),
        Binding("p", "toggle_pause", "Pause"),
        Binding("plus,equals_sign", "faster", "Faster", key_display="+"),
        Binding("minus", "slower", "Slower", key_display="-"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("a", "add", "Add netdev"),
        Binding("x", "remove", "Remove NIC"),
        Binding("l", "link", "Link up/down"),
        Binding("d", "drop_gone", "Drop gone VMs", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(
        self,
        source: Source,
        *,
        allow_changes: bool = False,
        title: str | None = None,
        clock: Callable[[], str] | None = None,
        exit_on_signals: bool = False,
    ) -> None:
        super().__init__()
        self.source = source
        self.allow_changes = allow_changes
        self.clock = clock
        self.exit_on_signals = exit_on_signals
        if title:
            self.title = title
        self.model = FleetModel.for_targets(list(source.targets))
        self.selected: NodeRef | None = None
        self._dirty: dict[str, bool] = {}  # target -> topology changed
        self._findings_dirty = False
        self._fleet_dirty = False
        self._pending: list[Change] = []
        self._redraw_scheduled = False
        self.updates_seen = 0  # for tests and the benchmark
        self._filter_timer: Timer | None = None
        self._detail_key: object = None
        self._findings_timer: Timer | None = None
        self._findings_shown_at = 0.0

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="filter: VM, hub, client, type, MAC, rule  (escape clears)",
                    id="filter")
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield VmTree(id="tree")
                yield ChangeLog(id="changes")
            with Vertical(id="right"):
                yield DetailPane(id="detail")
                yield FindingsTable(id="findings")
                yield FindingDetail(id="finding-detail")
        yield Footer()

    def on_mount(self) -> None:
        if self.exit_on_signals:
            _install_exit_handlers(self)
        # kept, not queried: app.query_one looks in the *active* screen, which is the help or a
        # hot-plug screen while updates keep arriving
        main = self.screen
        self._changes_log = main.query_one("#changes", ChangeLog)
        self._table = main.query_one("#findings", FindingsTable)
        self._detail = main.query_one("#detail", DetailPane)
        self._tree = main.query_one("#tree", VmTree)
        self._explain = main.query_one("#finding-detail", FindingDetail)
        self._filter_box = main.query_one("#filter", Input)
        self._changes_log.border_title = "changes"
        self._table.border_title = "findings"
        self._detail.border_title = "detail"
        self._tree.border_title = "VMs"
        self._explain.border_title = "explanation"
        self._show_tree()
        self._update_subtitle()
        self._tree.focus()
        self._consume_source()

    @work(exclusive=True, group="source")
    async def _consume_source(self) -> None:
        """The only long-running I/O: the source pushes updates until the app exits."""
        await self.source.run(self._sink)

    def _sink(self, update: VmUpdate | FleetUpdate) -> None:
        self.post_message(SourceUpdate(update))

    # ------------------------------------------------------------------ updates
    def on_source_update(self, message: SourceUpdate) -> None:
        update = message.update
        self.updates_seen += 1
        if self.model.apply(update):
            self._findings_dirty = True
        if isinstance(update, VmUpdate):
            self._dirty[update.target] = self._dirty.get(update.target, False) or (
                update.topology_changed
            )
        else:
            self._fleet_dirty = True
        self._pending.extend(update.changes)
        del self._pending[:-PENDING_CHANGES]
        if not self._redraw_scheduled:
            self._redraw_scheduled = True
            # after the messages already queued: a burst of updates costs one redraw
            self.call_later(self._redraw)

    def _redraw(self) -> None:
        self._redraw_scheduled = False
        if self.selected is None and self.model.vms:
            self.selected = NodeRef(next(iter(self.model.vms)), "vm")
        tree = self._tree
        dirty, self._dirty = self._dirty, {}
        if self._fleet_dirty:
            dirty.update({t: dirty.get(t, False) for t in self.model.vms})
            self._fleet_dirty = False
        text = self.model.filter_text.lower()
        # a VM that should be in the tree and is not (new, or the filter) or the other way round
        if any(
            t in self.model.vms
            and (not text or vm_matches(self.model.vms[t], text)) != tree.has_vm(t)
            for t in dirty
        ):
            self._show_tree()
        else:
            for target, rebuild in dirty.items():
                vm = self.model.vms[target]
                tree.update_vm(vm, self.model.fleet_for(target), rebuild=rebuild)
        if self._findings_dirty and self._findings_timer is None:
            wait = self._findings_shown_at + FINDINGS_EVERY - time.monotonic()
            if wait <= 0:
                self._show_findings()
            else:  # a fleet in flux: redraw the (long) table at most every FINDINGS_EVERY s
                self._findings_timer = self.set_timer(wait, self._show_findings)
        if self.selected is not None and self.selected.target in dirty:
            self._show_detail()
        log = self._changes_log
        stamp = self.clock() if self.clock else ""
        lines = []
        for change in self._pending:
            seen = self.model.vms.get(change.target)
            lines.append((seen.label if seen is not None else change.target, change))
        log.add_changes(lines, stamp)
        self._pending.clear()
        self._update_subtitle()

    def _show_tree(self) -> None:
        tree = self._tree
        vms = self.model.visible_vms()
        tree.show(vms, {vm.target: self.model.fleet_for(vm.target) for vm in vms})

    def _show_findings(self) -> None:
        self._findings_dirty = False
        self._findings_shown_at = time.monotonic()
        if self._findings_timer is not None:
            self._findings_timer.stop()
            self._findings_timer = None
        labels = {t: vm.label for t, vm in self.model.vms.items()}
        table = self._table
        found = self.model.visible_findings()
        # worst first, so what is cut is the least severe; the tree still counts every finding
        table.show(found[:FINDING_ROWS], labels)
        table.border_subtitle = (
            f"{FINDING_ROWS} of {len(found)}: / filters" if len(found) > FINDING_ROWS else ""
        )
        self._show_finding(table.current())

    def _show_detail(self) -> None:
        pane = self._detail
        ref = self.selected
        vm = self.model.vms.get(ref.target) if ref is not None else None
        if ref is None or vm is None:
            self._detail_key = None
            pane.show_text(Text("select a VM, hub or NIC pair", style="dim"))
            return
        hub = ref.hub if ref.kind == "hub" else None
        client = ref.client if ref.kind in ("pair", "client") and ref.hub is None else None
        if ref.kind == "client" and ref.hub is not None:
            hub = ref.hub
        key = (vm.snapshot, vm.state, vm.error, vm.findings, hub, client)
        if key == self._detail_key:
            return  # e.g. moving between the ports of one hub: same drawing
        self._detail_key = key
        pane.show_text(render.detail_text(vm, hub, client))

    def _show_finding(self, finding: Finding | None) -> None:
        pane = self._explain
        if finding is None:
            pane.show_text(Text("no finding selected", style="dim"))
            return
        doc = rule_doc(finding.rule)
        why = " ".join(x for x in (doc.summary, doc.why) if x) if doc else ""
        pane.show_text(render.finding_text(finding, why, doc.fix if doc else ""))

    def _update_subtitle(self) -> None:
        parts = [self.model.summary(), f"every {self.source.interval:g}s"]
        hold = getattr(self.source, "hold", None)
        if hold is not None:  # live VMs: say whether we hold their monitors
            parts.append("holding monitors (--hold)" if hold else "brief sessions")
        if self.source.paused:
            parts.append("PAUSED")
        if self.model.filter_text:
            parts.append(f"filter: {self.model.filter_text}")
        if self.allow_changes:
            parts.append("changes allowed")
        self.sub_title = " · ".join(parts)

    # ------------------------------------------------------------------ selection
    def on_node_chosen(self, message: NodeChosen) -> None:
        self.selected = message.ref
        self._show_detail()

    @on(DataTable.RowHighlighted, "#findings")
    def _finding_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_finding(self._table.current())

    @on(DataTable.RowSelected, "#findings")
    def _finding_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a finding jumps to its VM (and hub) in the tree."""
        finding = self._table.current()
        if finding is None or finding.target not in self.model.vms:
            return
        ref = NodeRef(finding.target, "hub", hub=finding.hub) if finding.hub is not None else (
            NodeRef(finding.target, "vm")
        )
        tree = self._tree
        tree.select_ref(ref)
        tree.focus()

    # ------------------------------------------------------------------ filter
    def action_filter(self) -> None:
        box = self._filter_box
        box.add_class("shown")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        # typing stays responsive with 200 VMs: rebuild once the keys pause
        if self._filter_timer is not None:
            self._filter_timer.stop()
        value = event.value
        self._filter_timer = self.set_timer(FILTER_DELAY, lambda: self.set_filter(value))

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self.set_filter(event.value)
        self._tree.focus()
        if not event.value:
            self._filter_box.remove_class("shown")

    def action_clear_filter(self) -> None:
        box = self._filter_box
        if box.has_class("shown") or self.model.filter_text:
            box.value = ""
            box.remove_class("shown")
            if self._filter_timer is not None:
                self._filter_timer.stop()
            self.set_filter("")
            self._tree.focus()

    def set_filter(self, text: str) -> None:
        """Show only the VMs and findings that mention ``text`` (case-insensitive)."""
        text = text.strip()
        if text == self.model.filter_text:
            return
        self.model.filter_text = text
        self._show_tree()
        self._show_findings()
        self._update_subtitle()

    # ------------------------------------------------------------------ refresh control
    def action_refresh_now(self) -> None:
        self.source.refresh_now()
        self.notify("refreshing every VM", timeout=1.5)

    def action_toggle_pause(self) -> None:
        self.source.set_paused(not self.source.paused)
        self._update_subtitle()

    def action_faster(self) -> None:
        self._step_interval(-1)

    def action_slower(self) -> None:
        self._step_interval(+1)

    def _step_interval(self, step: int) -> None:
        now = self.source.interval
        if step < 0:
            smaller = [i for i in INTERVALS if i < now]
            new = smaller[-1] if smaller else now  # already faster than the ladder
        else:
            larger = [i for i in INTERVALS if i > now]
            new = larger[0] if larger else now
        self.source.set_interval(new)
        self._update_subtitle()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_drop_gone(self) -> None:
        """Forget the VMs that went away (their glob or ``auto`` no longer finds them)."""
        gone = [t for t, vm in self.model.vms.items() if vm.state is VmState.GONE]
        drop = getattr(self.source, "drop", None)
        for target in gone:
            if drop is not None:
                drop(target)
            self.model.drop(target)
        if gone:
            self._show_tree()
            self._show_findings()
            self._update_subtitle()

    async def run_exclusive(self, target: str, job: Callable[[Any], Awaitable[T]]) -> T:
        """Run a hot-plug ``job(session)`` on ``target`` in the watcher's slot for that VM (the
        one owner of its connection); a source without slots (saved snapshots) gets a brief
        session. Raises TargetError (busy, not-found ...) and what ``job`` raises."""
        runner = getattr(self.source, "run_exclusive", None)
        if runner is not None:
            result: T = await runner(target, job)
            return result
        from qnetinspect.hotplug.live import session_for

        async with session_for(target) as session:
            return await job(session)

    # ------------------------------------------------------------------ hot-plug hooks
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("add", "remove", "link"):
            return self.allow_changes  # read-only: the keys are not even shown
        return True

    def on_key(self, event: events.Key) -> None:
        # read-only: the change keys are hidden and disabled, so a press would do nothing at
        # all; say why instead (a key an Input or a dialog used never bubbles up to here)
        if (
            not self.allow_changes
            and event.key in ("a", "x", "l")
            and self.screen is self.screen_stack[0]
        ):
            self.notify(
                "read-only: changes (a add, x remove, l link) need qnetinspect tui "
                "--allow-changes",
                severity="warning",
            )

    def _selected_vm(self) -> VmView | None:
        if self.selected is None:
            return None
        return self.model.vms.get(self.selected.target)

    def _selected_nic(self, vm: VmView) -> str | None:
        ref = self.selected
        topo = vm.snapshot.topology if vm.snapshot else None
        if ref is None or ref.client is None or topo is None:
            return None
        nics = {c.name for c in topo.nics()}
        return ref.client if ref.client in nics else None

    def _push_hotplug(self, class_name: str, needs_nic: bool) -> None:
        if not self.allow_changes:
            return
        vm = self._selected_vm()
        if vm is None or vm.snapshot is None or vm.snapshot.topology is None:
            self.notify("select a connected VM first", severity="warning")
            return
        if not vm.snapshot.live:
            self.notify(f"{escape.markup(vm.label)} is saved text: nothing to change",
                        severity="warning")
            return
        from qnetinspect.managed import manager_of_vm, managers_way, vm_label

        manager = vm.snapshot.manager or manager_of_vm(vm.snapshot.argv, vm.target)
        if manager is not None:  # its manager would not know of the change (see managed.py)
            action = class_name.removesuffix("Screen").lower()
            action = {"addnetdev": "add", "removenic": "remove", "linktoggle": "link"}.get(
                action, action)
            how = managers_way(manager, action, vm_label(manager, vm.snapshot.vm.name,
                                                         vm.target))
            self.notify(f"hot-plug is off for {vm.label}: it is managed by {manager}, which "
                        f"would not know of the change. {manager}'s way: {how}",
                        severity="warning", timeout=10)
            return
        if importlib.util.find_spec(HOTPLUG_MODULE) is None:
            self.notify("hot-plug screens are not available in this build", severity="error")
            return
        screen_class = getattr(importlib.import_module(HOTPLUG_MODULE), class_name)
        args: list[object] = [vm.target, vm.snapshot]
        if needs_nic:
            nic = self._selected_nic(vm)
            if nic is None:
                self.notify("select a NIC in the tree first", severity="warning")
                return
            args.append(nic)
        target = vm.target
        screen: Screen[Any] = screen_class(*args)
        self.push_screen(screen, callback=lambda _result: self.source.refresh_now(target))

    def action_add(self) -> None:
        self._push_hotplug("AddNetdevScreen", needs_nic=False)

    def action_remove(self) -> None:
        self._push_hotplug("RemoveNicScreen", needs_nic=True)

    def action_link(self) -> None:
        self._push_hotplug("LinkToggleScreen", needs_nic=True)

    # ------------------------------------------------------------------ command palette
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Refresh now", "Read every VM again now (r)", self.action_refresh_now)
        yield SystemCommand(
            "Pause / resume", "Stop or restart the periodic refresh (p)", self.action_toggle_pause
        )
        yield SystemCommand("Refresh faster", "Shorter refresh interval (+)", self.action_faster)
        yield SystemCommand("Refresh slower", "Longer refresh interval (-)", self.action_slower)
        yield SystemCommand("Filter", "Filter VMs and findings by text (/)", self.action_filter)
        yield SystemCommand("Help", "Keys and glossary (?)", self.action_help)
        yield SystemCommand(
            "Show only NAT+external", "Filter on the NAT+external finding",
            lambda: self._filter_to("nat-external-hub"),
        )

    def _filter_to(self, text: str) -> None:
        box = self._filter_box
        box.add_class("shown")
        box.value = text


def run_tui(
    targets: list[str],
    *,
    interval: float = 2.0,
    allow_changes: bool = False,
    title: str | None = None,
    config: str | None = None,
    hold: bool = False,
) -> int:
    """Watch ``targets`` (specs as on the command line; none: the config's, else discovery)
    until the user quits. ``config`` is a TOML path (None: the default path, if present).

    Raises UsageError (malformed target, bad config). Returns 0, or 1 when no VM was found.
    """
    import sys

    from qnetinspect.config import load_config
    from qnetinspect.service import watch

    settings = load_config(config)
    source = watch(targets, config=settings, interval=interval, hold=hold)
    if not source.targets:
        print(
            "qnetinspect: no running QEMU with a QMP socket found: give socket paths "
            "(qnetinspect tui /path/to/vm.qmp)",
            file=sys.stderr,
        )
        return 1
    app = QNetInspectApp(
        source,
        allow_changes=allow_changes,
        title=title,
        clock=lambda: time.strftime("%H:%M:%S"),
        exit_on_signals=True,
    )
    app.run()
    return app.return_code or 0


def _install_exit_handlers(app: App[Any]) -> None:
    """SIGTERM/SIGHUP end the app like ``q`` (terminal restored, sessions closed), 128+signal."""
    import asyncio
    import signal

    loop = asyncio.get_running_loop()

    # signal.signal, not loop.add_signal_handler: a terminal that stopped reading fills Textual's
    # output queue, and the event loop then blocks on it and never runs a loop handler; a
    # Python handler still runs in the main thread (the blocked wait is interrupted)
    def handler(signum: int, frame: object) -> None:
        _start_watchdog(signum)
        loop.call_soon_threadsafe(functools.partial(app.exit, return_code=128 + signum))

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


#: how long the orderly exit after SIGTERM/SIGHUP may take before the process ends anyway
EXIT_GRACE = 1.5


def _start_watchdog(sig: int) -> None:
    """End the process with 128+sig if the orderly exit (like ``q``) has not finished within
    EXIT_GRACE: a terminal gone under heavy redraw leaves the output thread blocked on a full
    pty, and the orderly exit would wait for it forever. The kernel closes the QMP sockets."""
    import os
    import threading

    def force() -> None:
        os._exit(128 + sig)

    watchdog = threading.Timer(EXIT_GRACE, force)
    watchdog.daemon = True
    watchdog.start()

