"""The ``?`` screen: keys and a glossary of the words the tool uses."""

from __future__ import annotations

from typing import ClassVar

from rich.markdown import Markdown
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

HELP = """\
# qnetinspect

Watches the networks of running QEMU VMs over QMP and flags hubs that mix the user-mode
NAT backend with an external backend (marked **NAT+EXT** in red).

## Keys

| key | action |
|---|---|
| `↑` `↓` `←` `→` `enter` | move in the tree, open and close nodes (the mouse works too) |
| `tab` | next pane (tree, findings, change log) |
| `/` | filter the tree and the findings by text (`escape` clears it) |
| `r` | refresh every VM now |
| `p` | pause / resume refreshing |
| `+` `-` | refresh more / less often |
| `ctrl+p` | command palette |
| `?` | this help |
| `q` | quit |
| `a` `x` `l` | add a backend, remove a NIC, toggle a link (only with `--allow-changes`) |
| `d` | drop the VMs marked gone |

## Glossary

**hub**: a QEMU-internal Ethernet repeater. Legacy `-net` options all land on hub 0; `-netdev
hubport,hubid=N` makes hub N. Every frame that enters one port leaves through all the others.

**port**: one attachment point of a hub (`hub0port1`, or the id of a `-netdev hubport`). Its
peer is a NIC or a backend.

**netdev**: a host-side network backend (`-netdev TYPE,id=ID`): user, tap, socket, stream ...

**NIC**: the network card the guest sees (`-device e1000,netdev=ID`, `-nic`, `-net nic`).
A NIC and a netdev paired directly, without a hub, form a private two-end link.

**NAT backend**: `user` (slirp): QEMU itself does NAT, DHCP (10.0.2.x) and DNS for the guest,
and reaches the host's networks on its behalf.

**external backend**: anything that carries frames outside QEMU: tap, bridge, socket,
stream, dgram, vde, vhost-user, l2tpv3 ... On a hub with a NAT backend, the outside world can
use the VM's NAT to reach the host's networks: that is the **NAT+EXT** finding.

## States

**connected**: read over QMP on the last refresh. **unreachable (kind)**: the last attempt
failed: not-found, refused, timeout, no-greeting (QEMU is stopped), ...
**reconnecting**: trying again, with a growing pause (0.5 s up to 10 s). **busy**: another
client (cron's `check`, Proxmox, a qmp-shell) held the monitor for the whole timeout; the last
reading stays on screen with its age, and we try again. **gone**: its glob or `auto` no longer
finds it (`d` drops it). **static**: saved text, read once.

## Sharing the monitor

A QEMU monitor serves one client at a time. By default each refresh is a brief session
(connect, read, disconnect; the header says "brief sessions"), so other clients get their
turn. With `--hold` ("holding monitors" in the header) each VM's session stays open and
refreshes on QMP events too, and no one else can use that monitor while the TUI runs: use it
only for monitors dedicated to qnetinspect. Hot-plug (`a` `x` `l`) runs in the watcher's own
session slot for that VM.
"""


class HelpScreen(Screen[None]):
    """Keys, glossary and states; any of escape, q or ? closes it.

    A full screen, not a modal: dimming the screen behind a modal costs a second per frame on
    a loaded machine."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("q", "close", "Close", show=False),
        Binding("question_mark", "close", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            # rich renders the markdown in one go; textual's Markdown widget is far slower
            yield Static(Markdown(HELP), id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)
