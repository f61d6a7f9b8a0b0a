"""Rich text for the TUI: tree labels, the detail pane, finding markers. Pure, no textual.

Colour never carries meaning alone: every colour has a text marker next to it (CRIT/WARN/INFO,
``NAT+EXT``, ``DOWN``), so the screen reads the same without colour.
"""

from __future__ import annotations

from rich.text import Text

from qnetinspect.live import VmState
from qnetinspect.models import Finding, Hub, NetClient, Severity, Topology
from qnetinspect.report.escape import sanitize_topology, terminal
from qnetinspect.tui.model import SEVERITY_MARK, VmView, mixes_nat_and_external

SEVERITY_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.WARNING: "bold black on yellow",
    Severity.INFO: "bold white on blue",
}
STATE_STYLE = {
    VmState.CONNECTED: "green",
    VmState.STATIC: "cyan",
    VmState.CONNECTING: "dim",
    VmState.RECONNECTING: "yellow",
    VmState.UNREACHABLE: "bold red",
    VmState.BUSY: "bold yellow",
    VmState.GONE: "dim",
}
LEAK_MARK = "NAT+EXT"


def severity_mark(severity: Severity) -> Text:
    out = Text()  # unstyled base: text appended after the mark keeps its own style
    out.append(f" {SEVERITY_MARK[severity]} ", style=SEVERITY_STYLE[severity])
    return out


def state_text(vm: VmView, now: float | None = None) -> Text:
    text = vm.state.value
    if vm.error is not None and vm.state in (VmState.UNREACHABLE, VmState.RECONNECTING):
        text = f"{text}: {vm.error.kind}"
        if vm.state is VmState.UNREACHABLE and vm.retry_in is not None:
            text += f", retry in {vm.retry_in:g}s"
    if vm.state is VmState.BUSY:
        text = "busy: another client holds the monitor"
        if vm.retry_in is not None:
            text += f", retry in {vm.retry_in:g}s"
    if vm.state in (VmState.BUSY, VmState.GONE):
        text += f", {reading_age(vm.read_at, now)}"
    return Text(text, style=STATE_STYLE[vm.state])


def reading_age(read_at: float | None, now: float | None = None) -> str:
    """``last read 12s ago`` (or ``never read``): how old the reading on screen is."""
    if read_at is None:
        return "never read"
    import time

    age = max(0.0, (time.time() if now is None else now) - read_at)
    if age < 120:
        return f"last read {age:.0f}s ago"
    if age < 7200:
        return f"last read {age / 60:.0f}min ago"
    return f"last read {age / 3600:.0f}h ago"


def vm_label(vm: VmView, extra: tuple[Finding, ...] = ()) -> Text:
    """``[NAT+EXT] name  state  CRIT 1 WARN 2``: the leak marker first, impossible to miss."""
    out = Text()
    if vm.leaking_hubs:
        out.append(f" {LEAK_MARK} ", style="bold white on red")
        out.append(" ")
    if vm.state in (VmState.UNREACHABLE, VmState.RECONNECTING):
        out.append(" DOWN ", style="bold white on dark_red")
        out.append(" ")
    elif vm.state is VmState.BUSY:
        out.append(" BUSY ", style="bold black on yellow")
        out.append(" ")
    elif vm.state is VmState.GONE:
        out.append(" GONE ", style="bold white on grey37")
        out.append(" ")
    out.append(terminal(vm.label), style="bold")
    if vm.label != vm.target:
        out.append(f" ({terminal(vm.target)})", style="dim")
    out.append("  ")
    out.append_text(state_text(vm))
    counts = vm.counts(extra)
    for sev in (Severity.CRITICAL, Severity.WARNING, Severity.INFO):
        if counts[sev]:
            out.append("  ")
            out.append_text(severity_mark(sev))
            out.append(f" {counts[sev]}")
    return out


def client_text(c: NetClient) -> Text:
    """``e1000.0 nic e1000 52:54:00:12:34:56`` with the kind of backend spelled out."""
    out = Text(terminal(c.name), style="bold")
    out.append(f"  {terminal(c.type)}", style=_type_style(c))
    if c.is_nic:
        details = terminal(" ".join(x for x in (c.model, c.mac) if x))
    else:
        details = terminal(c.info_raw)
        kind = "NAT" if c.is_nat else "external" if c.is_external else ""
        if kind:
            out.append(f" [{kind}]", style=_type_style(c))
    if details:
        out.append(f"  {details}", style="dim")
    if c.index:
        out.append(f"  queue {c.index}", style="dim")
    return out


def _type_style(c: NetClient) -> str:
    if c.is_nic:
        return "cyan"
    if c.is_nat:
        return "magenta"
    return "yellow" if c.is_external else ""


