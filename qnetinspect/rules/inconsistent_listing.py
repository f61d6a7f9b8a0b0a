from __future__ import annotations

from collections.abc import Iterator

from qnetinspect.models import Finding, Severity, Snapshot, Topology
from qnetinspect.rules.base import Rule

_ABOUT_THE_LISTING = frozenset({"inconsistent-listing", "unparsed-lines"})


class InconsistentListing(Rule):
    """The ``info network`` listing contradicts itself or the VM's other data, or can be read
    another way that shows a problem.

    Why it matters: QEMU prints a backend's info string verbatim, and part of it (a stream's
    unix path, a tap's script path) is chosen by whoever configured the VM. A newline in it makes
    the rest look like lines of their own: ``hub 7`` moves the NAT port and the NIC to a phantom
    hub and the NAT+external leak disappears from the report. Signs of it: a port named
    ``hubNportM`` under another hub, a hub listed twice, a hub after the clients outside hubs,
    a hub port the command line puts elsewhere, a NIC QOM pairs with another netdev. The rules
    are then also run on the other readings (hubs merged, ports moved, the lines after an
    external backend read as the end of its info string): the finding is critical when such a
    reading shows a problem the listing as printed hides, and those problems are reported
    too when the listing is proven inconsistent.

    How to fix: look at the VM's command line (``qnetinspect lint --pid PID``) and give the
    path that holds a newline a plain name, e.g. ``-netdev
    stream,id=st0,server=on,addr.type=unix,addr.path=/run/vm1/st0.sock``; for a VM that is not
    local, compare with its configuration. Suppress the rule for a VM only once its listing is
    known to be right.
    """

    slug = "inconsistent-listing"
    severity = Severity.CRITICAL
    severity_doc = "critical when another reading shows a problem, else warning"

    def check(self, snapshot: Snapshot, topology: Topology) -> Iterator[Finding]:
        if not topology.contradictions and not topology.alternatives:
            return
        from qnetinspect.rules import RULES  # the registry lists this rule too: imported late

        # rules about the network; not those about the listing itself (another reading of it
        # may leave other lines unread: that is no problem of the VM)
        others = [r for r in RULES if not r.cross_vm and r.slug not in _ABOUT_THE_LISTING]

        def key(f: Finding) -> tuple[str, tuple[str, ...]]:
            return (f.rule, tuple(sorted(f.clients)))

        def run(t: Topology) -> list[Finding]:
            return [f for r in others for f in r.check(snapshot, t)]

        shown = {key(f) for f in run(topology)}
        hidden: dict[tuple[str, tuple[str, ...]], Finding] = {}
        for reading in topology.alternatives:
            for f in run(reading):
                k = key(f)
                if f.severity < Severity.WARNING or k in shown:
                    continue  # an info finding is no alarm to lose
                if k not in hidden or f.severity > hidden[k].severity:
                    hidden[k] = f
        proven = bool(topology.contradictions)
        if not hidden and not proven:
            return  # only ambiguous, and no reading shows anything more
        severity = Severity.CRITICAL if hidden else Severity.WARNING
        what = "; ".join(topology.contradictions) if proven else (
            "an external backend's or a filter's info string may hold a newline, which makes "
            "the lines after it look like a new section"
        )
        tail = ""
        if hidden:
            tail = " Read otherwise, it shows: " + "; ".join(
                f"{f.rule} ({f.severity.label}) {', '.join(f.clients)}".rstrip()
                for f in hidden.values()
            )
        yield self.finding(
            snapshot.target,
            f"{snapshot.label}: the network listing "
            f"{'contradicts itself' if proven else 'can be read two ways'}: {what}.{tail}",
            clients=sorted({c for f in hidden.values() for c in f.clients}),
            fix="check the VM's command line (qnetinspect lint --pid PID) for a path or name "
            "holding a newline",
            severity=severity,
        )
        if proven:
            # the listing as printed is proven wrong: the pessimistic reading's problems count
            yield from hidden.values()
