"""The libvirt test environment itself: a real libvirtd runs transient disk-less domains."""

from __future__ import annotations

import subprocess

import pytest
from libvirt_env import Libvirtd, MakeDomain, ethernet_interface

pytestmark = pytest.mark.libvirt


def test_transient_domain_with_raw_net_runs(libvirtd: Libvirtd, domain: MakeDomain) -> None:
    """A domain with libvirt's own NIC and a raw -net hub in <qemu:commandline> runs."""
    name = domain("env", qemu_args=["-net", "nic", "-net", "user"],
                  interfaces=[ethernet_interface("52:54:00:aa:00:01", 5)])
    state = subprocess.run(["virsh", "-c", libvirtd.uri, "domstate", name],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert state == "running"
    dom = libvirtd.conn.lookupByName(name)
    assert not dom.isPersistent()
