"""Verify a fix before it is printed: apply it, re-run the rules, compare.

A fix is only worth printing when acting on it helps. ``verify_argv_fix`` takes the command
line a finding came from and the command line the fix turns it into, predicts both networks
(``qnetinspect.parse.argv.predict``), runs every rule on both and says what is wrong with the
result: QEMU would refuse it, it still has a critical finding, or it has a warning the original
did not have. Warnings are compared per rule by count, not by client name, because a rewrite
renames auto-named backends (``user.0`` becomes ``user0``) without changing anything real.

The comparison itself is ``qnetinspect.rules._verify.compare``, which also checks the fixes the
rules give from a topology alone (``Rule.fixed``); the command-line fixes (``migrate``, and the
migrated fix of ``lint``, ``show`` and the TUI through ``qnetinspect.migrate.fix_for``) ask here.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from qnetinspect.models import Finding, Snapshot, Topology, VmInfo
from qnetinspect.parse.argv import DEFAULT_VERSION, Version, predict, usernet_forwards
from qnetinspect.rules._verify import FixVerdict, compare


def argv_findings(argv: Sequence[str], qemu_version: Version = DEFAULT_VERSION) -> list[Finding]:
    """The findings ``lint`` would report for ``argv`` (without host checks)."""
    from qnetinspect import rules

    result = predict(list(argv), qemu_version=qemu_version)
    snapshot = Snapshot(
        target="argv",
        vm=VmInfo(name=result.vm_name, qemu_version="{}.{}".format(*qemu_version)),
        topology=result.topology,
        usernet=usernet_forwards(result),
        live=True,
        argv=tuple(argv),
    )
    return list(rules.evaluate([snapshot]))


def topology_findings(topology: Topology) -> list[Finding]:
    """The findings of one VM's topology (no usernet, no argv)."""
    from qnetinspect import rules

    return list(rules.evaluate([Snapshot(target="t", topology=topology, live=False)]))


def verify_argv_fix(
    before: Sequence[str],
    after: Sequence[str],
    *,
    qemu_version: Version = DEFAULT_VERSION,
    keep: Collection[str] = (),
) -> FixVerdict:
    """Apply-and-recheck for a command-line fix (see the module docstring)."""
    fixed = predict(list(after), qemu_version=qemu_version)
    if fixed.errors:
        return FixVerdict(tuple(f"QEMU would refuse it: {e}" for e in fixed.errors))
    return compare(
        argv_findings(before, qemu_version), argv_findings(after, qemu_version), keep=keep
    )


__all__ = ["FixVerdict", "argv_findings", "compare", "topology_findings", "verify_argv_fix"]
