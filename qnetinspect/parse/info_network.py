"""Parser of HMP ``info network`` for every format QEMU printed. (stub: being written)"""

from __future__ import annotations

from qnetinspect.models import Topology, UnparsedLine


def parse_info_network(text: str) -> Topology:
    """Parse ``info network`` text; never raises, unreadable lines go to ``unparsed``."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return Topology(unparsed=tuple(UnparsedLine(i + 1, t) for i, t in enumerate(lines)))
