"""qnetinspect: see, check and fix the networks of running QEMU VMs.

Public API: ``parse_info_network``, ``Topology`` and the other models, ``Finding``, ``Severity``,
``inspect`` (one pass over targets) and ``watch`` (a live source), from ``qnetinspect.service``.
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
from qnetinspect.service import inspect, watch

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
    "inspect",
    "parse_info_network",
    "parse_usernet",
    "watch",
]
__version__ = "0.1.0"
