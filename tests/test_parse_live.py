"""The parser against the QEMU installed here, and scripts/capture.py recording a scenario."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from qnetinspect.parse import parse_info_network, parse_usernet
from qnetinspect.qmp.session import QmpSession
from qnetinspect.report.info_network import render_info_network
from qnetinspect.report.json import topology_to_dict

ROOT = Path(__file__).resolve().parent.parent


def _capture_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("qni_capture", ROOT / "scripts" / "capture.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.qemu
async def test_live_mixed_topology_parses(start_vm: object) -> None:
    """A live QEMU with hubs, a pair, filters and hostfwd parses fully and renders back exactly."""
    vm = start_vm(  # type: ignore[operator]
        [
            "-net", "nic,model=e1000",
            "-net", "user,hostfwd=tcp:127.0.0.1:0-:22",
            "-netdev", "hubport,id=hp1,hubid=3",
            "-device", "rtl8139,netdev=hp1,id=r1",
            "-netdev", "user,id=u9,restrict=on",
            "-device", "virtio-net-pci,netdev=u9,id=v9",
            "-object", "filter-buffer,id=fb9,netdev=u9,interval=1000",
        ],
    )  # fmt: skip
    async with QmpSession(str(vm.qmp_path)) as qmp:
        text = await qmp.hmp("info network")
        usernet = await qmp.hmp("info usernet")
    t = parse_info_network(text)
    assert t.unparsed == ()
    assert render_info_network(t) == text.replace("\r\n", "\n")
    # -netdev options are created before -net ones, so hub 3 is older than hub 0
    assert [h.id for h in t.hubs] == [3, 0]
    assert [c.type for c in t.hubs[1].peers] == ["nic", "user"]
    (pair,) = t.clients
    assert pair.peer is not None and pair.peer.info["restrict"] == "on"
    assert [f.id for f in pair.peer.filters] == ["fb9"]
    rows = parse_usernet(usernet)
    assert [(r.hub, r.state, r.src_addr) for r in rows] == [(0, "HOST_FORWARD", "127.0.0.1")]


@pytest.mark.qemu
def test_capture_script_records_a_scenario_matching_its_golden(tmp_path: Path) -> None:
    """scripts/capture.py records hubport_netdev_binding; it parses to the committed golden."""
    capture = _capture_module()
    (scenario,) = [s for s in capture.SCENARIOS if s.name == "hubport_netdev_binding"]
    doc = capture.run_scenario(scenario, tmp_path)
    assert doc["outcome"] == "ok"
    assert doc["qom"]["/machine/peripheral"]["nics"]["n0"]["netdev"]["result"] == "hn"
    golden = ROOT / "fixtures" / "goldens" / "qemu-7.2.22-local" / "hubport_netdev_binding.json"
    want = json.loads(golden.read_text(encoding="utf-8"))["topology"]
    assert topology_to_dict(parse_info_network(doc["info_network"])) == want
