"""``qnetinspect lint`` and ``qnetinspect migrate`` as a user runs them (exit codes, streams)."""

from __future__ import annotations

import json
import shlex

import pytest
from test_argv_helpers import live_info_network, segments

from qnetinspect.parse import parse_info_network
from qnetinspect.report.json import topology_from_dict
from qnetinspect.vmrunner import free_loopback_port
from tests.conftest import run_cli

SEED_NET = ["-net", "nic,model=e1000", "-net", "nic,model=rtl8139", "-net", "user",
            "-net", "socket,listen=127.0.0.1:42000"]


def test_clean_command_line_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    """A virtio NIC with its own NAT backend and own MAC: no warning, exit 0."""
    code, out, err = run_cli(capsys, "lint", "--qemu-version", "7.2", "--", "qemu-system-x86_64",
                          "-nodefaults", "-netdev", "user,id=u",
                          "-device", "virtio-net-pci,netdev=u,mac=52:54:00:aa:bb:cc")
    assert code == 0, out
    assert "Findings" in out and err == ""


def test_seed_json_has_findings_with_migrated_fix(capsys: pytest.CaptureFixture[str]) -> None:
    """The seed leak: JSON schema 1, nat-external-hub whose fix is the --split rewrite, exit 1."""
    code, out, _ = run_cli(capsys, "lint", "--format", "json", "--qemu-version", "7.2", "--",
                        "-nodefaults", *SEED_NET)
    doc = json.loads(out)
    assert code == 1
    assert doc["schema"] == 1 and doc["errors"] == []
    leak = next(f for f in doc["findings"] if f["rule"] == "nat-external-hub")
    assert leak["severity"] == "critical"
    assert "-netdev user,id=user0" in leak["fix"] and "-net " not in leak["fix"]
    assert [h["id"] for h in doc["topology"]["hubs"]] == [0]


def test_text_output_draws_the_hub(capsys: pytest.CaptureFixture[str]) -> None:
    """Text output is the diagram plus findings; stdout only."""
    code, out, err = run_cli(
        capsys, "lint", "--qemu-version", "7.2", "--", "-nodefaults", *SEED_NET
    )
    assert code == 1
    assert "hub0port3" in out and "CRITICAL nat-external-hub" in out and err == ""


def test_refused_command_line_exits_1_with_the_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An argv QEMU would refuse: the error names the option, exit 1."""
    code, out, _ = run_cli(capsys, "lint", "--format", "json", "--", "-netdev", "user,id=0bad")
    assert code == 1
    assert json.loads(out)["errors"][0]["option"] == "-netdev user,id=0bad"


def test_hostfwd_on_all_addresses_is_found(capsys: pytest.CaptureFixture[str]) -> None:
    """hostfwd=tcp::P-:22 is read from the command line: a warning, exit 1."""
    code, out, _ = run_cli(capsys, "lint", "--format", "json", "--", "-nodefaults", "-netdev",
                        "user,id=u,hostfwd=tcp::2222-:22", "-device",
                        "virtio-net-pci,netdev=u,mac=52:54:00:aa:bb:cc")
    assert code == 1
    assert [f["rule"] for f in json.loads(out)["findings"]] == ["hostfwd-all-addresses"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["lint"], "nothing to read"),
        (["lint", "--pid", "999999999"], "pid 999999999: no such process"),
        (["lint", "--pid", "1", "--", "-net", "nic"], "not both"),
        (["lint", "--qemu-version", "seven", "--", "-net", "nic"], "expected MAJOR.MINOR"),
        (["migrate"], "nothing to read"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    """Bad usage: one line on stderr naming the problem, nothing on stdout, exit 2."""
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and out == ""
    assert words in err and len(err.strip().splitlines()) == 1


def test_migrate_prints_a_shell_line_and_explains_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """stdout is the new command line (shell-quoted), stderr says what changed."""
    code, out, err = run_cli(capsys, "migrate", "--qemu-version", "7.2", "--", "qemu-system-x86_64",
                          "-nodefaults", "-net", "nic", "-net", "user,hostname=a b")
    assert code == 0
    assert shlex.split(out) == ["qemu-system-x86_64", "-nodefaults", "-netdev",
                                "user,id=user0,hostname=a b", "-device",
                                "e1000,netdev=user0,mac=52:54:00:12:34:56"]
    assert "direct NIC-backend pair" in err


def test_migrate_split_explains_each_pairing(capsys: pytest.CaptureFixture[str]) -> None:
    """--split says which NIC got which backend."""
    code, out, err = run_cli(capsys, "migrate", "--split", "--qemu-version", "7.2", "--",
                          "-nodefaults", *SEED_NET)
    assert code == 0 and "hubport" not in out
    assert err.count("now has its own backend") == 2


def test_migrate_without_split_refuses_to_keep_a_leak(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Plain migrate of a NAT+socket hub prints nothing, exits 1, names the --split command;
    --keep-leak rewrites it as it is."""
    argv = ["-nodefaults", "-net", "nic", "-net", "nic", "-net", "user",
            "-net", "socket,listen=127.0.0.1:42012"]
    code, out, err = run_cli(capsys, "migrate", "--qemu-version", "7.2", "--", *argv)
    assert code == 1 and out == ""
    assert "nat-external-hub" in err and "qnetinspect migrate --split -- -nodefaults" in err
    code, out, err = run_cli(capsys, "migrate", "--keep-leak", "--qemu-version", "7.2", "--",
                             *argv)
    assert code == 0 and "hubport" in out


