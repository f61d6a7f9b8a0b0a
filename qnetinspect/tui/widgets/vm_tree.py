"""The tree of VMs -> hubs and NIC pairs -> ports and peers. Draws VmViews; decides nothing."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from qnetinspect.models import Finding
from qnetinspect.report.escape import terminal
from qnetinspect.targets import host_of_spec
from qnetinspect.tui import render
from qnetinspect.tui.messages import NodeChosen
from qnetinspect.tui.model import NodeRef, VmView

#: above this many VMs, VM nodes start collapsed (the tree stays readable with 200 VMs)
EXPAND_UP_TO = 12


class VmTree(Tree[NodeRef]):
    """One node per VM, updated in place: only a VM whose topology changed is rebuilt."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("VMs", id=id)
        self.show_root = False
        self.guide_depth = 3
        self._vm_nodes: dict[str, TreeNode[NodeRef]] = {}
        self._expand = True

    def show(self, vms: Sequence[VmView], extras: dict[str, tuple[Finding, ...]]) -> None:
        """Rebuild from scratch with exactly these VMs (start, filter change)."""
        cursor = self.cursor_node.data if self.cursor_node is not None else None
        self.clear()
        self._vm_nodes.clear()
        self._expand = len(vms) <= EXPAND_UP_TO
        # VMs of several hosts (libvirt:NAME@HOST, tcp:HOST:PORT) are grouped under their host
        hosts = {vm.target: host_of_spec(vm.target) for vm in vms}
        grouped = len(set(hosts.values())) > 1
        parents: dict[str | None, TreeNode[NodeRef]] = {}
        for vm in vms:
            label = render.vm_label(vm, extras.get(vm.target, ()))
            parent = self.root
            if grouped:
                host = hosts[vm.target]
                if host not in parents:
                    parents[host] = self.root.add(
                        Text(f"host {terminal(host)}" if host else "this host", style="bold"),
                        None, expand=True)
                parent = parents[host]
            node = parent.add(label, NodeRef(vm.target, "vm"))
            self._vm_nodes[vm.target] = node
            self._fill(node, vm)
            if self._expand:
                node.expand()
        self.root.expand()
        if cursor is not None:
            self.select_ref(cursor)

    def update_vm(self, vm: VmView, extra: tuple[Finding, ...], *, rebuild: bool) -> None:
        """Relabel one VM; rebuild its children only when its topology changed."""
        node = self._vm_nodes.get(vm.target)
        if node is None:
            return  # filtered out
        node.set_label(render.vm_label(vm, extra))
        if rebuild:
            cursor = self.cursor_node.data if self.cursor_node is not None else None
            node.remove_children()
            self._fill(node, vm)
            if cursor is not None and cursor.target == vm.target:
                self.select_ref(cursor)

    def has_vm(self, target: str) -> bool:
        return target in self._vm_nodes

    def select_ref(self, ref: NodeRef) -> None:
        """Put the cursor back on the node for ``ref`` (or its VM) after a rebuild."""
        vm_node = self._vm_nodes.get(ref.target)
        if vm_node is None:
            return
        best = vm_node
        for child in _walk(vm_node):
            if child.data == ref:
                best = child
                break
        self.move_cursor(best)

    def _fill(self, node: TreeNode[NodeRef], vm: VmView) -> None:
        topo = vm.snapshot.topology if vm.snapshot else None
        if topo is None:
            if vm.error is not None:
                # Text, not str: a str label is Textual markup, and a peer writes this message
                text = Text(f"{vm.error.kind}: {terminal(vm.error.message)}")
                node.add_leaf(text, NodeRef(vm.target, "error"))
            return
        for hub in topo.hubs:
            hub_node = node.add(render.hub_label(hub), NodeRef(vm.target, "hub", hub=hub.id))
            for port in hub.ports:
                name = port.peer.name if port.peer else None
                hub_node.add_leaf(
                    render.port_label(port.name, port.peer),
                    NodeRef(vm.target, "client", hub=hub.id, client=name),
                )
            hub_node.expand()
        for client in topo.clients:
            if client.index:
                continue  # queues 1..n of a multiqueue NIC repeat queue 0
            ref = NodeRef(vm.target, "pair", client=client.name)
            pair = node.add(render.pair_label(client), ref)
            pair.add_leaf(
                render.client_text(client), NodeRef(vm.target, "client", client=client.name)
            )
            if client.peer is not None:
                pair.add_leaf(
                    render.client_text(client.peer),
                    NodeRef(vm.target, "client", client=client.peer.name),
                )
        if not topo.hubs and not topo.clients:
            node.add_leaf("(no network)", NodeRef(vm.target, "vm"))

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[NodeRef]) -> None:
        event.stop()
        if event.node.data is not None:
            self.post_message(NodeChosen(event.node.data))


def _walk(node: TreeNode[NodeRef]) -> list[TreeNode[NodeRef]]:
    out: list[TreeNode[NodeRef]] = []
    for child in node.children:
        out.append(child)
        out.extend(_walk(child))
    return out
