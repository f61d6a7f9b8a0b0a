"""libvirt pieces that need no libvirtd: the domain XML reader, the XML fixes, the guard."""

from __future__ import annotations

import pytest

from qnetinspect.errors import HotplugError, InputError
from qnetinspect.libvirt.domxml import parse_domain_xml
from qnetinspect.libvirt.fixes import plan_xml_change
from qnetinspect.libvirt.reader import native_argv, target_spec
from qnetinspect.managed import manager_of_vm, refuse_unless_forced

XML = """<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>web1</name><uuid>u-1</uuid>
  <devices>
    <interface type='network'><mac address='52:54:00:AA:BB:01'/><model type='virtio'/>
      <alias name='net0'/><target dev='vnet3'/></interface>
  </devices>
  <qemu:commandline><qemu:arg value='-net'/><qemu:arg value='nic'/></qemu:commandline>
</domain>"""


def test_domain_xml_gives_interfaces_and_raw_args() -> None:
    """Names, MACs (lower case), models, aliases and <qemu:commandline> args are read."""
    dom = parse_domain_xml(XML)
    assert (dom.name, dom.uuid, dom.qemu_args) == ("web1", "u-1", ("-net", "nic"))
    (iface,) = dom.interfaces
    assert (iface.type, iface.mac, iface.model, iface.netdev_id, iface.target_dev) == (
        "network", "52:54:00:aa:bb:01", "virtio", "hostnet0", "vnet3")


def test_not_a_domain_xml_is_an_input_error() -> None:
    """Garbage or another root element is named, not a traceback."""
    with pytest.raises(InputError, match="not XML"):
        parse_domain_xml("<domain")
    with pytest.raises(InputError, match="<network>"):
        parse_domain_xml("<network/>")


def test_xml_fix_splits_the_leaking_hub_and_is_checked() -> None:
    """The leak's fix deletes the -net args and adds one interface per backend, and the lint
    engine finds no hub problem in the result."""
    raw = ["-net", "nic,macaddr=52:54:00:01:02:03", "-net", "user",
           "-net", "socket,connect=127.0.0.1:4000", "-qmp", "unix:/x,server=on"]
    change = plan_xml_change(raw)
    assert change is not None
    assert change.delete_args == tuple(raw[:6])
    assert change.add_interfaces[0].startswith("<interface type='user'>")
    assert "52:54:00:01:02:03" in change.add_interfaces[0]
    assert change.add_interfaces[1].startswith("<interface type='client'>")
    assert "port=\"4000\"" in change.add_interfaces[1]
    assert change.remaining == ()
    assert "virsh edit web1" in change.text("web1")


def test_no_network_args_no_xml_fix() -> None:
    """Raw args without network options (a second QMP monitor) need no change."""
    assert plan_xml_change(["-qmp", "unix:/x,server=on,wait=off"]) is None


def test_native_argv_drops_the_environment() -> None:
    """domainXMLToNative's VAR=value prefix is not part of the argv; quoting is undone."""
    text = "LC_ALL=C HOME=/var/lib/x /usr/bin/qemu-system-x86_64 -netdev '{\"type\":\"tap\"}'"
    assert native_argv(text) == ("/usr/bin/qemu-system-x86_64", "-netdev", '{"type":"tap"}')


def test_remote_domains_are_named_with_their_host() -> None:
    """Two hosts' domains of one name stay apart: libvirt:NAME@HOST."""
    assert target_spec("web", "qemu:///system") == "libvirt:web"
    assert target_spec("web", "qemu+ssh://h1.example/system") == "libvirt:web@h1.example"


def test_managed_vms_are_recognised_and_refused() -> None:
    """libvirt from its command line, Proxmox from its socket directory; refused unless
    forced, with the manager's own command."""
    assert manager_of_vm(["qemu-system-x86_64", "-chardev", "socket,id=charmonitor,fd=3"],
                         "/tmp/x.sock") == "libvirt"
    assert manager_of_vm([], "/run/qemu-server/101.qmp") == "proxmox"
    assert manager_of_vm(["qemu-system-x86_64", "-qmp", "unix:/tmp/q"], "/tmp/q") is None
    with pytest.raises(HotplugError, match="qm set 101"):
        refuse_unless_forced("proxmox", "add", "101", force=False)
    warning = refuse_unless_forced("libvirt", "link", "web", force=True, mac="52:54:00:00:00:01",
                                   state="down")
    assert warning is not None and "virsh domif-setlink web 52:54:00:00:00:01 down" in warning


def test_libvirt_target_without_libvirt_python_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without libvirt-python, libvirt: targets are a one-line usage error naming the extra."""
    import sys

    from conftest import run_cli

    monkeypatch.setitem(sys.modules, "libvirt", None)  # import libvirt raises ImportError
    code, out, err = run_cli(capsys, "check", "libvirt:web")
    assert code == 3 and out == ""
    assert "qnetinspect[libvirt]" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


async def test_a_libvirt_that_hangs_is_a_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A libvirt call that does not return within --timeout: the domain is a timeout, and the
    run goes on (the blocked call is left behind in its thread)."""
    import threading

    pytest.importorskip("libvirt")
    from qnetinspect.libvirt import reader

    release = threading.Event()
    monkeypatch.setattr(reader, "read_domain", lambda *a, **k: release.wait(10))
    try:
        snap = await reader.inspect_domain("libvirt:web", "qemu:///system", "web",
                                           monitor=True, timeout=0.2)
    finally:
        release.set()
    assert snap.error is not None and snap.error.kind == "timeout"
    assert snap.vm.name == "web"


def test_a_reported_remote_name_reads_back_over_ssh() -> None:
    """libvirt:NAME@HOST (how reports name a remote domain) is NAME at qemu+ssh://HOST/system."""
    pytest.importorskip("libvirt")
    from qnetinspect.errors import UsageError
    from qnetinspect.targets import expand_targets

    (t,) = expand_targets(["libvirt:web@h1.example"])
    assert (t.name, t.uri, t.spec) == ("web", "qemu+ssh://h1.example/system",
                                       "libvirt:web@h1.example")
    with pytest.raises(UsageError, match="libvirt:DOMAIN@HOST"):
        expand_targets(["libvirt:@h1"])


def test_libvirts_way_is_a_command_virsh_accepts() -> None:
    """virsh attach-interface only for networks and bridges (it refuses user, ethernet and
    socket types); the others are an <interface> for attach-device, sockets at the next start."""
    from qnetinspect.managed import managers_way

    assert managers_way("libvirt", "add", "web", backend="bridge") == (
        "virsh attach-interface web bridge BRIDGE --model virtio --live --config")
    user = managers_way("libvirt", "add", "web", backend="user")
    assert user.startswith("virsh attach-device web nic.xml --live --config")
    assert "<interface type='user'>" in user
    sock = managers_way("libvirt", "add", "web", backend="socket")
    assert sock.startswith("virsh attach-device web nic.xml --config ")
    assert "<interface type='server'><source address='127.0.0.1' port='PORT'/>" in sock
    assert managers_way("libvirt", "add", "we b", backend="tap").startswith(
        "virsh attach-device 'we b' nic.xml")
