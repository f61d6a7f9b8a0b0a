"""The TOML config file (read with tomllib), checked key by key.

Default path ``$XDG_CONFIG_HOME/qnetinspect/config.toml`` (``~/.config/...``); a missing default
file means the defaults, a missing explicit path is an error. Schema::

    targets = ["/run/qemu/*.qmp"]     # default targets
    timeout = 5.0                     # seconds per QMP step, > 0
    concurrency = 128                 # targets inspected at once, >= 1

    [rules.emulated-nic]
    enabled = false
    [rules.multi-nic-hub]
    severity = "info"                 # info | warning | critical

    [[suppress]]
    rule = "multi-nic-hub"            # a rule slug, or "*"
    vm = "lab-*"                      # glob on the VM label (-name) or target; default "*"
    hub = 5                           # optional: only this hub
    reason = "guest-only LAN"         # optional, for the reader

Unknown keys and bad values raise ``ConfigError`` naming the file, the key and what was expected.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from qnetinspect.errors import ConfigError
from qnetinspect.models import Severity

__all__ = ["Config", "RuleConfig", "Suppression", "default_config_path", "load_config"]

DEFAULT_TIMEOUT = 5.0
#: high enough that a host's VMs are read in one wave: with 32, the 33rd VM waited for the
#: slowest of the first 32 (one socket each; far below the usual 1024 open files)
DEFAULT_CONCURRENCY = 128


@dataclass(frozen=True, slots=True)
class RuleConfig:
    enabled: bool = True
    severity: Severity | None = None


@dataclass(frozen=True, slots=True)
class Suppression:
    rule: str
    vm: str = "*"
    hub: int | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Config:
    targets: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    concurrency: int = DEFAULT_CONCURRENCY
    rules: Mapping[str, RuleConfig] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    suppress: tuple[Suppression, ...] = ()
    path: str | None = None

    def rule_enabled(self, slug: str) -> bool:
        rc = self.rules.get(slug)
        return rc is None or rc.enabled

    def severity_for(self, slug: str) -> Severity | None:
        rc = self.rules.get(slug)
        return None if rc is None else rc.severity


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "qnetinspect" / "config.toml"


def load_config(path: str | None = None) -> Config:
    """Read and check the config. ``None``: the default path, or defaults if it is absent.

    Raises ConfigError (a UsageError): file missing (explicit path), unreadable, not TOML,
    unknown key, bad value.
    """
    explicit = path is not None
    file = Path(path) if path is not None else default_config_path()
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        if explicit:
            raise ConfigError(str(file), "no such file") from None
        return Config()
    except OSError as exc:
        raise ConfigError(str(file), f"cannot read: {exc.strerror or exc}") from exc
    import tomllib  # only when a config file exists: most cron runs have none

    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(str(file), f"not UTF-8 text ({exc.reason})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(file), f"not valid TOML: {exc}") from exc
    return parse_config(doc, str(file))


def parse_config(doc: Mapping[str, Any], source: str = "<config>") -> Config:
    """Check a decoded TOML document; ``source`` names it in errors."""
    from qnetinspect.rules import RULES  # the rule slugs are the valid [rules.*] keys

    slugs = {r.slug for r in RULES}

    def fail(key: str, expected: str, value: object = None) -> ConfigError:
        got = "" if value is None else f", got {value!r}"
        return ConfigError(source, f"key {key!r}: expected {expected}{got}")

    known = {"targets", "timeout", "concurrency", "rules", "suppress"}
    for key in doc:
        if key not in known:
            raise fail(key, f"one of {', '.join(sorted(known))} (unknown key)")

    targets = doc.get("targets", [])
    if not isinstance(targets, list) or not all(isinstance(t, str) and t for t in targets):
        raise fail("targets", "a list of non-empty strings", targets)

    timeout = doc.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise fail("timeout", "a number of seconds > 0", timeout)

    concurrency = doc.get("concurrency", DEFAULT_CONCURRENCY)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise fail("concurrency", "an integer >= 1", concurrency)

    rules_doc = doc.get("rules", {})
    if not isinstance(rules_doc, dict):
        raise fail("rules", "a table of [rules.<slug>] tables", rules_doc)
    rules: dict[str, RuleConfig] = {}
    for slug, table in rules_doc.items():
        key = f"rules.{slug}"
        if slug not in slugs:
            raise fail(key, f"a rule slug ({', '.join(sorted(slugs))})")
        if not isinstance(table, dict):
            raise fail(key, "a table with severity and/or enabled", table)
        for sub in table:
            if sub not in ("severity", "enabled"):
                raise fail(f"{key}.{sub}", "severity or enabled (unknown key)")
        enabled = table.get("enabled", True)
        if not isinstance(enabled, bool):
            raise fail(f"{key}.enabled", "true or false", enabled)
        severity: Severity | None = None
        if "severity" in table:
            value = table["severity"]
            try:
                if not isinstance(value, str):
                    raise ValueError
                severity = Severity.parse(value)
            except ValueError:
                raise fail(f"{key}.severity", '"info", "warning" or "critical"', value) from None
        rules[slug] = RuleConfig(enabled=enabled, severity=severity)

    suppress_doc = doc.get("suppress", [])
    if not isinstance(suppress_doc, list):
        raise fail("suppress", "an array of [[suppress]] tables", suppress_doc)
    suppress: list[Suppression] = []
    for i, entry in enumerate(suppress_doc):
        key = f"suppress[{i}]"
        if not isinstance(entry, dict):
            raise fail(key, "a table with rule, vm, hub, reason", entry)
        for sub in entry:
            if sub not in ("rule", "vm", "hub", "reason"):
                raise fail(f"{key}.{sub}", "rule, vm, hub or reason (unknown key)")
        rule = entry.get("rule")
        if rule is None:
            raise fail(f"{key}.rule", 'a rule slug or "*" (missing)')
        if rule != "*" and rule not in slugs:
            raise fail(f"{key}.rule", 'a rule slug or "*"', rule)
        vm = entry.get("vm", "*")
        if not isinstance(vm, str) or not vm:
            raise fail(f"{key}.vm", "a non-empty glob string", vm)
        hub = entry.get("hub")
        if hub is not None and (isinstance(hub, bool) or not isinstance(hub, int)):
            raise fail(f"{key}.hub", "an integer hub id", hub)
        reason = entry.get("reason", "")
        if not isinstance(reason, str):
            raise fail(f"{key}.reason", "a string", reason)
        suppress.append(Suppression(rule=rule, vm=vm, hub=hub, reason=reason))

    return Config(
        targets=tuple(targets),
        timeout=float(timeout),
        concurrency=concurrency,
        rules=MappingProxyType(rules),
        suppress=tuple(suppress),
        path=source,
    )
