"""The QMP replay server, driven by the real client (QmpSession) and by raw sockets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from qnetinspect.demo import bundled_captures
from qnetinspect.errors import CommandFailed, TargetError, UsageError
from qnetinspect.qmp.replay import (
    ReplayFleet,
    ReplayServer,
    ScriptedEvent,
    _json_frames,
    load_capture,
    vm_name_from_argv,
)
from qnetinspect.qmp.session import QmpSession

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = dict(bundled_captures())
LEAKY = BUNDLED["leaky-legacy-hub"]
CLEAN = BUNDLED["clean-pair"]


def _fixture_captures() -> list[Path]:
    """Every replayable capture under fixtures/captures (all QEMU versions), if present."""
    found = []
    for path in sorted((ROOT / "fixtures" / "captures").glob("*/*.json")):
        try:
            doc = json.loads(path.read_text())
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("outcome") == "ok" and "info_network" in doc:
            found.append(path)
    return found


async def _raw_exchange(path: Path, payload: bytes, replies: int) -> list[dict[str, Any]]:
    """Send raw bytes after the greeting and read ``replies`` JSON lines back."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        json.loads(await reader.readline())  # greeting
        writer.write(payload)
        await writer.drain()
        return [json.loads(await reader.readline()) for _ in range(replies)]
    finally:
        writer.close()


async def test_replays_info_network_and_version_of_every_bundled_capture(qemu_dir: Path) -> None:
    """Each bundled capture is served byte-exact, with its QEMU version in the greeting."""
    for name, capture in BUNDLED.items():
        async with (
            ReplayServer(capture, qemu_dir / f"{name}.qmp") as srv,
            QmpSession(str(srv.socket_path)) as qmp,
        ):
            q = capture["qemu_version"]["qemu"]
            assert qmp.greeting_version == f"{q['major']}.{q['minor']}.{q['micro']}"
            assert await qmp.hmp("info network") == capture["info_network"]
            assert await qmp.execute("query-version") == capture["qemu_version"]


@pytest.mark.skipif(not _fixture_captures(), reason="fixtures/captures not present")
async def test_replays_every_fixture_capture_of_every_qemu_version(qemu_dir: Path) -> None:
    """Every replayable capture in fixtures/captures answers info network and info usernet."""
    for path in _fixture_captures():
        capture = json.loads(path.read_text())
        async with (
            ReplayServer(path, qemu_dir / "f.qmp") as srv,
            QmpSession(str(srv.socket_path)) as qmp,
        ):
            assert await qmp.hmp("info network") == capture["info_network"], path
            usernet = (capture.get("extra_hmp") or {}).get("info usernet", "")
            assert await qmp.hmp("info usernet") == usernet, path


async def test_query_name_comes_from_argv_or_override_or_is_empty(qemu_dir: Path) -> None:
    """query-name answers -name of the argv, the vm_name override, or {} without a name."""
    nameless = {**CLEAN, "argv": ["qemu-system-x86_64", "-S"]}
    cases = [(LEAKY, None, {"name": "leaky-legacy-hub"}), (LEAKY, "other", {"name": "other"}),
             (nameless, None, {})]  # fmt: skip
    for capture, override, expected in cases:
        async with (
            ReplayServer(capture, qemu_dir / "n.qmp", vm_name=override) as srv,
            QmpSession(str(srv.socket_path)) as qmp,
        ):
            assert await qmp.execute("query-name") == expected


def test_vm_name_from_argv_reads_both_spellings() -> None:
    """-name NAME and -name guest=NAME,debug-threads=on both give NAME."""
    assert vm_name_from_argv(["q", "-name", "web1"]) == "web1"
    assert vm_name_from_argv(["q", "-name", "guest=db,debug-threads=on"]) == "db"
    assert vm_name_from_argv(["q", "-name", "process=x,guest=y"]) == "y"
    assert vm_name_from_argv(["q", "-S"]) is None


async def test_status_is_prelaunch_and_unknown_commands_are_command_not_found(
    qemu_dir: Path,
) -> None:
    """query-status says prelaunch; an unknown command gets QEMU's CommandNotFound error."""
    async with (
        ReplayServer(LEAKY, qemu_dir / "s.qmp") as srv,
        QmpSession(str(srv.socket_path)) as qmp,
    ):
        status = await qmp.execute("query-status")
        assert isinstance(status, dict) and status["status"] == "prelaunch"
        with pytest.raises(CommandFailed) as info:
            await qmp.execute("device_del", {"id": "nic0"})
        assert info.value.error_class == "CommandNotFound"
        with pytest.raises(CommandFailed):
            await qmp.hmp("info qtree")


