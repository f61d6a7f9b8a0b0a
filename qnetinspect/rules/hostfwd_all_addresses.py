from __future__ import annotations

from collections.abc import Iterator

from qnetinspect.models import Finding, Severity, Snapshot, Topology
from qnetinspect.rules._common import join, unique, usable_id
from qnetinspect.rules.base import Rule


class HostfwdAllAddresses(Rule):
    """A user (slirp) backend forwards a host port on every host address.

    Why it matters: ``hostfwd=tcp::2222-:22`` (empty host address) binds 0.0.0.0, so the guest's
    port is reachable from every network the host is on, not only from the host itself. This is
    read from ``info usernet`` over QMP, or from a capture JSON that saved it: for saved ``info
    network`` text (``file:``, ``-``) the forwards are unknown and the rule reports, as info,
    that it needs a live QMP target.

    How to fix: bind the forward to loopback (or the one address it is meant for):
    ``-netdev user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22``; on a running VM, QMP
    ``human-monitor-command`` ``hostfwd_remove`` and ``hostfwd_add`` do the same.
    """

    slug = "hostfwd-all-addresses"
    severity = Severity.WARNING
    severity_doc = "warning (info when the target is not live)"

    def check(self, snapshot: Snapshot, topology: Topology) -> Iterator[Finding]:
        label = snapshot.label
        if not snapshot.live and not snapshot.usernet_read:  # a capture may hold usernet
            users = unique(b for b in topology.backends() if b.type == "user")
            if users:
                yield self.finding(
                    snapshot.target,
                    f"{label}: host forwards of user backend{'s' if len(users) > 1 else ''} "
                    f"{join(u.name for u in users)} not checked: this needs a live QMP target "
                    "(info usernet), not saved info network text",
                    clients=[u.name for u in users],
                    fix="inspect the VM through its QMP socket to check its host forwards",
                    severity=Severity.INFO,
                )
            return
        for fwd in snapshot.usernet:
            if not fwd.all_addresses or "HOST_FORWARD" not in fwd.state.upper():
                continue
            proto = fwd.protocol.lower()
            hub = fwd.hub if fwd.hub >= 0 else None
            where = f" on hub {hub}" if hub is not None else ""
            yield self.finding(
                snapshot.target,
                f"{label}: user backend {fwd.netdev}{where} forwards host {fwd.protocol} port "
                f"{fwd.src_port} on every host address ({fwd.src_addr}) to guest "
                f"{fwd.dst_addr}:{fwd.dst_port}",
                hub=hub,
                clients=[fwd.netdev],
                fix=f"hostfwd={proto}:127.0.0.1:{fwd.src_port}-:{fwd.dst_port} in place of "
                f"hostfwd={proto}::{fwd.src_port}-:{fwd.dst_port} on "
                + (
                    f"-netdev user,id={fwd.netdev}"
                    if usable_id(fwd.netdev)
                    else "the -net user / -nic user option"
                ),
            )
