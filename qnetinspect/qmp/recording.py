"""Record a live QEMU's network state in the capture layout of ``fixtures/captures/README.md``.

One recorder for ``scripts/capture.py`` (test fixtures) and ``qnetinspect.demo`` (the recordings
the demo replays without QEMU), so both write what ``qnetinspect.qmp.replay`` reads back.
"""

from __future__ import annotations

from typing import Any

from qnetinspect.errors import CommandFailed
from qnetinspect.qmp.session import QmpSession

QOM_CONTAINERS = ("/machine/peripheral", "/machine/peripheral-anon")


def answer(value: object) -> dict[str, Any]:
    """A command's result as ``{ok, result}``, or ``{ok: false, error: {class, desc}}``."""
    if isinstance(value, CommandFailed):
        return {"ok": False, "error": {"class": value.error_class, "desc": value.qemu_message}}
    return {"ok": True, "result": value}


async def record_qom_nics(session: QmpSession) -> dict[str, Any]:
    """Per QOM container: its ``qom-list`` and, for every child that has ``netdev`` or ``mac``
    (a NIC), its type and both properties."""
    out: dict[str, Any] = {}
    for container in QOM_CONTAINERS:
        (listing,) = await session.execute_many([("qom-list", {"path": container})])
        nics: dict[str, Any] = {}
        for item in listing if isinstance(listing, list) else []:
            kind = str(item.get("type", ""))
            if not kind.startswith("child<"):
                continue
            path = f"{container}/{item['name']}"
            netdev, mac = await session.execute_many(
                [("qom-get", {"path": path, "property": p}) for p in ("netdev", "mac")]
            )
            if isinstance(netdev, CommandFailed) and isinstance(mac, CommandFailed):
                continue  # not a NIC
            nics[item["name"]] = {
                "type": kind[len("child<") : -1],
                "netdev": answer(netdev),
                "mac": answer(mac),
            }
        out[container] = {"list": answer(listing), "nics": nics}
    return out


async def record_state(session: QmpSession) -> dict[str, Any]:
    """``qemu_version``, ``info_network``, ``extra_hmp`` (``info usernet``), ``qom`` and
    ``rx_filter`` of the VM behind ``session``, as a capture stores them."""
    version = await session.execute("query-version")
    network = await session.hmp("info network")
    usernet = await session.hmp("info usernet")
    (rx,) = await session.execute_many([("query-rx-filter", None)])
    return {
        "qemu_version": version,
        "info_network": network,
        "extra_hmp": {"info usernet": usernet} if usernet else {},
        "qom": await record_qom_nics(session),
        "rx_filter": answer(rx),
    }