async def test_qom_list_and_qom_get_answer_from_the_capture(qemu_dir: Path) -> None:
    """qom-list lists peripherals, qom-get gives a NIC's netdev and mac, unknown paths fail."""
    async with (
        ReplayServer(CLEAN, qemu_dir / "q.qmp") as srv,
        QmpSession(str(srv.socket_path)) as qmp,
    ):
        listing = await qmp.execute("qom-list", {"path": "/machine/peripheral"})
        assert {"name": "nic0", "type": "child<virtio-net-pci>"} in listing  # type: ignore[operator]
        args = {"path": "/machine/peripheral/nic0", "property": "netdev"}
        assert await qmp.execute("qom-get", args) == "net0"
        args = {"path": "/machine/peripheral/nic0", "property": "mac"}
        assert await qmp.execute("qom-get", args) == "52:54:00:12:34:56"
        with pytest.raises(CommandFailed) as info:
            await qmp.execute("qom-get", {"path": "/machine/peripheral/nope", "property": "mac"})
        assert info.value.error_class == "DeviceNotFound"


async def test_query_rx_filter_replays_and_filters_by_name(qemu_dir: Path) -> None:
    """query-rx-filter returns the recorded list, or the one NIC asked for, or an error."""
    async with (
        ReplayServer(CLEAN, qemu_dir / "r.qmp") as srv,
        QmpSession(str(srv.socket_path)) as qmp,
    ):
        every = await qmp.execute("query-rx-filter")
        assert every == CLEAN["rx_filter"]["result"]
        assert isinstance(every, list) and len(every) == 1
        assert await qmp.execute("query-rx-filter", {"name": "nic0"}) == every
        with pytest.raises(CommandFailed):
            await qmp.execute("query-rx-filter", {"name": "e1000.9"})


async def test_serves_one_client_at_a_time_like_qemu(qemu_dir: Path) -> None:
    """While one client holds the monitor a second gets no greeting; it is greeted once the
    first leaves (QEMU's listen queue)."""
    async with ReplayServer(LEAKY, qemu_dir / "one.qmp") as srv:
        async with QmpSession(str(srv.socket_path)) as first:
            with pytest.raises(TargetError) as caught:
                async with QmpSession(str(srv.socket_path), timeout=0.3):
                    pass
            assert caught.value.kind == "no-greeting"
            assert await first.hmp("info network") == LEAKY["info_network"]
        texts: list[str] = []

        async def client() -> None:
            async with QmpSession(str(srv.socket_path), timeout=10) as qmp:
                texts.append(await qmp.hmp("info network"))

        async with anyio.create_task_group() as tg:  # queued, served one after another
            for _ in range(4):
                tg.start_soon(client)
        assert texts == [LEAKY["info_network"]] * 4
        assert srv.most_active == 1


async def test_serves_concurrent_and_sequential_clients_when_asked(qemu_dir: Path) -> None:
    """With max_clients=None: ten clients at once, then two more one after another."""
    async with ReplayServer(LEAKY, qemu_dir / "c.qmp", max_clients=None) as srv:
        texts: list[str] = []

        async def client() -> None:
            async with QmpSession(str(srv.socket_path)) as qmp:
                texts.append(await qmp.hmp("info network"))

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(client)
        await client()
        await client()
        assert texts == [LEAKY["info_network"]] * 12
        assert srv.connections == 12 and srv.most_active == 10


async def test_commands_before_negotiation_are_refused(qemu_dir: Path) -> None:
    """Like QEMU, any command before qmp_capabilities is refused, and negotiating twice too."""
    async with ReplayServer(LEAKY, qemu_dir / "p.qmp") as srv:
        first, second, third = await _raw_exchange(
            srv.socket_path,
            b'{"execute": "query-name", "id": 1}'
            b'{"execute": "qmp_capabilities"}{"execute": "qmp_capabilities", "id": "x"}',
            3,
        )
    assert first["error"]["class"] == "CommandNotFound" and first["id"] == 1
    assert second == {"return": {}}
    assert third["error"]["class"] == "CommandNotFound" and third["id"] == "x"


