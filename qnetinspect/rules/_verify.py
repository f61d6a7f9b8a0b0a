"""Apply a fix, re-run the rules, compare: a fix is offered only when acting on it helps.

``compare`` is the one test of "better" (no critical finding left, no warning the original did
not have; warnings counted per rule, because a rewrite renames auto-named backends).
``verify_fixes`` runs it for findings whose rule can apply its own fix to the topology
(``Rule.fixed``); a fix that fails is replaced by what the user must decide. Pure: the
command-line fixes of ``qnetinspect.migrate`` use ``compare`` through ``qnetinspect.fixcheck``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from qnetinspect.models import Finding, Severity, Snapshot, Topology


@dataclass(frozen=True, slots=True)
class FixVerdict:
    """What applying a fix leads to; ``ok`` when it may be offered."""

    problems: tuple[str, ...]
    after: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def compare(
    before: Sequence[Finding],
    after: Sequence[Finding],
    *,
    keep: Collection[str] = (),
    fixes: str | None = None,
) -> FixVerdict:
    """Problems of ``after`` against ``before``.

    A whole rewrite (``fixes`` None: ``migrate``): any critical finding is a problem, unless its
    rule is in ``keep`` and it was there before. The fix of one finding (``fixes`` = its rule):
    that rule must fire less often than before (the finding is gone), and no critical rule may
    fire more often (a MAC fix on a VM that also leaks is not refused for the leak it does not
    claim to fix). Either way, no warning rule may fire more often than before.
    """
    problems: list[str] = []
    old_crit = Counter(f.rule for f in before if f.severity >= Severity.CRITICAL)
    new_crit = Counter(f.rule for f in after if f.severity >= Severity.CRITICAL)
    for f in after:
        if f.severity < Severity.CRITICAL:
            continue
        if fixes is None:
            bad = not (f.rule in keep and old_crit[f.rule])
        else:
            bad = new_crit[f.rule] > old_crit[f.rule] or f.rule == fixes
        if bad:
            problems.append(f"{f.rule} (critical): {f.message}")
    if fixes is not None and fixes not in new_crit:
        remaining = sum(1 for f in after if f.rule == fixes)
        if remaining >= sum(1 for f in before if f.rule == fixes):
            problems.append(f"{fixes} (not fixed): the finding would remain")
    old = Counter(f.rule for f in before if f.severity == Severity.WARNING)
    new = Counter(f.rule for f in after if f.severity == Severity.WARNING)
    for rule, count in sorted(new.items()):
        if count > old.get(rule, 0):
            msg = next(
                f.message for f in after if f.rule == rule and f.severity == Severity.WARNING
            )
            problems.append(f"{rule} (new warning): {msg}")
    return FixVerdict(tuple(problems), tuple(after))


def not_offered(problems: Iterable[str]) -> str:
    """The fix text when no rewrite passes: what is wrong, and what the user must decide."""
    return (
        f"no rewrite to copy: the obvious one would leave {'; '.join(problems)}. Decide which "
        "network each NIC should be on (one backend per NIC, a new NIC for a backend that "
        "needs one), then check the result with qnetinspect lint"
    )


_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")

Fixer = Callable[[Topology, Finding], "Topology | None"]


#: verdicts kept across calls (the TUI and --watch-like callers evaluate the same VMs again
#: every refresh): key -> None (the fix passed) or its problems; bounded, cleared when full
_SEEN: dict[tuple[object, ...], tuple[str, ...] | None] = {}
#: fixes verified per VM and run; the rest are not offered (issue 14: bounded work per VM)
MAX_CHECKED_PER_VM = 64
_SEEN_MAX = 4096


def verify_fixes(
    findings: Sequence[Finding],
    snapshots: Mapping[str, Snapshot],
    fixers: Mapping[str, Fixer],
    check_vm: Callable[[Snapshot], list[Finding]],
) -> list[Finding]:
    """``findings`` with each rewiring fix verified (``fixers``: rule slug -> ``Rule.fixed``);
    ``check_vm`` runs every rule on one VM without this verification."""
    baseline: dict[str, list[Finding]] = {}
    checked: Counter[str] = Counter()
    out: list[Finding] = []
    for f in findings:
        fixer = fixers.get(f.rule)
        snap = snapshots.get(f.target)
        if fixer is None or snap is None or snap.topology is None or not f.fix:
            out.append(f)
            continue
        checked[f.target] += 1
        if checked[f.target] > MAX_CHECKED_PER_VM:
            # each check re-runs every rule on the VM: a listing of thousands of NICs (a peer
            # may send one) would take minutes. Not checked, so not offered.
            out.append(replace(f, fix=(
                f"not checked: this VM has more than {MAX_CHECKED_PER_VM} fixes to check; "
                "fix the findings above first, or split the network by hand and check the "
                "result with qnetinspect lint")))
            continue
        # a fleet of VMs started the same way has the same findings and fixes: a fix that
        # passed for one passes for all (the rules read only these parts of a snapshot). The
        # MAC a fix suggests is derived from the VM's name: masked (a derived MAC equal to
        # another NIC's of the same VM is a 2^-24 chance). A failure's text names the VM, so
        # failures are kept per target.
        key = (f.rule, f.hub, f.clients, _MAC.sub("MAC", f.fix), snap.topology, snap.usernet,
               snap.live, tuple(sorted(snap.listen_hints.items())))
        if key in _SEEN:
            out.append(f)
            continue
        failed = _SEEN.get((f.target, *key))
        if failed is None:
            fixed = fixer(snap.topology, f)
            if fixed is None:
                out.append(f)
                continue
            if f.target not in baseline:
                baseline[f.target] = check_vm(snap)
            verdict = compare(
                baseline[f.target], check_vm(replace(snap, topology=fixed)), fixes=f.rule
            )
            if len(_SEEN) >= _SEEN_MAX:
                _SEEN.clear()
            if verdict.ok:
                _SEEN[key] = None
                out.append(f)
                continue
            failed = verdict.problems
            _SEEN[(f.target, *key)] = failed
        out.append(replace(f, fix=not_offered(failed)))
    return out
