"""Turn ``-o KEY=VALUE`` options into the typed ``netdev_add`` arguments the live QEMU wants.

The live QEMU's ``query-qmp-schema`` says, for each backend type, which members exist and their
types: the options are checked and converted (bool, int, enum, list, nested object with dotted
keys such as ``addr.host=127.0.0.1``) against it. With no schema (an older QEMU, or a pure plan in
tests) a small built-in table covers the common list and bool members. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qnetinspect.errors import UsageError

_TRUE = {"on", "true", "yes", "1", "y"}
_FALSE = {"off", "false", "no", "0", "n"}

#: Members set by us, never by ``-o`` (``id`` is --id, ``type`` is BACKEND).
_RESERVED = {"id", "type"}

#: Fallback without a schema: member -> "bool" | "int" | "strlist" (a list of {"str": ...}).
_FALLBACK_TYPES: Mapping[str, str] = {
    "hostfwd": "strlist",
    "guestfwd": "strlist",
    "dnssearch": "strlist",
    "restrict": "bool",
    "ipv4": "bool",
    "ipv6": "bool",
    "server": "bool",
    "vhost": "bool",
    "vnet_hdr": "bool",
    "hubid": "int",
    "queues": "int",
    "sndbuf": "int",
    "ipv6-prefixlen": "int",
}


@dataclass(frozen=True)
class NetdevSchema:
    """The introspected QAPI schema of one QEMU, indexed by entity name."""

    entities: Mapping[str, Mapping[str, Any]] = field(hash=False)
    netdev_arg: str

    @classmethod
    def from_reply(cls, reply: object) -> NetdevSchema | None:
        """Build from a ``query-qmp-schema`` reply; None if it has no usable ``netdev_add``."""
        if not isinstance(reply, list):
            return None
        entities = {e["name"]: e for e in reply if isinstance(e, dict) and "name" in e}
        cmd = entities.get("netdev_add")
        if cmd is None or cmd.get("arg-type") not in entities:
            return None
        arg = entities[cmd["arg-type"]]
        # before 5.0 netdev_add took free-form arguments ('gen': false): no members to check
        if not arg.get("variants"):
            return None
        return cls(entities=entities, netdev_arg=cmd["arg-type"])

    def backends(self) -> tuple[str, ...]:
        """Backend types this QEMU was built with (``nic`` and ``none`` left out)."""
        arg = self.entities[self.netdev_arg]
        return tuple(v["case"] for v in arg.get("variants", ()) if v["case"] not in ("nic", "none"))

    def backend_type(self, backend: str) -> str | None:
        arg = self.entities[self.netdev_arg]
        for v in arg.get("variants", ()):
            if v["case"] == backend:
                return str(v["type"])
        return None

    def members(self, backend: str) -> tuple[str, ...]:
        """Option names a user may give with ``-o`` for a backend (top level)."""
        t = self.backend_type(backend)
        if t is None:
            return ()
        return tuple(m["name"] for m in self._members(t, {}) if m["name"] not in _RESERVED)

    # ------------------------------------------------------------------ conversion
    def _members(self, type_name: str, given: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """Members of an object type; for a flat union, those of the branch ``given`` selects."""
        ent = self.entities.get(type_name, {})
        members = list(ent.get("members", ()))
        tag = ent.get("tag")
        if tag and isinstance(given.get(tag), str):
            for v in ent.get("variants", ()):
                if v["case"] == given[tag] and v["type"] in self.entities:
                    members += self._members(v["type"], given)
        return members

    def convert_object(self, type_name: str, raw: Mapping[str, Any], path: str) -> dict[str, Any]:
        ent = self.entities.get(type_name, {})
        tag = ent.get("tag")
        out: dict[str, Any] = {}
        if tag and tag in raw:
            # the tag (an enum) selects the branch: convert it first
            tag_member = next(m for m in ent.get("members", ()) if m["name"] == tag)
            out[tag] = self.convert(tag_member["type"], raw[tag], _join(path, tag))
        members = {m["name"]: m for m in self._members(type_name, out)}
        for key, value in raw.items():
            if key == tag:
                continue
            member = members.get(key)
            if member is None or (key in _RESERVED and not path):
                known = ", ".join(k for k in members if k not in _RESERVED or path) or "none"
                raise UsageError(
                    f"-o {_join(path, key)}: unknown option here (expected one of: {known})"
                )
            out[key] = self.convert(member["type"], value, _join(path, key))
        return out

    def missing(self, type_name: str, given: Mapping[str, Any], path: str = "") -> list[str]:
        """Required members (no ``default`` key) not in ``given``, as dotted option names."""
        missing: list[str] = []
        for m in self._members(type_name, given):
            name = m["name"]
            if not path and name in _RESERVED:
                continue
            if name not in given:
                if "default" not in m:
                    missing.append(_join(path, name))
                continue
            sub = self.entities.get(m["type"], {})
            if sub.get("meta-type") == "object" and isinstance(given[name], Mapping):
                missing += self.missing(m["type"], given[name], _join(path, name))
        return missing

    def convert(self, type_name: str, value: Any, path: str) -> Any:
        ent = self.entities.get(type_name)
        if ent is None:
            return value
        meta = ent.get("meta-type")
        if meta == "builtin":
            return _builtin(ent.get("json-type", "string"), value, path)
        if meta == "enum":
            text = _scalar(value, path)
            values = list(ent.get("values", ()))
            if text not in values:
                raise UsageError(f"-o {path}={text}: expected one of {', '.join(values)}")
            return text
        if meta == "array":
            items = value if isinstance(value, list) else [value]
            return [self._element(ent["element-type"], item, path) for item in items]
        if meta == "object":
            if not isinstance(value, Mapping):
                fields = ", ".join(f"{path}.{m['name']}" for m in self._members(type_name, {}))
                raise UsageError(
                    f"-o {path}: this option is an object: set its fields as {path}.KEY=VALUE "
                    f"({fields})"
                )
            return self.convert_object(type_name, value, path)
        if meta == "alternate":
            errors: list[str] = []
            for m in ent.get("members", ()):
                try:
                    return self.convert(m["type"], value, path)
                except UsageError as exc:
                    errors.append(str(exc))
            raise UsageError(errors[0] if errors else f"-o {path}: value not accepted")
        return value

    def _element(self, type_name: str, item: Any, path: str) -> Any:
        ent = self.entities.get(type_name, {})
        members = ent.get("members", ())
        # hostfwd, guestfwd, dnssearch: lists of the QAPI 'String' wrapper {"str": ...}
        if (
            ent.get("meta-type") == "object"
            and isinstance(item, str)
            and len(members) == 1
            and members[0]["name"] == "str"
        ):
            return {"str": item}
        return self.convert(type_name, item, path)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _scalar(value: Any, path: str) -> str:
    if isinstance(value, list):
        raise UsageError(f"-o {path}: given more than once, but it takes a single value")
    if isinstance(value, Mapping):
        raise UsageError(f"-o {path}: takes a value, not fields ({path}.KEY=...)")
    return str(value)


def _builtin(json_type: str, value: Any, path: str) -> Any:
    if json_type == "value":  # 'any': pass through
        return value
    text = _scalar(value, path)
    if json_type == "boolean":
        low = text.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise UsageError(f"-o {path}={text}: expected on or off")
    if json_type == "int":
        try:
            return int(text, 0)
        except ValueError:
            raise UsageError(f"-o {path}={text}: expected an integer") from None
    if json_type == "number":
        try:
            return float(text)
        except ValueError:
            raise UsageError(f"-o {path}={text}: expected a number") from None
    return text


def parse_option(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` -> (key, value); raises UsageError naming the text otherwise."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise UsageError(
            f"-o {text!r}: expected KEY=VALUE (e.g. -o hostfwd=tcp:127.0.0.1:2222-:22)"
        )
    return key, value


def nest(options: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Dotted keys to nested dicts; a key given twice becomes a list (for list members)."""
    root: dict[str, Any] = {}
    for key, value in options:
        if key in _RESERVED:
            raise UsageError(
                f"-o {key}=...: set by qnetinspect (use --id for the id, BACKEND for the type)"
            )
        parts = key.split(".")
        node = root
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise UsageError(
                    f"-o {'.'.join(parts[: i + 1])}: given both as a value and as fields"
                )
            node = child
        last = parts[-1]
        if last in node:
            prev = node[last]
            if isinstance(prev, dict):
                raise UsageError(f"-o {key}: given both as a value and as fields")
            node[last] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            node[last] = value
    return root


