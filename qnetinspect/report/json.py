"""The JSON contract (``"schema": 1``) of DESIGN.md: topology, client, finding, check."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

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
)

SCHEMA = 1


def render(doc: Mapping[str, Any], *, pretty: bool) -> str:
    """The document as text, newline-terminated.

    ``pretty`` (indented) is for a person at a terminal. Without it the text is one line: only
    then does ``json`` use its C encoder; the indenting one is pure Python and cost ``check``
    30 ms for 60 VMs (docs/performance.md), paid on every cron run.
    """
    if pretty:
        return json.dumps(doc, indent=2) + "\n"
    return json.dumps(doc) + "\n"


def filter_to_dict(f: Filter) -> dict[str, Any]:
    return {"id": f.id, "type": f.type, "props": dict(f.props), "raw": f.raw}


def client_to_dict(c: NetClient) -> dict[str, Any]:
    return {
        "name": c.name,
        "type": c.type,
        "index": c.index,
        "info": dict(c.info),
        "info_raw": c.info_raw,
        "filters": [filter_to_dict(f) for f in c.filters],
        "peer": client_to_dict(c.peer) if c.peer is not None else None,
    }


def topology_to_dict(t: Topology) -> dict[str, Any]:
    d: dict[str, Any] = {
        "hubs": [
            {"id": h.id, "ports": [{"name": p.name, "peer": _opt(p.peer)} for p in h.ports]}
            for h in t.hubs
        ],
        "clients": [client_to_dict(c) for c in t.clients],
        "unparsed": [_line(u) for u in t.unparsed],
        "dialect": t.dialect,
        # only when the listing contradicts itself (parse/consistency.py): no key otherwise
        **({"contradictions": list(t.contradictions)} if t.contradictions else {}),
    }
    if t.removed or t.notes:  # only for pasted text: what its reading step took out, and why
        d["pasted"] = {"notes": list(t.notes), "removed": [_line(u) for u in t.removed]}
    return d


def _line(u: UnparsedLine) -> dict[str, Any]:
    d: dict[str, Any] = {"line": u.line, "text": u.text}
    if u.reason:
        d["reason"] = u.reason
    return d


def _opt(c: NetClient | None) -> dict[str, Any] | None:
    return client_to_dict(c) if c is not None else None


def client_from_dict(d: Mapping[str, Any]) -> NetClient:
    return NetClient(
        name=d["name"],
        type=d["type"],
        index=int(d.get("index", 0)),
        info=dict(d.get("info", {})),
        info_raw=d.get("info_raw", ""),
        filters=tuple(
            Filter(id=f["id"], type=f["type"], props=dict(f.get("props", {})), raw=f.get("raw", ""))
            for f in d.get("filters", [])
        ),
        peer=client_from_dict(d["peer"]) if d.get("peer") else None,
    )


def topology_from_dict(d: Mapping[str, Any]) -> Topology:
    return Topology(
        hubs=tuple(
            Hub(
                id=int(h["id"]),
                ports=tuple(
                    HubPort(name=p.get("name"), peer=_opt_from(p.get("peer")))
                    for p in h.get("ports", [])
                ),
            )
            for h in d.get("hubs", [])
        ),
        clients=tuple(client_from_dict(c) for c in d.get("clients", [])),
        unparsed=tuple(UnparsedLine(line=u["line"], text=u["text"], reason=u.get("reason", ""))
                       for u in d.get("unparsed", [])),
        dialect=d.get("dialect", "hub"),
    )


def _opt_from(d: Mapping[str, Any] | None) -> NetClient | None:
    return client_from_dict(d) if d else None


def finding_to_dict(f: Finding) -> dict[str, Any]:
    return {
        "rule": f.rule,
        "severity": f.severity.label,
        "message": f.message,
        "target": f.target,
        "hub": f.hub,
        "clients": list(f.clients),
        "fix": f.fix,
    }


def worst(findings: Sequence[Finding]) -> Severity | None:
    return max((f.severity for f in findings), default=None)


def snapshot_to_dict(s: Snapshot, findings: Sequence[Finding]) -> dict[str, Any]:
    return {
        "target": s.target,
        "vm": {"name": s.vm.name, "qemu_version": s.vm.qemu_version, "status": s.vm.status},
        "error": {"kind": s.error.kind, "message": s.error.message} if s.error else None,
        "topology": topology_to_dict(s.topology) if s.topology is not None else None,
        "findings": [finding_to_dict(f) for f in findings],
    }


def document(
    snapshots: Sequence[Snapshot], findings: Sequence[Finding], **top: Any
) -> dict[str, Any]:
    """The JSON document of show/check: ``{"schema": 1, **top, "targets": [...],
    "findings": [...]}`` (built here only)."""
    targets = []
    for s in snapshots:
        d = snapshot_to_dict(s, [f for f in findings if f.target == s.target])
        d["vm"]["pid"] = s.vm.pid
        d["live"] = s.live
        targets.append(d)
    return {"schema": SCHEMA, **top, "targets": targets,
            "findings": [finding_to_dict(f) for f in findings]}
