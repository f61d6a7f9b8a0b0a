"""The panes next to the tree: detail (diagram), findings table, finding explanation, change log.

They take ready-made text and rows from the app; none of them looks inside a topology.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, RichLog, Static

from qnetinspect.live import Change
from qnetinspect.models import Finding
from qnetinspect.report.escape import terminal
from qnetinspect.tui import render

#: the change log keeps this many lines and drops the oldest (memory stays flat over days)
CHANGE_LOG_LINES = 500


class DetailText(Static):
    """The text of a detail pane; at least as tall as the pane (see ``DetailPane.show_text``)."""


class DetailPane(VerticalScroll):
    """The selected VM, hub or NIC pair, drawn like the seed's diagrams.

    Moving the cursor redraws it; a layout of the whole screen costs more than all the rest of
    a cursor move, so the text is replaced without one whenever it fits the pane before and
    after (the text widget is then exactly as tall as the pane).
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.shown_text = ""  # what is on screen, for tests
        self._lines = 0

    def compose(self) -> ComposeResult:
        yield DetailText()

    def show_text(self, text: Text) -> None:
        self.shown_text = text.plain
        width = max(1, self.scrollable_content_region.width)
        lines = sum(max(1, -(-cell_len(line) // width)) for line in text.plain.split("\n"))
        room = self.scrollable_content_region.height
        fits = room > 0 and lines <= room and self._lines <= room
        self._lines = lines
        holders = self.query(DetailText)
        if not holders:
            # a cursor event can arrive before this pane's child is mounted: draw after it is
            self.call_after_refresh(self.show_text, text)
            return
        holders.first().update(text, layout=not fits)
        if not fits:
            self.scroll_home(animate=False)


class FindingsTable(DataTable[Text | str]):
    """Findings, worst first: a coloured severity cell that also says CRIT/WARN/INFO.

    The app redraws it at most every ``FINDINGS_EVERY`` seconds: with 200 VMs it holds a
    thousand rows.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        # fixed widths: no column is re-measured over every row when rows change
        self.add_column("sev", width=6, key="sev")
        self.add_column("VM", width=18, key="vm")
        self.add_column("rule", width=20, key="rule")
        self.add_column("message", width=160, key="message")
        self._by_key: dict[str, Finding] = {}
        self._keys: dict[Finding, list[str]] = {}
        self._serial = 0

    def show(self, findings: Sequence[Finding], labels: dict[str, str]) -> None:
        """Make the rows these findings, in this order; the cursor stays on its finding."""
        if list(findings) == self.shown():
            return
        current = self.current()
        # one clear and appends: DataTable.remove_row is linear, so row-by-row edits of a
        # thousand rows cost more than this (the fixed column widths keep appends cheap)
        self.clear()
        self._by_key.clear()
        self._keys.clear()
        for f in findings:
            self._serial += 1
            key = str(self._serial)
            self._by_key[key] = f
            self._keys.setdefault(f, []).append(key)
            label = labels.get(f.target, f.target)
            # Text, not str: a str cell is parsed as markup, a thousand times over
            self.add_row(
                render.severity_mark(f.severity), Text(terminal(label)), Text(f.rule),
                Text(terminal(f.message)),
                key=key,
            )
        if current is not None and current in self._keys:
            self.move_cursor(row=self.get_row_index(self._keys[current][0]))

    def shown(self) -> list[Finding]:
        """The findings in the order they are on screen."""
        return [self._by_key[str(row.key.value)] for row in self.ordered_rows]

    def current(self) -> Finding | None:
        if not self._by_key or not 0 <= self.cursor_row < self.row_count:
            return None
        row_key = self.ordered_rows[self.cursor_row].key
        return self._by_key.get(str(row_key.value))


class FindingDetail(DetailPane):
    """What the selected finding means (the rule's docstring) and how to fix it."""


class ChangeLog(RichLog):
    """What appeared and disappeared, newest last; bounded."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=CHANGE_LOG_LINES, wrap=False, markup=False)

    def add_changes(self, lines: Sequence[tuple[str, Change]], stamp: str = "") -> None:
        """Append ``(label, change)`` pairs: one line per VM, in one write (one repaint)."""
        if not lines:
            return
        by_vm: dict[str, list[Change]] = {}
        for label, change in lines:
            by_vm.setdefault(label, []).append(change)
        out = Text()
        for i, (label, changes) in enumerate(list(by_vm.items())[-CHANGE_LOG_LINES:]):
            if i:
                out.append("\n")
            if stamp:
                out.append(f"{stamp} ", style="dim")
            out.append(f"{terminal(label)}:", style="bold")
            for text, kind in summarize(changes):
                style = {"appeared": "green", "disappeared": "red"}.get(kind, "yellow")
                out.append(f" {terminal(text)}", style=style)  # client names, finding text
        self.write(out)


def summarize(changes: Sequence[Change]) -> list[tuple[str, str]]:
    """Short pieces for one VM's changes: hubs, findings and states by name, ports and clients
    by name up to two, else counted (``-4 ports``), so a big change stays one readable line."""
    out: list[tuple[str, str]] = []
    counted: dict[tuple[str, str], list[Change]] = {}
    for c in changes:
        if c.what in ("port", "client"):
            counted.setdefault((c.kind, c.what), []).append(c)
        else:
            out.append((str(c) if c.kind != "state" else c.text, c.kind))
    for (kind, what), group in counted.items():
        sign = "+" if kind == "appeared" else "-"
        if len(group) <= 2:
            out.extend((str(c), kind) for c in group)
        else:
            out.append((f"{sign}{len(group)} {what}s", kind))
    return [(f"{text};" if i < len(out) - 1 else text, kind) for i, (text, kind) in enumerate(out)]
