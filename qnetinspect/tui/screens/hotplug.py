"""Hot-plug screens, pushed by the app when it runs with ``--allow-changes``.

- ``AddNetdevScreen``: a form (backend, id, options, NIC model, MAC, hub) with a live preview
  of the resulting topology and of the findings the change would create;
- ``RemoveNicScreen``: unplug a NIC (and delete its backend unless "keep netdev");
- ``LinkToggleScreen``: set a link up or down;
- ``ConfirmChangeScreen``: the exact QMP commands, then Apply / Cancel.

The screens hold no QMP logic: planning is ``qnetinspect.hotplug.plan`` (pure, run on every
keystroke for the preview) and I/O runs in workers through ``qnetinspect.hotplug.live``. Every
screen dismisses with True when a change was applied, False otherwise.
"""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from qnetinspect.errors import QNetInspectError, UsageError
from qnetinspect.hotplug import live
from qnetinspect.hotplug.plan import (
    BACKENDS,
    DEFAULT_MODEL,
    NO_NIC,
    AddRequest,
    Plan,
    PlanContext,
    format_finding,
    format_plan,
    plan_add,
    plan_link,
    plan_remove,
)
from qnetinspect.hotplug.schema import parse_option
from qnetinspect.models import Severity, Snapshot
from qnetinspect.report.escape import markup, sanitize_topology, terminal, terminal_lines
from qnetinspect.tui import render

T = TypeVar("T")

CSS = """
HotplugScreen, ConfirmChangeScreen {
    align: center middle;
}
.hp-dialog {
    width: 90%;
    height: 90%;
    border: thick $primary;
    background: $surface;
    padding: 0 1;
}
.hp-row {
    height: auto;
}
.hp-row > Label {
    width: 12;
    padding: 1 0 0 0;
}
.hp-row > Input, .hp-row > Select {
    width: 1fr;
}
.hp-preview {
    height: 1fr;
    border: round $secondary;
}
.hp-buttons {
    height: auto;
    align: right middle;
}
.hp-error {
    color: $error;
    height: auto;
}
"""


def findings_text(plan: Plan) -> Text:
    if not plan.new_findings:
        return Text("this change creates no new finding", style="green")
    out = Text()
    for f in plan.new_findings:
        style = "bold red" if f.severity >= Severity.CRITICAL else "yellow"
        out.append(format_finding(f) + "\n", style=style)
    return out


class ConfirmChangeScreen(ModalScreen[bool]):
    """Shows the exact QMP commands of a plan; True when the user chose to apply."""

    DEFAULT_CSS = CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan

    def compose(self) -> ComposeResult:
        with Vertical(classes="hp-dialog"):
            yield Label(f"Apply to {markup(self.plan.target)}? These commands will be sent:")
            with VerticalScroll(classes="hp-preview"):
                yield Static(Text(terminal_lines(format_plan(self.plan))), id="confirm-plan")
            with Horizontal(classes="hp-buttons"):
                if self.plan.critical:
                    yield Button("Apply anyway (force)", variant="error", id="apply")
                else:
                    yield Button("Apply", variant="primary", id="apply")
                yield Button("Cancel", id="cancel")

    @on(Button.Pressed, "#apply")
    def _apply(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)


