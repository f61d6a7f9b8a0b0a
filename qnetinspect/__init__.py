"""qnetinspect: see, check and fix the networks of running QEMU VMs.

Public API: ``parse_info_network``, ``Topology`` and the other models, ``Finding``, ``Severity``.
"""

from qnetinspect.models import (
    Filter,
    Finding,
    Hub,
    HubPort,
    NetClient,
    Severity,
    Snapshot,
    Topology,
    UnparsedLine,
    UsernetForward,
)
from qnetinspect.parse import parse_info_network, parse_usernet

__all__ = [
    "Filter",
    "Finding",
    "Hub",
    "HubPort",
    "NetClient",
    "Severity",
    "Snapshot",
    "Topology",
    "UnparsedLine",
    "UsernetForward",
    "parse_info_network",
    "parse_usernet",
]
__version__ = "0.1.0"
