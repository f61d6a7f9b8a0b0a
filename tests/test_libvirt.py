"""libvirt guests end to end: real transient domains under a real libvirtd, read through the CLI."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator

import pytest
from conftest import run_cli
from libvirt_env import Libvirtd, MakeDomain, ethernet_interface

from qnetinspect.vmrunner import free_loopback_port

pytestmark = pytest.mark.libvirt


def _leak_args() -> list[str]:
    """The guide's leak, as a libvirt user writes it in <qemu:commandline>."""
    return ["-net", "nic", "-net", "user",
            "-net", f"socket,listen=127.0.0.1:{free_loopback_port()}"]


def _nic(n: int = 1, slot: int = 5) -> str:
    return ethernet_interface(f"52:54:00:aa:00:{n:02x}", slot)


def _state(libvirtd: Libvirtd, name: str) -> str:
    return subprocess.run(["virsh", "-c", libvirtd.uri, "domstate", name], capture_output=True,
                          text=True, check=True).stdout.strip()


def _hmp(libvirtd: Libvirtd, name: str, line: str) -> str:
    return subprocess.run(["virsh", "-c", libvirtd.uri, "qemu-monitor-command", name, "--hmp",
                           line], capture_output=True, text=True, check=True).stdout


def _log(name: str) -> str:
    with open(f"/var/log/libvirt/qemu/{name}.log", errors="replace") as f:
        return f.read()


def test_check_domain_reports_the_raw_arg_leak(
    libvirtd: Libvirtd, domain: MakeDomain, capsys: pytest.CaptureFixture[str]
) -> None:
    """check libvirt:DOM exits 2 naming the domain and nat-external-hub; it stays running."""
    name = domain("leak", qemu_args=_leak_args(), interfaces=[_nic()])
    code, out, err = run_cli(capsys, "check", f"libvirt:{name}")
    assert code == 2, out + err
    assert "nat-external-hub" in out and name in out
    assert _state(libvirtd, name) == "running"
    # the monitor passthrough is what libvirt records as custom-monitor (the docs say so)
    assert "custom-monitor" in _log(name)
    code, out, _ = run_cli(capsys, "check", f"libvirt:{name}", "--format", "prometheus")
    assert code == 2 and "qnetinspect_targets 1.0" in out
    assert f'qnetinspect_up{{target="libvirt:{name}",vm="{name}"}} 1.0' in out


@pytest.mark.usefixtures("only_this_run")
def test_check_auto_includes_libvirt_domains(
    libvirtd: Libvirtd, domain: MakeDomain, capsys: pytest.CaptureFixture[str]
) -> None:
    """check auto reads libvirt's domains (not only QMP sockets): the leak is CRITICAL, the
    clean domain is reported and not critical."""
    leak = domain("leak", qemu_args=_leak_args(), interfaces=[_nic(1)])
    clean = domain("clean", interfaces=[_nic(2)])
    code, out, err = run_cli(capsys, "check", "auto", "--format", "json")
    assert code == 2, out + err
    doc = json.loads(out)
    by_target = {t["target"]: t for t in doc["targets"]}
    assert f"libvirt:{leak}" in by_target and f"libvirt:{clean}" in by_target
    assert by_target[f"libvirt:{leak}"]["error"] is None
    assert "nat-external-hub" in {f["rule"] for f in by_target[f"libvirt:{leak}"]["findings"]}
    clean_findings = by_target[f"libvirt:{clean}"]["findings"]
    assert by_target[f"libvirt:{clean}"]["error"] is None
    assert all(f["severity"] != "critical" for f in clean_findings)
    assert by_target[f"libvirt:{clean}"]["vm"]["name"] == clean
    code, out, _ = run_cli(capsys, "check", "auto")
    assert code == 2 and out.startswith("QNETINSPECT CRITICAL")
    assert any(line.startswith(f"CRITICAL nat-external-hub: {leak}:")
               for line in out.splitlines()), out
    # nothing was read through libvirt's own monitor socket: both still run
    assert _state(libvirtd, leak) == _state(libvirtd, clean) == "running"