async def test_garbage_gets_a_parse_error_and_the_session_goes_on(qemu_dir: Path) -> None:
    """Non-JSON input is answered with GenericError; a command split in chunks still works."""
    async with ReplayServer(LEAKY, qemu_dir / "g.qmp") as srv:
        reader, writer = await asyncio.open_unix_connection(str(srv.socket_path))
        await reader.readline()
        writer.write(b"hello\n")
        assert json.loads(await reader.readline())["error"]["class"] == "GenericError"
        for part in (b'{"execute": "qmp_capa', b'bilities", "arguments": {}}'):
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0)
        assert json.loads(await reader.readline()) == {"return": {}}
        writer.close()


def test_json_frames_splits_objects_and_keeps_partial_ones() -> None:
    """Balanced objects are split off, braces inside strings do not count, the rest waits."""
    frames, rest, garbage = _json_frames('{"a": "}{"} {"b": [1, {"c": 2}]}{"d"')
    assert frames == ['{"a": "}{"}', '{"b": [1, {"c": 2}]}'] and rest == '{"d"'
    assert not garbage
    assert _json_frames("x {}")[2] is True


async def test_scripted_and_emitted_events_reach_the_client(qemu_dir: Path) -> None:
    """A scripted event arrives after negotiation, and emit() pushes one on demand."""
    scripted = ScriptedEvent(0.05, "DEVICE_DELETED", {"device": "nic0", "path": "/x"})
    async with (
        ReplayServer(CLEAN, qemu_dir / "e.qmp", events=[scripted]) as srv,
        QmpSession(str(srv.socket_path)) as qmp,
        qmp.listen() as events,
    ):
        with anyio.fail_after(10):
            first = await events.get()
        assert first["event"] == "DEVICE_DELETED"
        assert first["data"] == {"device": "nic0", "path": "/x"}
        assert await srv.emit("NIC_RX_FILTER_CHANGED", {"name": "nic0"}) == 1
        with anyio.fail_after(10):
            second = await events.get()
        assert second["event"] == "NIC_RX_FILTER_CHANGED"


async def test_info_network_can_change_while_serving(qemu_dir: Path) -> None:
    """Assigning info_network changes what the next poll sees (for refresh tests)."""
    async with (
        ReplayServer(CLEAN, qemu_dir / "m.qmp") as srv,
        QmpSession(str(srv.socket_path)) as qmp,
    ):
        srv.info_network = LEAKY["info_network"]
        assert await qmp.hmp("info network") == LEAKY["info_network"]


async def test_stop_hangs_up_clients_and_removes_the_socket(qemu_dir: Path) -> None:
    """After the server stops, its socket file is gone and a connected client is disconnected."""
    srv = ReplayServer(CLEAN, qemu_dir / "x.qmp")
    await srv.start()
    qmp = QmpSession(str(srv.socket_path), timeout=5)
    await qmp.open()
    await srv.stop()
    assert not srv.socket_path.exists()
    with pytest.raises(TargetError) as info:
        await qmp.hmp("info network")
    assert info.value.kind in {"disconnected", "timeout"}
    await qmp.close()


def test_load_capture_rejects_what_cannot_be_replayed(tmp_path: Path) -> None:
    """Rejected-outcome captures, non-JSON and missing files raise one UsageError naming them."""
    with pytest.raises(UsageError, match="qemu_rejected"):
        load_capture({**CLEAN, "outcome": "qemu_rejected"})
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    with pytest.raises(UsageError, match=r"bad\.json"):
        load_capture(bad)
    with pytest.raises(UsageError, match=r"missing\.json"):
        load_capture(tmp_path / "missing.json")
    with pytest.raises(UsageError, match="info_network"):
        load_capture({"qemu_version": {}})


def test_fleet_serves_many_captures_from_a_background_thread(qemu_dir: Path) -> None:
    """ReplayFleet serves each capture on its own socket, usable from sync code."""
    captures = [LEAKY, CLEAN] * 10

    async def read_all(paths: list[Path]) -> list[tuple[object, str]]:
        out = []
        for p in paths:
            async with QmpSession(str(p)) as qmp:
                out.append((await qmp.execute("query-name"), await qmp.hmp("info network")))
        return out

    with ReplayFleet(captures, qemu_dir) as fleet:
        results = asyncio.run(read_all(fleet.sockets))
        assert all(p.exists() for p in fleet.sockets)
    assert not any(p.exists() for p in fleet.sockets)
    assert results[0] == ({"name": "vm0"}, LEAKY["info_network"])
    assert results[19] == ({"name": "vm19"}, CLEAN["info_network"])


