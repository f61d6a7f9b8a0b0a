"""TOML config: defaults, schema checks with one clear error, overrides and suppressions."""

from __future__ import annotations

from pathlib import Path

import pytest

from qnetinspect.config import Config, default_config_path, load_config
from qnetinspect.errors import ConfigError, UsageError
from qnetinspect.models import Severity, Snapshot, VmInfo
from qnetinspect.parse import parse_info_network
from qnetinspect.rules import evaluate

SEED = (
    "hub 0\r\n"
    " \\ hub0port3: #net351: index=0,type=socket,\r\n"
    " \\ hub0port2: #net218: index=0,type=user,net=10.0.2.0,restrict=off\r\n"
    " \\ hub0port1: e1000.1: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:57\r\n"
    " \\ hub0port0: e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\r\n"
)


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return str(path)


def _seed(name: str = "lab-1") -> list[Snapshot]:
    return [Snapshot(target="/run/a.qmp", vm=VmInfo(name=name), topology=parse_info_network(SEED))]


def test_missing_default_file_gives_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No file at $XDG_CONFIG_HOME/qnetinspect/config.toml means the defaults."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_config_path() == tmp_path / "qnetinspect" / "config.toml"
    config = load_config(None)
    assert config == Config()
    assert config.timeout == 5.0 and config.concurrency == 128 and config.targets == ()


def test_default_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default path is read when it exists."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "qnetinspect").mkdir()
    (tmp_path / "qnetinspect" / "config.toml").write_text("timeout = 2\n")
    assert load_config(None).timeout == 2.0


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    """An explicit path that does not exist raises ConfigError naming it."""
    path = str(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match=r"nope\.toml: no such file"):
        load_config(path)


def test_full_schema_is_read(tmp_path: Path) -> None:
    """Every key of the schema is read into the typed Config."""
    path = _write(
        tmp_path,
        """
targets = ["/run/qemu/*.qmp", "tcp:127.0.0.1:4444"]
timeout = 1.5
concurrency = 4
[rules.emulated-nic]
enabled = false
[rules.multi-nic-hub]
severity = "info"
[[suppress]]
rule = "legacy-net"
vm = "lab-*"
hub = 0
reason = "old lab image"
""",
    )
    config = load_config(path)
    assert config.targets == ("/run/qemu/*.qmp", "tcp:127.0.0.1:4444")
    assert (config.timeout, config.concurrency) == (1.5, 4)
    assert not config.rule_enabled("emulated-nic")
    assert config.rule_enabled("nat-external-hub")
    assert config.severity_for("multi-nic-hub") is Severity.INFO
    (s,) = config.suppress
    assert (s.rule, s.vm, s.hub, s.reason) == ("legacy-net", "lab-*", 0, "old lab image")


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("colour = true\n", "colour", "unknown key"),
        ("timeout = -1\n", "timeout", "> 0"),
        ('timeout = "5"\n', "timeout", "> 0"),
        ("concurrency = 0\n", "concurrency", ">= 1"),
        ("concurrency = true\n", "concurrency", ">= 1"),
        ("targets = 'x'\n", "targets", "list"),
        ("[rules.no-such-rule]\nenabled = false\n", "rules.no-such-rule", "rule slug"),
        ('[rules.default-mac]\nseverity = "loud"\n', "rules.default-mac.severity", "critical"),
        ('[rules.default-mac]\nenabled = "no"\n', "rules.default-mac.enabled", "true or false"),
        ("[rules.default-mac]\nmute = 1\n", "rules.default-mac.mute", "unknown key"),
        ('[[suppress]]\nrule = "bogus"\n', "suppress[0].rule", "rule slug"),
        ('[[suppress]]\nvm = "x"\n', "suppress[0].rule", "missing"),
        ('[[suppress]]\nrule = "*"\nhub = "0"\n', "suppress[0].hub", "integer"),
        ('[[suppress]]\nrule = "*"\nwhy = "x"\n', "suppress[0].why", "unknown key"),
    ],
)
def test_bad_values_name_file_key_and_expectation(
    tmp_path: Path, text: str, key: str, expected: str
) -> None:
    """A bad key or value raises one ConfigError line: the file, the key, what was expected."""
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(path + ": ")
    assert repr(key) in message
    assert expected in message
    assert "\n" not in message
    assert isinstance(info.value, UsageError)


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    """A TOML syntax error becomes ConfigError naming the file."""
    path = _write(tmp_path, "timeout = = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_disabled_rule_gives_no_findings(tmp_path: Path) -> None:
    """[rules.<slug>] enabled = false removes that rule's findings."""
    assert any(f.rule == "emulated-nic" for f in evaluate(_seed()))
    config = load_config(_write(tmp_path, "[rules.emulated-nic]\nenabled = false\n"))
    assert not any(f.rule == "emulated-nic" for f in evaluate(_seed(), config))


def test_severity_override_applies_and_reorders(tmp_path: Path) -> None:
    """[rules.<slug>] severity changes the findings' severity (and their sort place)."""
    config = load_config(_write(tmp_path, '[rules.nat-external-hub]\nseverity = "info"\n'))
    found = evaluate(_seed(), config)
    (nat,) = [f for f in found if f.rule == "nat-external-hub"]
    assert nat.severity is Severity.INFO
    assert found[0].severity is Severity.WARNING


def test_suppression_matches_rule_vm_glob_and_hub(tmp_path: Path) -> None:
    """[[suppress]] drops findings whose rule, VM glob and hub all match, and only those."""
    config = load_config(
        _write(tmp_path, '[[suppress]]\nrule = "multi-nic-hub"\nvm = "lab-*"\nhub = 0\n')
    )
    assert not any(f.rule == "multi-nic-hub" for f in evaluate(_seed("lab-1"), config))
    assert any(f.rule == "multi-nic-hub" for f in evaluate(_seed("prod-1"), config))
    other_hub = load_config(
        _write(tmp_path, '[[suppress]]\nrule = "multi-nic-hub"\nvm = "*"\nhub = 7\n')
    )
    assert any(f.rule == "multi-nic-hub" for f in evaluate(_seed(), other_hub))
    everything = load_config(_write(tmp_path, '[[suppress]]\nrule = "*"\nvm = "/run/a.qmp"\n'))
    assert evaluate(_seed(), everything) == []
