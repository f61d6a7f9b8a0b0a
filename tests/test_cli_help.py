"""What --version and --help print, as a new user reads them."""

from __future__ import annotations

import pytest
from conftest import run_cli

from qnetinspect.cli import build_parser


def test_version_goes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    """--version is the output asked for: stdout, exit 0, nothing on stderr."""
    code, out, err = run_cli(capsys, "--version")
    assert code == 0 and out.startswith("qnetinspect ") and err == ""


def _commands() -> list[str]:
    import argparse

    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(action.choices)


@pytest.mark.parametrize("command", _commands())
def test_help_has_no_raw_markup(capsys: pytest.CaptureFixture[str], command: str) -> None:
    """Every subcommand's --help is plain text: no reST ``backticks``."""
    code, out, _ = run_cli(capsys, command, "--help")
    assert code == 0 and "usage: qnetinspect" in out
    assert "``" not in out


def test_cli_md_synopsis_names_every_option() -> None:
    """docs/cli.md's synopsis line of each subcommand names each of its options."""
    import argparse
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text()
    block = doc.split("```\n", 2)[1]
    lines: dict[str, str] = {}
    current = ""
    for line in block.splitlines():
        words = line.split()
        if len(words) > 1 and words[0] == "qnetinspect" and not words[1].startswith(("[", "-")):
            current = words[1]
        if current:
            lines[current] = lines.get(current, "") + " " + line
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [
        f"{name} {opt}"
        for name, sub in action.choices.items()
        for a in sub._actions
        for opt in a.option_strings[-1:]  # the long form
        if opt not in ("-h", "--help") and a.option_strings[0] not in lines.get(name, "")
        and opt not in lines.get(name, "")
    ]
    assert missing == []


def test_readme_example_runs_as_shown(capsys: pytest.CaptureFixture[str]) -> None:
    """The README's `qnetinspect parse FILE` names a file that exists and prints the finding
    and fix the README shows."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    m = re.search(r"`qnetinspect parse (\S+)`", readme)
    assert m is not None and (root / m.group(1)).is_file()
    shown = [line.strip() for line in readme.split("```")[1].splitlines()
             if line.strip().startswith(("CRITICAL", "fix:"))]
    import os

    cwd = os.getcwd()
    os.chdir(root)
    try:
        code, out, _ = run_cli(capsys, "parse", m.group(1))
    finally:
        os.chdir(cwd)
    assert code == 0 and shown
    assert all(line in out for line in shown), shown
    assert "/run/qemu" not in readme or "mkdir -p /run/qemu" in readme