def hub_label(hub: Hub) -> Text:
    out = Text()
    if mixes_nat_and_external(hub):
        out.append(f" {LEAK_MARK} ", style="bold white on red")
        out.append(" ")
    out.append(f"hub {hub.id}", style="bold")
    nics, backends = len(hub.nics), len(hub.backends)
    out.append(f"  {nics} NIC{'s' if nics != 1 else ''}, {backends} backend", style="dim")
    if backends != 1:
        out.append("s", style="dim")
    if mixes_nat_and_external(hub):
        out.append("  NAT and external backend on one hub", style="bold red")
    return out


def port_label(name: str | None, peer: NetClient | None) -> Text:
    out = Text(f"{terminal(name or 'port')} ", style="dim")
    if peer is None:
        out.append("(no peer)", style="italic dim")
    else:
        out.append("→ ")
        out.append_text(client_text(peer))
    return out


def pair_label(client: NetClient) -> Text:
    out = client_text(client)
    if client.peer is not None:
        out.append("  ⇄  ")
        out.append_text(client_text(client.peer))
    elif client.is_nic:
        out.append("  (no backend)", style="yellow")
    return out


def fallback_diagram(topology: Topology, title: str | None = None) -> str:
    """A plain listing, used only if ``qnetinspect.report.diagram`` is missing."""
    lines = [title] if title else []
    for hub in topology.hubs:
        lines.append(f"hub {hub.id}")
        for port in hub.ports:
            peer = f"{port.peer.name} ({port.peer.type})" if port.peer else "(no peer)"
            lines.append(f"  +-- {port.name or 'port'} -- {peer}")
    for c in topology.clients:
        if c.index:
            continue
        peer = f" <-> {c.peer.name} ({c.peer.type})" if c.peer else ""
        lines.append(f"{c.name} ({c.type}){peer}")
    return "\n".join(lines) or "(no network)"


def diagram(topology: Topology, title: str | None = None) -> str:
    try:
        from qnetinspect.report.diagram import render_diagram
    except ImportError:
        return fallback_diagram(topology, title)
    return render_diagram(topology, title=title)


def detail_text(vm: VmView, hub_id: int | None = None, client: str | None = None) -> Text:
    """The detail pane: who the VM is, its state, then the diagram of the VM or one hub/pair."""
    out = Text()
    out.append(terminal(vm.label), style="bold")
    if vm.label != vm.target:
        out.append(f"  {terminal(vm.target)}", style="dim")
    out.append("\n")
    out.append_text(state_text(vm))
    snap = vm.snapshot
    if snap is not None:
        facts = [
            f"QEMU {snap.vm.qemu_version}" if snap.vm.qemu_version else "",
            f"status {snap.vm.status}" if snap.vm.status else "",
            f"pid {snap.vm.pid}" if snap.vm.pid else "",
            f"managed by {snap.manager}" if snap.manager else "",
        ]
        line = "  ".join(x for x in facts if x)
        if line:
            out.append(f"   {terminal(line)}", style="dim")
    out.append("\n")
    if vm.error is not None:
        out.append(f"{vm.error.kind}: {terminal(vm.error.message)}\n", style="red")
        if snap is not None and snap.topology is not None:
            out.append("last known network:\n", style="dim")
    topo = snap.topology if snap is not None else None
    if topo is None:
        return out
    for hub in topo.hubs:
        if mixes_nat_and_external(hub) and hub_id in (None, hub.id):
            out.append(f" {LEAK_MARK} ", style="bold white on red")
            out.append(f" hub {hub.id} joins the NAT backend with an external backend\n",
                       style="bold red")
    part = topo
    title = vm.label
    if hub_id is not None and topo.hub(hub_id) is not None:
        part = Topology(hubs=(topo.hub(hub_id),))  # type: ignore[arg-type]
        title = f"{vm.label}: hub {hub_id}"
    elif client is not None:
        pair = tuple(c for c in topo.clients if c.index == 0 and client in _names(c))
        if pair:
            part = Topology(clients=pair)
            title = f"{vm.label}: {client}"
    out.append("\n")
    out.append(diagram(sanitize_topology(part), terminal(title)))
    return out


def _names(c: NetClient) -> tuple[str, ...]:
    return (c.name,) if c.peer is None else (c.name, c.peer.name)


def finding_text(f: Finding, why: str = "", fix: str = "") -> Text:
    """The finding, why it matters (rule docstring) and how to fix it."""
    out = severity_mark(f.severity)
    out.append(f" {f.rule}", style="bold")
    out.append(f"  {terminal(f.target)}", style="dim")
    out.append(f"\n{terminal(f.message)}\n")
    if why:
        out.append("Why it matters: ", style="bold")
        out.append(f"{why}\n")
    if f.fix or fix:
        out.append("How to fix: ", style="bold green")
        out.append(f"{terminal(f.fix or fix)}\n")
    return out
