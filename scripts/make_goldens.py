#!/usr/bin/env python3
"""Regenerate fixtures/goldens/<version>/<scenario>.json from fixtures/captures/.

A golden is what ``parse_info_network`` makes of a capture's ``info_network`` text (the JSON of
``qnetinspect.report.json.topology_to_dict``) plus the parsed ``info usernet`` rows. Review the
diff by eye against the raw text before committing: the raw text is the truth.

    python3 scripts/make_goldens.py           # rewrite every golden
    python3 scripts/make_goldens.py --check   # exit 1 and name each golden that would change
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from qnetinspect.parse import parse_info_network, parse_usernet
from qnetinspect.report.json import topology_to_dict

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "fixtures" / "captures"
GOLDENS = ROOT / "fixtures" / "goldens"


def golden_for(capture: dict[str, Any]) -> dict[str, Any]:
    """The golden document of one capture (pure: used by the tests as well)."""
    text = capture.get("info_network") or ""
    usernet = (capture.get("extra_hmp") or {}).get("info usernet") or ""
    return {
        "scenario": capture.get("scenario"),
        "qemu_version": capture.get("qemu_version"),
        "outcome": capture.get("outcome"),
        "topology": topology_to_dict(parse_info_network(text)),
        "usernet": [dataclasses.asdict(r) for r in parse_usernet(usernet)],
    }


def dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only report goldens that would change")
    args = ap.parse_args()
    changed = 0
    for path in sorted(CAPTURES.glob("*/*.json")):
        capture = json.loads(path.read_text(encoding="utf-8"))
        out = GOLDENS / path.parent.name / path.name
        text = dump(golden_for(capture))
        old = out.read_text(encoding="utf-8") if out.exists() else None
        if old == text:
            continue
        changed += 1
        if args.check:
            print(f"out of date: {out.relative_to(ROOT)}", file=sys.stderr)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
            print(f"wrote {out.relative_to(ROOT)}", file=sys.stderr)
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
