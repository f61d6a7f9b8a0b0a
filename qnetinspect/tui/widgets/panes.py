"""The panes next to the tree: detail (diagram), findings table, finding explanation, change log.

They take ready-made text and rows from the app; none of them looks inside a topology.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable, RichLog, Static

from qnetinspect.live import Change
from qnetinspect.models import Finding
from qnetinspect.tui import render

#: the change log keeps this many lines and drops the oldest (memory stays flat over days)
CHANGE_LOG_LINES = 500


class DetailPane(Static):
    """The selected VM, hub or NIC pair, drawn like the seed's diagrams."""

    _shape: tuple[int, int] = (-1, -1)

    def show_text(self, text: Text) -> None:
        # a new layout of the whole screen costs more than the rest of a cursor move: only ask
        # for one when the text changes shape (lines, widest line)
        lines = text.plain.split("\n")
        shape = (len(lines), max(map(len, lines)))
        self.update(text, layout=shape != self._shape)
        self._shape = shape


class FindingsTable(DataTable[Text | str]):
    """Findings, worst first: a coloured severity cell that also says CRIT/WARN/INFO."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.add_column("sev", width=6, key="sev")
        self.add_column("VM", width=18, key="vm")
        self.add_column("rule", width=20, key="rule")
        self.add_column("message", key="message")
        self._shown: list[Finding] = []

    def show(self, findings: Sequence[Finding], labels: dict[str, str]) -> None:
        """Replace the rows, keeping the cursor on the same finding when it is still there."""
        if list(findings) == self._shown:
            return
        current = self.current()
        self.clear()
        self._shown = list(findings)
        for f in findings:
            self.add_row(
                render.severity_mark(f.severity),
                labels.get(f.target, f.target),
                f.rule,
                f.message,
            )
        if current is not None and current in self._shown:
            self.move_cursor(row=self._shown.index(current))

    def current(self) -> Finding | None:
        if not self._shown or not 0 <= self.cursor_row < len(self._shown):
            return None
        return self._shown[self.cursor_row]


class FindingDetail(DetailPane):
    """What the selected finding means (the rule's docstring) and how to fix it."""


class ChangeLog(RichLog):
    """What appeared and disappeared, newest last; bounded."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=CHANGE_LOG_LINES, wrap=False, markup=False)

    def add_change(self, label: str, change: Change, stamp: str = "") -> None:
        line = Text()
        if stamp:
            line.append(f"{stamp} ", style="dim")
        style = {"appeared": "green", "disappeared": "red"}.get(change.kind, "yellow")
        line.append(f"{label}: ", style="bold")
        line.append(str(change), style=style)
        self.write(line)
