"""docs/rules.md is generated from the rule docstrings and kept current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from qnetinspect.rules import RULES
from qnetinspect.rules.docs import render_rules_markdown

ROOT = Path(__file__).resolve().parent.parent


def test_rules_md_is_current() -> None:
    """The committed docs/rules.md equals what scripts/gen_rules_doc.py renders."""
    assert (ROOT / "docs" / "rules.md").read_text() == render_rules_markdown()


def test_rules_md_has_a_section_per_rule() -> None:
    """Every rule has a heading with its summary, why and fix."""
    text = render_rules_markdown()
    for rule in RULES:
        assert f"\n## {rule.slug}\n" in text
    assert text.count("**Why it matters.**") == len(RULES)
    assert text.count("**How to fix.**") == len(RULES)


def test_gen_script_check_mode_passes() -> None:
    """scripts/gen_rules_doc.py --check exits 0 when the file is current."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_rules_doc.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