def test_every_running_domain_and_a_missing_one(
    libvirtd: Libvirtd, domain: MakeDomain, capsys: pytest.CaptureFixture[str]
) -> None:
    """libvirt: lists every running domain; libvirt:NOPE is a named not-found target."""
    leak = domain("leak", qemu_args=_leak_args(), interfaces=[_nic()])
    code, out, _ = run_cli(capsys, "show", f"libvirt:{leak}")
    assert "managed by libvirt" in out.splitlines()[1]
    code, out, _ = run_cli(capsys, "show", "libvirt:", "libvirt:qni-no-such-domain",
                           "--format", "json")
    assert code == 1  # one target could not be read
    targets = {t["target"]: t for t in json.loads(out)["targets"]}
    assert targets[f"libvirt:{leak}"]["topology"]["hubs"]
    assert targets["libvirt:qni-no-such-domain"]["error"]["kind"] == "not-found"


def test_no_monitor_predicts_from_the_command_line_and_taints_nothing(
    libvirtd: Libvirtd, domain: MakeDomain, capsys: pytest.CaptureFixture[str]
) -> None:
    """--no-monitor finds the leak from the XML and QEMU command line, without the monitor."""
    name = domain("quiet", qemu_args=_leak_args(), interfaces=[_nic()])
    code, out, err = run_cli(capsys, "check", f"libvirt:{name}", "--no-monitor")
    assert code == 2, out + err
    assert "nat-external-hub" in out
    assert "custom-monitor" not in _log(name)


def test_connect_through_libvirts_remote_driver(
    libvirtd: Libvirtd, domain: MakeDomain, capsys: pytest.CaptureFixture[str]
) -> None:
    """--connect takes any libvirt URI: qemu+unix goes through libvirt's remote protocol, the
    path qemu+ssh://HOST/system takes after ssh."""
    name = domain("remote", qemu_args=_leak_args(), interfaces=[_nic()])
    uri = "qemu+unix:///system?socket=/run/libvirt/libvirt-sock"
    code, out, err = run_cli(capsys, "check", f"libvirt:{name}", "--connect", uri)
    assert code == 2, out + err
    assert "nat-external-hub" in out


@pytest.fixture
def second_monitor(tmp_path_factory: pytest.TempPathFactory) -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="qni-lv-") + "/qmp.sock"


