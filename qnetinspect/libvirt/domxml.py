"""A libvirt domain XML -> what qnetinspect needs of it (pure: no libvirt import, no I/O)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from qnetinspect.errors import InputError

QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"


@dataclass(frozen=True, slots=True)
class DomainInterface:
    """One ``<interface>``: libvirt names its QEMU netdev ``host`` + ``alias`` (hostnet0)."""

    type: str
    mac: str | None = None
    model: str | None = None
    alias: str | None = None
    target_dev: str | None = None

    @property
    def netdev_id(self) -> str | None:
        return f"host{self.alias}" if self.alias else None


@dataclass(frozen=True, slots=True)
class DomainXml:
    name: str
    uuid: str | None = None
    interfaces: tuple[DomainInterface, ...] = ()
    #: the raw arguments of ``<qemu:commandline>``, in order
    qemu_args: tuple[str, ...] = ()


def parse_domain_xml(text: str) -> DomainXml:
    """Raises InputError when the text is not a domain XML."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise InputError("domain XML", f"not XML: {exc}") from exc
    if root.tag != "domain":
        raise InputError("domain XML", f"root element is <{root.tag}>, not <domain>")
    interfaces = []
    for el in root.findall("./devices/interface"):
        mac = el.find("mac")
        model = el.find("model")
        alias = el.find("alias")
        target = el.find("target")
        interfaces.append(DomainInterface(
            type=el.get("type", ""),
            mac=(mac.get("address") or "").lower() or None if mac is not None else None,
            model=model.get("type") if model is not None else None,
            alias=alias.get("name") if alias is not None else None,
            target_dev=target.get("dev") if target is not None else None,
        ))
    args = tuple(
        arg.get("value", "")
        for arg in root.findall(f"./{{{QEMU_NS}}}commandline/{{{QEMU_NS}}}arg")
    )
    return DomainXml(
        name=(root.findtext("name") or "").strip(),
        uuid=(root.findtext("uuid") or "").strip() or None,
        interfaces=tuple(interfaces),
        qemu_args=args,
    )