class HotplugScreen(ModalScreen[bool]):
    """Common parts: the target, its snapshot, an error line, applying a plan in a worker."""

    DEFAULT_CSS = CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, target: str, snapshot: Snapshot) -> None:
        super().__init__()
        self.target = target
        self.snapshot = snapshot
        self.context = PlanContext()
        self.plan: Plan | None = None

    def show_error(self, message: str) -> None:
        self.query_one("#error", Static).update(Text(terminal(message)))  # QEMU's text

    def action_cancel(self) -> None:
        self.dismiss(False)

    def confirm_and_apply(self, plan: Plan, **apply_kw: Any) -> None:
        def chosen(apply: bool | None) -> None:
            if apply:
                self.apply(plan, force=bool(plan.critical), **apply_kw)

        self.app.push_screen(ConfirmChangeScreen(plan), callback=chosen)

    async def in_session(self, job: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``job`` in the app's session slot for this VM: the watcher owns the connection,
        a second session beside it would find the monitor busy."""
        run_exclusive = getattr(self.app, "run_exclusive", None)
        if run_exclusive is None:  # a bare app (tests of the screen alone)
            async with live.session_for(self.target) as session:
                return await job(session)
        # the job gets the watcher's session for this VM (a QmpSession: hot-plug needs events)
        result: T = await run_exclusive(self.target, job)
        return result

    @work(exclusive=True, group="hotplug-apply")
    async def apply(self, plan: Plan, *, force: bool = False, **apply_kw: Any) -> None:
        self.show_error("applying ...")

        async def job(session: Any) -> live.ApplyResult:
            return await live.apply_plan(session, plan, force=force, **apply_kw)

        try:
            result = await self.in_session(job)
        except QNetInspectError as exc:
            self.show_error(str(exc))
            return
        if result.pending:
            waiting = markup(plan.wait_deleted or "")
            self.app.notify(f"{waiting}: unplug requested, not released yet")
        else:
            self.app.notify(f"{plan.action} applied to {markup(plan.target)}")
        self.dismiss(True)


class AddNetdevScreen(HotplugScreen):
    """Add a backend (and a NIC on it, or join it to a hub), with a live preview."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="hp-dialog"):
            yield Label(f"Add a network backend to {markup(self.target)}")
            with Horizontal(classes="hp-row"):
                yield Label("backend")
                yield Select(
                    [(b, b) for b in BACKENDS], value="user", allow_blank=False, id="backend"
                )
            with Horizontal(classes="hp-row"):
                yield Label("id")
                yield Input(placeholder="netdev id (default netN)", id="netdev-id")
            with Horizontal(classes="hp-row"):
                yield Label("options")
                yield Input(
                    placeholder="KEY=VALUE ... e.g. hostfwd=tcp:127.0.0.1:2222-:22", id="options"
                )
            with Horizontal(classes="hp-row"):
                yield Label("NIC model")
                yield Select(
                    [(DEFAULT_MODEL, DEFAULT_MODEL), ("no NIC", NO_NIC)],
                    value=DEFAULT_MODEL,
                    allow_blank=False,
                    id="model",
                )
            with Horizontal(classes="hp-row"):
                yield Label("MAC")
                yield Input(placeholder="default: a free generated MAC", id="mac")
            with Horizontal(classes="hp-row"):
                yield Label("hub")
                yield Input(placeholder="hub N to join (empty: none)", id="hub")
            yield Static(Text("reading the live QEMU ...", style="dim"), id="status")
            yield Static("", id="error", classes="hp-error")
            with VerticalScroll(classes="hp-preview"):
                yield Static("", id="preview")
                yield Static("", id="findings")
            with Horizontal(classes="hp-buttons"):
                yield Button("Review and apply", variant="primary", id="review")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.update_preview()
        self.load_context()

    @work(exclusive=True, group="hotplug-context")
    async def load_context(self) -> None:
        """Read the live QEMU's schema, NIC models and free root ports for the checks."""
        others = self.other_snapshots()

        async def job(session: Any) -> PlanContext:
            return await live.read_context(session, self.snapshot, others)

        try:
            self.context = await self.in_session(job)
        except QNetInspectError as exc:
            self.query_one("#status", Static).update(
                Text(f"cannot read {self.target}: {exc} (options are not checked)", style="yellow")
            )
            return
        self.query_one("#status", Static).update(Text("checked against the live QEMU", style="dim"))
        if self.context.nic_models:
            models = sorted(self.context.nic_models)
            select: Select[str] = self.query_one("#model", Select)
            current = select.value
            select.set_options([(m, m) for m in models] + [("no NIC", NO_NIC)])
            select.value = current if current in (*models, NO_NIC) else DEFAULT_MODEL
        self.update_preview()

    def other_snapshots(self) -> tuple[Snapshot, ...]:
        """The other VMs the app watches (a new MAC must be unique across them too)."""
        model = getattr(self.app, "model", None)
        views = getattr(model, "vms", {})
        found = []
        for view in views.values() if isinstance(views, dict) else ():
            snap = getattr(view, "snapshot", None)
            if isinstance(snap, Snapshot) and snap.target != self.target:
                found.append(snap)
        return tuple(found)

    def request(self) -> AddRequest:
        """The form as an AddRequest; UsageError naming the field that is wrong."""
        backend = str(self.query_one("#backend", Select).value)
        model = str(self.query_one("#model", Select).value)
        hub_text = self.query_one("#hub", Input).value.strip()
        try:
            hub = int(hub_text) if hub_text else None
        except ValueError:
            raise UsageError(f"hub {hub_text!r}: expected a hub number") from None
        try:
            words = shlex.split(self.query_one("#options", Input).value)
        except ValueError as exc:
            raise UsageError(f"options: {exc}") from None
        return AddRequest(
            backend=backend,
            id=self.query_one("#netdev-id", Input).value.strip() or None,
            device=None
            if hub is not None and backend != "hubport" and model == DEFAULT_MODEL
            else model,
            mac=self.query_one("#mac", Input).value.strip() or None,
            hub=hub,
            options=tuple(parse_option(w) for w in words),
        )

    @on(Input.Changed)
    @on(Select.Changed)
    def update_preview(self) -> None:
        preview = self.query_one("#preview", Static)
        findings = self.query_one("#findings", Static)
        try:
            plan = plan_add(self.snapshot, self.request(), self.context)
        except QNetInspectError as exc:
            self.plan = None
            self.show_error(str(exc))
            findings.update("")
            return
        self.plan = plan
        self.show_error("")
        preview.update(Text(render.diagram(sanitize_topology(plan.after),
                                           title=terminal(f"after: {self.target}"))))
        findings.update(findings_text(plan))

    @on(Button.Pressed, "#review")
    def review(self) -> None:
        self.update_preview()
        if self.plan is not None:
            self.confirm_and_apply(self.plan)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(False)


class RemoveNicScreen(HotplugScreen):
    """Unplug a NIC: device_del, wait for DEVICE_DELETED, then netdev_del its backend."""

    def __init__(self, target: str, snapshot: Snapshot, nic_name: str) -> None:
        super().__init__(target, snapshot)
        self.nic_name = nic_name

    def compose(self) -> ComposeResult:
        with Vertical(classes="hp-dialog"):
            yield Label(f"Remove NIC {markup(self.nic_name)} from {markup(self.target)}")
            yield Checkbox("keep its netdev (only request the unplug)", id="keep")
            yield Static("", id="error", classes="hp-error")
            with VerticalScroll(classes="hp-preview"):
                yield Static("", id="preview")
            with Horizontal(classes="hp-buttons"):
                # enabled once the VM's devices are read: an id-less (legacy) NIC is removed by
                # its QOM path, which only the live QEMU tells (the plan shown = the one sent)
                yield Button("Remove", variant="error", id="remove", disabled=True)
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.update_preview()
        self.load_context()

    @work(exclusive=True, group="hotplug-context")
    async def load_context(self) -> None:
        """Read the live QEMU's devices (QOM paths of legacy NICs), then plan again."""
        async def job(session: Any) -> PlanContext:
            return await live.read_context(session, self.snapshot)

        try:  # in the watcher's session slot: a second session would find the monitor busy
            self.context = await self.in_session(job)
        except QNetInspectError as exc:
            self.show_error(f"cannot read {self.target}: {exc}")
            return
        self.update_preview()
        self.query_one("#remove", Button).disabled = self.plan is None

    @on(Checkbox.Changed)
    def update_preview(self) -> None:
        keep = self.query_one("#keep", Checkbox).value
        try:
            self.plan = plan_remove(
                self.snapshot, self.nic_name, keep_netdev=keep, context=self.context
            )
        except QNetInspectError as exc:
            self.plan = None
            self.show_error(str(exc))
            return
        self.show_error("")
        self.query_one("#preview", Static).update(Text(format_plan(self.plan)))

    @on(Button.Pressed, "#remove")
    def _remove_pressed(self) -> None:
        if self.plan is not None:
            self.apply(self.plan)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(False)


class LinkToggleScreen(HotplugScreen):
    """Set a NIC's link up or down (set_link); the commands are shown on the buttons' screen."""

    def __init__(self, target: str, snapshot: Snapshot, nic_name: str) -> None:
        super().__init__(target, snapshot)
        self.nic_name = nic_name

    def compose(self) -> ComposeResult:
        with Vertical(classes="hp-dialog"):
            yield Label(f"Link of {markup(self.nic_name)} on {markup(self.target)}")
            yield Static("", id="error", classes="hp-error")
            with VerticalScroll(classes="hp-preview"):
                yield Static("", id="preview")
            with Horizontal(classes="hp-buttons"):
                yield Button("Link down", variant="warning", id="down")
                yield Button("Link up", variant="success", id="up")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        lines: list[str] = []
        try:
            for up in (False, True):
                plan = plan_link(self.snapshot, self.nic_name, up)
                lines.append(f"{'up' if up else 'down'}: {plan.commands[0]}")
        except QNetInspectError as exc:
            self.show_error(str(exc))
            return
        self.query_one("#preview", Static).update(Text("\n".join(lines)))

    @on(Button.Pressed, "#up")
    def link_up(self) -> None:
        self._set(True)

    @on(Button.Pressed, "#down")
    def link_down(self) -> None:
        self._set(False)

    def _set(self, up: bool) -> None:
        try:
            plan = plan_link(self.snapshot, self.nic_name, up)
        except QNetInspectError as exc:
            self.show_error(str(exc))
            return
        self.apply(plan)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(False)