def test_hotplug_refuses_a_libvirt_guest_and_shows_virsh(
    libvirtd: Libvirtd, domain: MakeDomain, second_monitor: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """add/remove/link on a libvirt guest's second monitor refuse without --force, print
    libvirt's own way, and change nothing: info network is the same, the domain runs."""
    name = domain("managed", interfaces=[_nic()],
                  qemu_args=["-qmp", f"unix:{second_monitor},server=on,wait=off"])
    before = _hmp(libvirtd, name, "info network")
    code, out, err = run_cli(capsys, "add", second_monitor, "user", "--yes")
    assert code == 1, out + err
    assert "managed by libvirt" in err
    assert f"virsh attach-device {name} nic.xml" in err and "<interface type='user'>" in err
    code, out, err = run_cli(capsys, "remove", second_monitor, "net0", "--dry-run")
    assert code == 1 and "netdev_del" not in out
    assert f"virsh detach-interface {name} TYPE --mac 52:54:00:aa:00:01" in err
    code, out, err = run_cli(capsys, "link", second_monitor, "net0", "down", "--yes")
    assert code == 1 and f"virsh domif-setlink {name} 52:54:00:aa:00:01 down" in err
    code, out, err = run_cli(capsys, "add", f"libvirt:{name}", "user", "--yes")
    assert code == 1 and "virsh attach-device" in err
    assert _hmp(libvirtd, name, "info network") == before
    assert _state(libvirtd, name) == "running"
    # reading through the second monitor keeps working
    code, out, err = run_cli(capsys, "show", second_monitor)
    assert code == 0 and "net0" in out, out + err


def test_hotplug_force_changes_a_libvirt_guest_with_a_warning(
    libvirtd: Libvirtd, domain: MakeDomain, second_monitor: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--force applies the change behind libvirt's back, saying so."""
    name = domain("forced", interfaces=[_nic()],
                  qemu_args=["-qmp", f"unix:{second_monitor},server=on,wait=off"])
    code, out, err = run_cli(capsys, "add", second_monitor, "user", "--id", "forced0",
                             "--device", "none", "--yes", "--force")
    assert code == 0, out + err
    assert "managed by libvirt" in err and "virsh attach-device" in err
    assert "forced0" in _hmp(libvirtd, name, "info network")


def test_fix_is_a_domain_xml_change_that_libvirt_runs_clean(
    libvirtd: Libvirtd, domain: MakeDomain, capsys: pytest.CaptureFixture[str]
) -> None:
    """The fix of the leak is a domain XML change (no QEMU command line, no fd=); applied to
    the domain's XML it gives a domain libvirt runs and qnetinspect finds no hub in."""
    import xml.etree.ElementTree as ET

    from libvirt_env import domain_xml

    from qnetinspect.libvirt.domxml import QEMU_NS
    from qnetinspect.libvirt.fixes import plan_xml_change

    raw = _leak_args()
    name = domain("tofix", qemu_args=raw, interfaces=[_nic()])
    code, out, _ = run_cli(capsys, "show", f"libvirt:{name}", "--format", "json")
    (leak,) = [f for f in json.loads(out)["findings"] if f["rule"] == "nat-external-hub"]
    assert leak["fix"].startswith(f"domain XML (virsh edit {name})")
    assert "<interface type='user'>" in leak["fix"] and "fd=" not in leak["fix"]

    change = plan_xml_change(raw)
    assert change is not None and change.delete_args == tuple(raw)
    root = ET.fromstring(domain_xml("fixed", qemu_args=raw, interfaces=[_nic(2)]))
    commandline = root.find(f"{{{QEMU_NS}}}commandline")
    assert commandline is not None
    for arg in list(commandline):
        if arg.get("value") in change.delete_args:
            commandline.remove(arg)
    devices = root.find("devices")
    assert devices is not None
    for iface in change.add_interfaces:
        devices.insert(0, ET.fromstring(iface))
    fixed = f"{name}-fixed"
    root.find("name").text = fixed  # type: ignore[union-attr]
    libvirtd.conn.lookupByName(name).destroy()  # frees the port the fixed domain listens on
    libvirtd.conn.createXML(ET.tostring(root, encoding="unicode"), 0)
    try:
        code, out, err = run_cli(capsys, "show", f"libvirt:{fixed}", "--format", "json")
        target = json.loads(out)["targets"][0]
        assert code == 0 and target["error"] is None, out + err
        assert target["topology"]["hubs"] == []
        assert not [f for f in target["findings"] if f["severity"] == "critical"]
    finally:
        libvirtd.conn.lookupByName(fixed).destroy()


@pytest.fixture
def qmp_proxy(libvirtd: Libvirtd) -> Iterator[Callable[[str], str]]:
    """The guide's virt-qemu-qmp-proxy recipe: a socket directory of its own, then the proxy."""
    import os
    import shutil
    import sys
    import tempfile
    import time

    exe = shutil.which("virt-qemu-qmp-proxy")
    if exe is None:
        pytest.fail("virt-qemu-qmp-proxy is missing (apt-get install libvirt-clients-qemu)")
    procs: list[subprocess.Popen[bytes]] = []
    root = tempfile.mkdtemp(prefix="qni-proxy-")

    def start(name: str) -> str:
        directory = os.path.join(root, "qnetinspect")
        os.makedirs(directory, mode=0o750, exist_ok=True)  # the step the old guide left out
        path = os.path.join(directory, f"{name[-20:]}.qmp")
        # this interpreter has libvirt-python (the script's #! may find one without it)
        procs.append(subprocess.Popen([sys.executable, exe, "-c", libvirtd.uri, name, path],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 20
        while not os.path.exists(path):
            assert procs[-1].poll() is None, "virt-qemu-qmp-proxy exited"
            assert time.monotonic() < deadline, "virt-qemu-qmp-proxy made no socket"
            time.sleep(0.05)
        return path

    yield start
    for p in procs:
        p.terminate()
        p.wait(timeout=10)
    shutil.rmtree(root, ignore_errors=True)


def test_proxy_recipe_reads_the_domain(
    libvirtd: Libvirtd, domain: MakeDomain, qmp_proxy: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """check on virt-qemu-qmp-proxy's socket reads the domain (one command at a time)."""
    name = domain("proxied", qemu_args=_leak_args(), interfaces=[_nic()])
    sock = qmp_proxy(name)
    code, out, err = run_cli(capsys, "check", sock, "--timeout", "10")
    assert code == 2, out + err
    assert "nat-external-hub" in out
    assert _state(libvirtd, name) == "running"


def test_proxy_unrecognised_falls_back_after_a_stall(
    libvirtd: Libvirtd, domain: MakeDomain, qmp_proxy: Callable[[str], str],
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A peer not recognised from its greeting that stalls on pipelined commands is read
    again one command at a time, within the same --timeout."""
    import re

    from qnetinspect.qmp import session

    monkeypatch.setattr(session, "_PROXY_PACKAGE", re.compile(r"(?!)"))
    name = domain("stall", qemu_args=_leak_args(), interfaces=[_nic()])
    sock = qmp_proxy(name)
    code, out, err = run_cli(capsys, "show", sock, "--timeout", "6", "--format", "json")
    assert code == 0, out + err
    (target,) = json.loads(out)["targets"]
    assert target["error"] is None and target["topology"]["hubs"]


def test_connect_over_ssh_reads_a_remote_host(
    libvirtd: Libvirtd, domain: MakeDomain, ssh_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--connect qemu+ssh://... reads the domains of a host through libvirt's ssh transport
    (here an sshd on loopback): named NAME@HOST, with and without the monitor."""
    name = domain("overssh", qemu_args=_leak_args(), interfaces=[_nic()])
    code, out, err = run_cli(capsys, "check", "libvirt:", "--connect", ssh_uri, "--format",
                             "json")
    assert code == 2, out + err
    targets = {t["target"]: t for t in json.loads(out)["targets"]}
    remote = targets[f"libvirt:{name}@127.0.0.1"]
    assert "nat-external-hub" in {f["rule"] for f in remote["findings"]}
    assert remote["vm"]["pid"] is None  # another host's process: not ours to read
    code, out, err = run_cli(capsys, "check", f"libvirt:{name}", "--connect", ssh_uri,
                             "--no-monitor")
    assert code == 2 and "nat-external-hub" in out, out + err


@pytest.mark.usefixtures("only_this_run")
def test_auto_never_says_ok_when_libvirt_does_not_answer(
    libvirtd: Libvirtd, domain: MakeDomain, capsys: pytest.CaptureFixture[str]
) -> None:
    """A running libvirt guest that auto cannot read (libvirt does not answer at the URI) is
    named as unreachable with the reason and the way to read it, and check is not OK."""
    name = domain("unread", interfaces=[_nic()])
    uri = "qemu+unix:///system?socket=/nonexistent/libvirt-sock"
    code, out, err = run_cli(capsys, "check", "auto", "--connect", uri, "--format", "json")
    assert code != 0, out + err
    doc = json.loads(out)
    assert doc["status"] != "ok"
    (unread,) = [t for t in doc["targets"] if t["vm"]["name"] == name]
    assert unread["error"]["kind"] == "no-monitor"
    assert f"qnetinspect check libvirt:{name}" in unread["error"]["message"]
    code, out, _ = run_cli(capsys, "check", "auto", "--connect", uri)
    assert code != 0 and "UNREACHABLE" in out and name in out


@pytest.mark.usefixtures("only_this_run")
def test_second_monitor_of_a_leaking_domain(
    libvirtd: Libvirtd, domain: MakeDomain, second_monitor: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A libvirt guest read through its second QMP monitor: the leak's fix is given in domain
    XML terms, and auto reads the domain once (through that monitor), not twice."""
    name = domain("second", interfaces=[_nic()], qemu_args=[
        *_leak_args(), "-qmp", f"unix:{second_monitor},server=on,wait=off"])
    code, out, err = run_cli(capsys, "show", second_monitor, "--format", "json")
    assert code == 0, out + err
    (leak,) = [f for f in json.loads(out)["findings"] if f["rule"] == "nat-external-hub"]
    assert leak["fix"].startswith(f"domain XML (virsh edit {name})")
    assert f"libvirt:{name}" in leak["fix"]
    code, out, err = run_cli(capsys, "check", "auto", "--format", "json")
    names = [t["vm"]["name"] for t in json.loads(out)["targets"]]
    assert names.count(name) == 1, names


def test_fix_for_libvirts_own_emulated_nic_is_its_model_element(
    libvirtd: Libvirtd, domain: MakeDomain, capsys: pytest.CaptureFixture[str]
) -> None:
    """emulated-nic on an <interface> libvirt made is fixed in the XML (<model type='virtio'/>),
    not with a -device line holding libvirt's netdev id."""
    name = domain("e1000", interfaces=[ethernet_interface("52:54:00:aa:00:07", 5, "e1000")])
    code, out, err = run_cli(capsys, "show", f"libvirt:{name}", "--format", "json")
    assert code == 0, out + err
    (emulated,) = [f for f in json.loads(out)["findings"] if f["rule"] == "emulated-nic"]
    assert emulated["fix"].startswith(f"domain XML (virsh edit {name})")
    assert "<model type='virtio'/>" in emulated["fix"] and "52:54:00:aa:00:07" in emulated["fix"]
    assert "-device" not in emulated["fix"]


def test_a_domain_that_is_not_running_is_named_not_found(
    libvirtd: Libvirtd, capsys: pytest.CaptureFixture[str]
) -> None:
    """libvirt:NAME of a defined but shut-off domain: not-found, saying it is not running."""
    import os

    from libvirt_env import domain_xml

    name = f"qni-{os.getpid()}-off"
    dom = libvirtd.conn.defineXML(domain_xml(name))
    try:
        code, out, err = run_cli(capsys, "check", f"libvirt:{name}", "--format", "json")
        (target,) = json.loads(out)["targets"]
        assert code == 1, out + err  # unreachable counts as warning
        assert target["error"]["kind"] == "not-found"
        assert "not running" in target["error"]["message"]
    finally:
        dom.undefine()


@pytest.mark.usefixtures("only_this_run")
def test_discover_names_libvirts_monitor_as_skipped_and_managed(
    libvirtd: Libvirtd, domain: MakeDomain, capsys: pytest.CaptureFixture[str]
) -> None:
    """discover never offers libvirt's own monitor: it is skipped, marked managed by libvirt,
    with a hint naming libvirt:NAME."""
    name = domain("disc", interfaces=[_nic()])
    code, out, _ = run_cli(capsys, "discover", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert name not in {v["name"] for v in doc["found"]}
    (skipped,) = [s for s in doc["skipped"] if s["name"] == name]
    assert skipped["manager"] == "libvirt"
    assert f"qnetinspect show libvirt:{name}" in skipped["hint"]