def build_netdev_args(
    schema: NetdevSchema | None,
    backend: str,
    netdev_id: str,
    options: Sequence[tuple[str, str]],
    *,
    qemu: str = "this QEMU",
) -> dict[str, Any]:
    """The flat ``netdev_add`` arguments: ``{"type": backend, "id": netdev_id, ...typed...}``.

    Raises UsageError naming the option and what was expected: unknown backend or option, a
    value of the wrong type, a required option missing.
    """
    raw = nest(options)
    if schema is not None:
        type_name = schema.backend_type(backend)
        if type_name is None:
            raise UsageError(
                f"backend {backend!r} is not available in {qemu}: expected one of "
                f"{', '.join(schema.backends())}"
            )
        converted = schema.convert_object(type_name, raw, "")
        missing = schema.missing(type_name, converted)
        if missing:
            raise UsageError(
                f"backend {backend}: missing required option "
                + ", ".join(f"-o {m}=..." for m in missing)
            )
    else:
        converted = {k: _fallback(k, v) for k, v in raw.items()}
    return {"type": backend, "id": netdev_id, **converted}


def _fallback(key: str, value: Any) -> Any:
    kind = _FALLBACK_TYPES.get(key)
    if kind == "strlist":
        items = value if isinstance(value, list) else [value]
        return [{"str": str(v)} for v in items]
    if kind == "bool":
        return _builtin("boolean", value, key)
    if kind == "int":
        return _builtin("int", value, key)
    if isinstance(value, Mapping):
        return {k: _fallback(k, v) for k, v in value.items()}
    return value
