#!/usr/bin/env python3
"""Write docs/rules.md from the rule docstrings: ``python3 scripts/gen_rules_doc.py [--check]``.

``--check`` writes nothing and exits 1 when the file is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

from qnetinspect.rules.docs import render_rules_markdown

TARGET = Path(__file__).resolve().parent.parent / "docs" / "rules.md"


def main(argv: list[str]) -> int:
    text = render_rules_markdown()
    if "--check" in argv:
        current = TARGET.read_text() if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is out of date: run scripts/gen_rules_doc.py", file=sys.stderr)
            return 1
        return 0
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(text)
    print(f"wrote {TARGET}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
