"""QEMU id rules and MAC addresses: checking what the user gave, generating what they did not.

Pure: no I/O. Every check raises UsageError with one line naming the value and what was expected.
"""

from __future__ import annotations

import random
import re
from collections.abc import Collection, Iterable

from qnetinspect.errors import UsageError
from qnetinspect.models import Snapshot

# QEMU's id_wellformed(): a letter first, then letters, digits, '-', '.', '_'.
_ID = re.compile(r"[A-Za-z][A-Za-z0-9._-]*")
_MAC = re.compile(r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}")
#: QEMU's own default MACs (52:54:00:12:34:56 + creation order): never generated, they collide
#: between VMs started without mac=.
QEMU_DEFAULT_MAC_PREFIX = "52:54:00:12:34:"


def check_id(value: str, what: str = "id") -> str:
    """Return ``value`` if QEMU accepts it as an id, else raise UsageError naming it."""
    if not _ID.fullmatch(value):
        raise UsageError(
            f"{what} {value!r} is not a valid QEMU id: expected a letter first, then letters, "
            "digits, '-', '.' or '_'"
        )
    return value


def names_in(snapshot: Snapshot) -> set[str]:
    """Every net client, hub port and QOM NIC id the snapshot knows: ids a new one must avoid."""
    names: set[str] = set()
    topo = snapshot.topology
    if topo is not None:
        for hub in topo.hubs:
            names.update(p.name for p in hub.ports if p.name)
        names.update(c.name for c in topo.iter_clients())
    names.update(n.id for n in snapshot.qom_nics if n.id)
    return names


def check_unique(value: str, taken: Collection[str], what: str, target: str) -> None:
    if value in taken:
        raise UsageError(f"{what} {value!r} is already used in {target}: choose another --id")


def free_id(prefix: str, taken: Collection[str]) -> str:
    """The first ``prefix<N>`` (N from 0) not in ``taken``."""
    n = 0
    while f"{prefix}{n}" in taken:
        n += 1
    return f"{prefix}{n}"


def normalize_mac(value: str) -> str:
    """``AA-BB-..`` or ``aa:bb:..`` -> ``aa:bb:cc:dd:ee:ff``; raises UsageError otherwise."""
    text = value.strip()
    if not _MAC.fullmatch(text):
        raise UsageError(f"--mac {value!r}: expected six hex bytes like 52:54:00:ab:cd:ef")
    return text.replace("-", ":").lower()


def macs_in(snapshots: Iterable[Snapshot]) -> set[str]:
    """Every NIC MAC seen in the snapshots (info network and QOM), lower case."""
    found: set[str] = set()
    for snap in snapshots:
        if snap.topology is not None:
            found.update(c.mac for c in snap.topology.iter_clients() if c.is_nic and c.mac)
        found.update(n.mac.lower() for n in snap.qom_nics if n.mac)
    return found


def check_mac(value: str, taken: Collection[str]) -> str:
    """Normalize a user MAC and refuse multicast, all-zero and duplicates."""
    mac = normalize_mac(value)
    first = int(mac[:2], 16)
    if first & 0x01:
        raise UsageError(
            f"--mac {value!r} is a multicast address (lowest bit of the first byte set): "
            "a NIC needs a unicast MAC"
        )
    if mac == "00:00:00:00:00:00":
        raise UsageError(f"--mac {value!r}: the all-zero MAC is not a valid NIC address")
    if mac in taken:
        raise UsageError(f"--mac {value!r} is already used by another NIC of an inspected VM")
    return mac


def generate_mac(taken: Collection[str], rng: random.Random | None = None) -> str:
    """A unicast, locally administered MAC (QEMU's 52:54:00 prefix) not in ``taken``.

    0x52 has the locally-administered bit set and the multicast bit clear; QEMU's own defaults
    (52:54:00:12:34:xx) are skipped so a new NIC never collides with an unconfigured VM.
    """
    r = rng or random.SystemRandom()
    for _ in range(10_000):
        tail = [r.randrange(256) for _ in range(3)]
        mac = "52:54:00:" + ":".join(f"{b:02x}" for b in tail)
        if mac.startswith(QEMU_DEFAULT_MAC_PREFIX) or mac in taken:
            continue
        return mac
    raise UsageError("could not find a free MAC address: pass --mac")
