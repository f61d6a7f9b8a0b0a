"""Safe hot-adding and removing of netdevs and NICs: a pure plan, then an async apply.

``plan_add`` / ``plan_remove`` / ``plan_link`` (pure, in ``plan``) say exactly which QMP
commands will be sent, the topology they lead to and the findings they would create;
``apply_plan`` (in ``live``) sends them, rolls back on failure, confirms the result in
``info network`` and writes the audit log.
"""

from qnetinspect.hotplug.live import (
    ApplyFailed,
    ApplyResult,
    UnplugTimeout,
    apply_plan,
    read_context,
    read_snapshot,
)
from qnetinspect.hotplug.plan import (
    BACKENDS,
    DEFAULT_MODEL,
    NO_NIC,
    AddRequest,
    Plan,
    PlanContext,
    QmpCommand,
    format_plan,
    plan_add,
    plan_link,
    plan_remove,
    refuse_critical,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_MODEL",
    "NO_NIC",
    "AddRequest",
    "ApplyFailed",
    "ApplyResult",
    "Plan",
    "PlanContext",
    "QmpCommand",
    "UnplugTimeout",
    "apply_plan",
    "format_plan",
    "plan_add",
    "plan_link",
    "plan_remove",
    "read_context",
    "read_snapshot",
    "refuse_critical",
]
