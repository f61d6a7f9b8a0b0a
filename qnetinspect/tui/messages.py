"""Messages of the TUI: small dataclasses, posted by workers and widgets, handled by the app."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from qnetinspect.live import FleetUpdate, VmUpdate
from qnetinspect.tui.model import NodeRef


@dataclass
class SourceUpdate(Message):
    """The watcher (or a static source) has news about one VM, or about the whole fleet."""

    update: VmUpdate | FleetUpdate


@dataclass
class NodeChosen(Message):
    """The user moved to a VM, hub or client in the tree."""

    ref: NodeRef
