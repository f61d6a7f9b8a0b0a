"""DESIGN.md import layers: pure parse/rules, qemu.qmp only in qmp/, nobody imports tui."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "qnetinspect"
IO_MODULES = {
    "asyncio",
    "anyio",
    "socket",
    "subprocess",
    "qemu",
    "textual",
    "rich",
    "prometheus_client",
}
PURE_ALLOWED = (
    "qnetinspect.models",
    "qnetinspect.errors",
    "qnetinspect.parse",
    "qnetinspect.rules",
    "qnetinspect.config",
)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports count too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _files(*parts: str) -> list[Path]:
    base = PACKAGE.joinpath(*parts)
    return sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]


@pytest.mark.parametrize("path", _files("models") + _files("errors"), ids=lambda p: p.name)
def test_models_and_errors_use_the_stdlib_only(path: Path) -> None:
    """models.py and errors.py import nothing of ours or of third parties."""
    ours_or_foreign = {n for n in _imports(path) if n.split(".")[0] in IO_MODULES | {"qnetinspect"}}
    assert ours_or_foreign == set()


@pytest.mark.parametrize("path", _files("parse") + _files("rules"), ids=lambda p: p.name)
def test_parse_and_rules_are_pure(path: Path) -> None:
    """parse/ and rules/ import no I/O library and only the pure layers of the package."""
    names = _imports(path)
    assert not {n for n in names if n.split(".")[0] in IO_MODULES}
    ours = {n for n in names if n.startswith("qnetinspect")}
    assert all(n.startswith(PURE_ALLOWED) for n in ours), ours


def test_only_qmp_uses_qemu_qmp() -> None:
    """qemu.qmp is used in qnetinspect/qmp/ and nowhere else."""
    users = {
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if any(n.split(".")[0] == "qemu" for n in _imports(p))
    }
    assert users and all(u.startswith("qmp/") for u in users), users


def test_nothing_below_the_cli_imports_the_tui() -> None:
    """Only the TUI itself and the commands that open it import qnetinspect.tui."""
    users = {
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if any(n.startswith("qnetinspect.tui") for n in _imports(p))
    }
    outside = {u for u in users if not u.startswith("tui/")}
    assert outside <= {"cli/tui.py", "cli/demo.py"}, outside