def test_fleet_emit_reaches_a_client(qemu_dir: Path) -> None:
    """ReplayFleet.emit sends an event from one server, thread-safely."""

    async def wait_event(path: Path, fleet: ReplayFleet) -> str:
        async with QmpSession(str(path)) as qmp, qmp.listen(["DEVICE_DELETED"]) as events:
            await anyio.to_thread.run_sync(fleet.emit, 0, "DEVICE_DELETED", {"device": "d"})
            with anyio.fail_after(10):
                data = (await events.get())["data"]
            assert isinstance(data, dict)
            return str(data["device"])

    with ReplayFleet([CLEAN], qemu_dir, names=["one"]) as fleet:
        assert asyncio.run(wait_event(fleet.sockets[0], fleet)) == "d"


def test_fleet_with_a_bad_capture_fails_in_the_caller(qemu_dir: Path) -> None:
    """A bad capture or a name count mismatch raises UsageError before any thread starts."""
    with pytest.raises(UsageError):
        ReplayFleet([{"outcome": "timeout_no_qmp_greeting"}], qemu_dir)
    with pytest.raises(UsageError):
        ReplayFleet([CLEAN], qemu_dir, names=["a", "b"])


def test_module_entry_point_serves_until_sigterm(qemu_dir: Path, tmp_path: Path) -> None:
    """python -m qnetinspect.qmp.replay serves a capture file and exits 0 on SIGTERM."""
    capture = tmp_path / "c.json"
    capture.write_text(json.dumps(CLEAN))
    sock = qemu_dir / "cli.qmp"
    proc = subprocess.Popen(
        [sys.executable, "-m", "qnetinspect.qmp.replay", str(capture), str(sock)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        assert "serving" in proc.stderr.readline()

        async def read() -> str:
            async with QmpSession(str(sock)) as qmp:
                return await qmp.hmp("info network")

        assert asyncio.run(read()) == CLEAN["info_network"]
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_module_entry_point_rejects_a_bad_capture_in_one_line(tmp_path: Path) -> None:
    """A non-JSON capture gives exit 2 and one stderr line naming the file, no traceback."""
    bad = tmp_path / "bad.json"
    bad.write_text("nope")
    proc = subprocess.run(
        [sys.executable, "-m", "qnetinspect.qmp.replay", str(bad), str(tmp_path / "s")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "bad.json" in proc.stderr
    assert "Traceback" not in proc.stderr


async def test_snapshot_from_replay_equals_snapshot_from_capture_text(qemu_dir: Path) -> None:
    """inventory.read_snapshot over the replay gives the topology, usernet and QOM NICs of the
    capture read as a saved file."""
    inventory = pytest.importorskip("qnetinspect.inventory")
    targets = pytest.importorskip("qnetinspect.targets")
    for name, capture in BUNDLED.items():
        path = qemu_dir / f"{name}.json"
        path.write_text(json.dumps(capture))
        async with ReplayServer(capture, qemu_dir / f"{name}.qmp") as srv:
            specs = [str(srv.socket_path), f"file:{path}"]
            live, saved = await inventory.gather(targets.expand_targets(specs))
        assert live.error is None, live.error
        assert live.topology == saved.topology
        assert live.usernet == saved.usernet
        assert live.qom_nics == saved.qom_nics
        assert live.vm.name == saved.vm.name == name
        assert live.vm.status == "prelaunch"


def test_wall_clock_of_many_sessions_is_reported(qemu_dir: Path) -> None:
    """Sanity: 50 sequential sessions complete (no timing assertion; prints the rate)."""

    async def many(path: Path) -> int:
        n = 0
        for _ in range(50):
            async with QmpSession(str(path)) as qmp:
                n += len(await qmp.hmp("info network")) > 0
        return n

    with ReplayFleet([LEAKY], qemu_dir) as fleet:
        t0 = time.perf_counter()
        assert asyncio.run(many(fleet.sockets[0])) == 50
        print(f"50 sessions in {time.perf_counter() - t0:.3f}s")


def test_socket_path_is_a_unix_socket(qemu_dir: Path) -> None:
    """The fleet's socket files are real unix sockets that accept a connection."""
    with ReplayFleet([CLEAN], qemu_dir) as fleet, socket.socket(socket.AF_UNIX) as s:
        s.connect(str(fleet.sockets[0]))
        assert s.recv(4096).startswith(b'{"QMP"')


def test_check_and_show_json_validate_against_the_published_schemas(qemu_dir: Path) -> None:
    """check/show --format json of replayed VMs (and one missing socket) match docs/schema."""
    jsonschema = pytest.importorskip("jsonschema")
    schemas = {
        name: json.loads((ROOT / "docs" / "schema" / f"{name}.schema.json").read_text())
        for name in ("check", "topology")
    }
    validator = jsonschema.Draft202012Validator
    for schema in schemas.values():
        validator.check_schema(schema)
    names = list(BUNDLED)
    with ReplayFleet(list(BUNDLED.values()), qemu_dir, names=names) as fleet:
        specs = [str(p) for p in fleet.sockets] + [str(qemu_dir / "missing.qmp")]
        docs = []
        for command in ("check", "show"):
            proc = subprocess.run(
                [sys.executable, "-m", "qnetinspect", command, "--format", "json", *specs],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert proc.stdout, proc.stderr
            docs.append(json.loads(proc.stdout))
    for doc in docs:
        validator(schemas["check"]).validate(doc)
        assert doc["targets"][-1]["error"]["kind"] == "not-found"
        topologies = [t["topology"] for t in doc["targets"] if t["topology"] is not None]
        assert len(topologies) == len(names)
        for topology in topologies:
            validator(schemas["topology"]).validate(topology)
    broken = json.loads(json.dumps(docs[0]))
    broken["findings"][0]["severity"] = "fatal"
    assert not validator(schemas["check"]).is_valid(broken)


def test_parse_json_validates_against_the_published_definitions(tmp_path: Path) -> None:
    """parse --format json of a capture: its topology and findings match docs/schema."""
    jsonschema = pytest.importorskip("jsonschema")
    check = json.loads((ROOT / "docs" / "schema" / "check.schema.json").read_text())
    schema = {
        "$schema": check["$schema"],
        "$defs": check["$defs"],
        "type": "object",
        "required": ["schema", "source", "topology", "findings"],
        "properties": {
            "schema": {"const": 1},
            "topology": {"$ref": "#/$defs/topology"},
            "findings": {"type": "array", "items": {"$ref": "#/$defs/finding"}},
        },
    }
    text = tmp_path / "leak.txt"
    text.write_text(LEAKY["info_network"])
    proc = subprocess.run(
        [sys.executable, "-m", "qnetinspect", "parse", "--format", "json", str(text)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    doc = json.loads(proc.stdout)
    jsonschema.Draft202012Validator(schema).validate(doc)
    assert any(f["rule"] == "nat-external-hub" for f in doc["findings"])


HOTPLUG = ROOT / "fixtures" / "captures" / "qemu-7.2.22" / "hotplug_usbnet.json"


@pytest.mark.skipif(not HOTPLUG.exists(), reason="fixtures/captures not present")
async def test_play_steps_walks_a_recorded_hotplug(qemu_dir: Path) -> None:
    """play_steps starts before the hot-plug, answers each recorded step in order, moves info
    network to its after-state, sends its events, and refuses a step out of order."""
    capture = json.loads(HOTPLUG.read_text())
    steps = capture["steps"]
    async with (
        ReplayServer(capture, qemu_dir / "h.qmp", play_steps=True) as srv,
        QmpSession(str(srv.socket_path)) as qmp,
        qmp.listen(["DEVICE_DELETED"]) as events,
    ):
        assert await qmp.hmp("info network") == capture["startup_info_network"]
        with pytest.raises(CommandFailed, match="step 1 is netdev_add"):
            await qmp.execute("device_del", {"id": "hpusb"})
        for step in steps:
            assert await qmp.execute(step["cmd"], step["args"]) == step["result"]["result"]
            assert await qmp.hmp("info network") == step["info_network_after"]
        with anyio.fail_after(10):
            deleted = await events.get()
        assert deleted["data"] == {"device": "hpusb", "path": "/machine/peripheral/hpusb"}
        assert srv.step == len(steps)
        assert await qmp.hmp("info network") == capture["info_network"]
