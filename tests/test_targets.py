"""Target specs -> Target objects (qnetinspect.targets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qnetinspect import discovery
from qnetinspect.errors import UsageError
from qnetinspect.qmp.address import QmpAddress
from qnetinspect.targets import Target, expand_targets


def test_plain_path_and_unix_prefix_are_qmp_targets(tmp_path: Path) -> None:
    """A bare path and unix:PATH both give a qmp target on that unix socket."""
    a, b = expand_targets([str(tmp_path / "a.sock"), f"unix:{tmp_path}/b.sock"])
    assert a == Target(spec=str(tmp_path / "a.sock"), kind="qmp",
                       address=QmpAddress(path=str(tmp_path / "a.sock")))
    assert b.kind == "qmp" and b.address == QmpAddress(path=f"{tmp_path}/b.sock")


def test_tcp_target() -> None:
    """tcp:HOST:PORT gives a qmp target with host and port."""
    (t,) = expand_targets(["tcp:127.0.0.1:4444"])
    assert t.address == QmpAddress(host="127.0.0.1", port=4444)


@pytest.mark.parametrize("spec", ["tcp:127.0.0.1", "tcp:host:notaport", "tcp:h:70000", "unix:"])
def test_malformed_address_is_usage_error_naming_it(spec: str) -> None:
    """A malformed address raises UsageError whose message names the spec."""
    with pytest.raises(UsageError, match=r"tcp:|unix:"):
        expand_targets([spec])


def test_missing_path_is_a_target_not_an_error(tmp_path: Path) -> None:
    """A path that does not exist is still a target (its inspection fails with not-found)."""
    (t,) = expand_targets([str(tmp_path / "gone.qmp")])
    assert t.kind == "qmp"


def test_glob_expands_sorted(tmp_path: Path) -> None:
    """A glob expands to every match, sorted, each one a qmp target."""
    for n in ("b", "a", "c"):
        (tmp_path / f"{n}.sock").touch()
    targets = expand_targets([f"{tmp_path}/*.sock"])
    assert [t.spec for t in targets] == [f"{tmp_path}/{n}.sock" for n in "abc"]


def test_glob_matching_nothing_is_usage_error(tmp_path: Path) -> None:
    """A glob that matches nothing is a usage error naming the glob."""
    with pytest.raises(UsageError, match=r"glob matches no file"):
        expand_targets([f"{tmp_path}/*.qmp"])


def test_stdin_and_file_targets(tmp_path: Path) -> None:
    """'-' is the stdin target and file:PATH a file target."""
    s, f = expand_targets(["-", f"file:{tmp_path}/net.txt"])
    assert s.kind == "stdin"
    assert f.kind == "file" and f.path == f"{tmp_path}/net.txt"


def test_stdin_twice_or_refused() -> None:
    """stdin can be given once, and not at all where the command does not allow it."""
    with pytest.raises(UsageError, match="more than once"):
        expand_targets(["-", "-"])
    with pytest.raises(UsageError, match="not accepted"):
        expand_targets(["-"], allow_stdin=False)


@pytest.mark.parametrize("spec", ["", "file:", "ssh:host", "tpc:127.0.0.1:4444"])
def test_empty_or_unknown_scheme_is_usage_error(spec: str) -> None:
    """An empty spec, file: without path, or an unknown scheme is a usage error."""
    with pytest.raises(UsageError):
        expand_targets([spec])


def test_duplicates_are_kept_once(tmp_path: Path) -> None:
    """The same socket spelled twice is inspected once, in first-seen order."""
    p = tmp_path / "x.sock"
    targets = expand_targets([str(p), f"unix:{p}", "tcp:127.0.0.1:1", "tcp:127.0.0.1:1"])
    assert [t.spec for t in targets] == [str(p), "tcp:127.0.0.1:1"]


def test_auto_uses_discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    """'auto' becomes one qmp target per discovered VM, with its pid and name."""
    found = [discovery.DiscoveredVm(pid=42, name="web", address=QmpAddress(path="/r/web.qmp"),
                                    source="-qmp unix:/r/web.qmp,server=on")]
    monkeypatch.setattr(discovery, "scan", lambda: discovery.Discovery(found=tuple(found)))
    from qnetinspect.libvirt import reader

    monkeypatch.setattr(reader, "running_domains_if_any", lambda uri: (None, "no libvirt"))
    (t,) = expand_targets(["auto"])
    assert (t.kind, t.pid, t.name, t.spec) == ("qmp", 42, "web", "/r/web.qmp")


def test_auto_names_running_qemus_it_cannot_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """'auto' turns every QEMU it cannot read into an unreadable target saying why and how:
    a client-mode monitor, and a libvirt guest while libvirt does not answer."""
    from qnetinspect.libvirt import reader

    skipped = (
        discovery.SkippedVm(7, "plain", "-qmp unix:/x,server=off", "client-mode socket"),
        discovery.SkippedVm(8, "dom", "-chardev socket,id=charmonitor,fd=3", "fd monitor",
                            discovery.LIBVIRT_HINT, "libvirt"),
    )
    monkeypatch.setattr(discovery, "scan", lambda: discovery.Discovery(skipped=skipped))
    monkeypatch.setattr(reader, "running_domains_if_any",
                        lambda uri: (None, "libvirt: cannot connect to qemu:///system: gone"))
    plain, dom = expand_targets(["auto"])
    assert (plain.kind, plain.pid, plain.name) == ("unreadable", 7, "plain")
    assert plain.reason is not None and "client-mode socket" in plain.reason
    assert dom.kind == "unreadable" and dom.reason is not None
    assert "cannot connect to qemu:///system: gone" in dom.reason
    assert "qnetinspect check libvirt:dom" in dom.reason


def test_auto_reads_libvirt_guests_through_libvirt(monkeypatch: pytest.MonkeyPatch) -> None:
    """When libvirt answers, its guests found by discovery become libvirt: targets."""
    from qnetinspect.libvirt import reader

    skipped = (discovery.SkippedVm(8, "dom", "-chardev socket,id=charmonitor,fd=3", "fd",
                                   discovery.LIBVIRT_HINT, "libvirt"),)
    monkeypatch.setattr(discovery, "scan", lambda: discovery.Discovery(skipped=skipped))
    monkeypatch.setattr(reader, "running_domains_if_any", lambda uri: (["dom"], ""))
    (t,) = expand_targets(["auto"])
    assert (t.kind, t.name, t.uri, t.spec) == ("libvirt", "dom", "qemu:///system", "libvirt:dom")