def test_migrate_split_of_a_one_nic_leak_lints_clean(capsys: pytest.CaptureFixture[str]) -> None:
    """The --split line of a one-NIC leak has a NIC per backend: lint finds no new warning."""
    code, out, err = run_cli(capsys, "migrate", "--split", "--qemu-version", "7.2", "--",
                             "-nodefaults", "-net", "nic", "-net", "user",
                             "-net", "socket,listen=127.0.0.1:42013")
    assert code == 0 and "gets a new NIC" in err
    _, lint_out, _ = run_cli(capsys, "lint", "--format", "json", "--no-host-checks",
                             "--qemu-version", "7.2", "--", *shlex.split(out))
    # only the listening socket's wait for its peer remains (as before): no dangling-backend
    warned = {f["rule"] for f in json.loads(lint_out)["findings"] if f["severity"] != "info"}
    assert warned == {"socket-disconnected"}


def test_migrate_refused_input_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    """A command line QEMU would refuse is not rewritten: stderr says why, exit 1."""
    code, out, err = run_cli(capsys, "migrate", "--", "-net", "nic,vlan=1")
    assert code == 1 and out == ""
    assert "Invalid parameter 'vlan'" in err


@pytest.mark.qemu
async def test_lint_pid_predicts_the_running_vm(
    start_vm: object, capsys: pytest.CaptureFixture[str]
) -> None:
    """lint --pid reads a running QEMU's command line; its topology is the live one."""
    port = free_loopback_port()
    vm = start_vm(["-name", "guest=lintme", "-nic", "user,model=virtio",  # type: ignore[operator]
                   "-net", "nic,model=rtl8139", "-net", "user",
                   "-net", f"socket,listen=127.0.0.1:{port}", "-device", "e1000"])
    live = parse_info_network(await live_info_network(vm.qmp_path))
    code, out, _ = run_cli(capsys, "lint", "--format", "json", "--pid", str(vm.pid))
    doc = json.loads(out)
    assert code == 1 and doc["errors"] == [] and doc["vm"]["name"] == "lintme"
    assert doc["qemu_version"].startswith("7.")
    assert segments(topology_from_dict(doc["topology"])) == segments(live)


@pytest.mark.parametrize("command", ["lint", "migrate"])
def test_qemu_options_without_double_dash_say_where_they_go(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`lint -net nic` (no --) is a usage error that says QEMU's options go after --."""
    code, out, err = run_cli(capsys, command, "-net", "nic")
    assert code == 2 and out == ""
    assert "unrecognized arguments: -net" in err and f"qnetinspect {command} -- " in err
    assert len(err.strip().splitlines()) == 1
