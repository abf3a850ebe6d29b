"""Imports point one way: ``pamm`` ← ``analysis`` ← ``app``; only ``pamm_lab`` (the CLI)
may import all three. Checked on the source text, so a lazy import counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: layer -> the first-party layers it may import (itself included)
ALLOWED = {
    "pamm": {"pamm"},
    "analysis": {"pamm", "analysis"},
    "app": {"pamm", "analysis", "app"},
    "pamm_lab": {"pamm", "analysis", "app", "pamm_lab"},
}


def _module_exists(dotted: str) -> bool:
    base = REPO.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imported_layers(source: str) -> list[tuple[int, str]]:
    """(line, first-party module) of every import in ``source``: ``import``/``from``
    statements and module paths written as strings (``importlib.import_module("x.y")``,
    command tables), docstrings excepted."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and "." in node.value
            and node.value.split(".")[0] in ALLOWED
            and all(part.isidentifier() for part in node.value.split("."))
            and _module_exists(node.value)
        ):
            names = [node.value]
        found += [(node.lineno, n) for n in names if n.split(".")[0] in ALLOWED]
    return sorted(found)


def _back_references(layer: str) -> list[str]:
    bad = []
    for path in sorted((REPO / layer).rglob("*.py")):
        for line, module in imported_layers(path.read_text()):
            if module.split(".")[0] not in ALLOWED[layer]:
                bad.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    return bad


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_imports_point_one_way(layer: str) -> None:
    assert not _back_references(layer)


def test_the_detector_sees_plain_lazy_and_string_imports() -> None:
    source = (
        '"""Docstring naming analysis.cli is fine."""\n'
        "import app.loaders\n"
        "def f():\n"
        "    from analysis import run_analysis\n"
        "COMMANDS = {'analyze': ('analysis.cli', 'help')}\n"
        "x = 'analysis'  # a word, not a module path\n"
    )
    assert imported_layers(source) == [
        (2, "app.loaders"), (4, "analysis"), (5, "analysis.cli"),
    ]  # fmt: skip


def test_no_module_edits_sys_path() -> None:
    """``app`` is an installed package: nothing patches ``sys.path`` to import it."""
    offenders = [
        str(path.relative_to(REPO))
        for layer in ALLOWED
        for path in (REPO / layer).rglob("*.py")
        if "sys.path.insert" in path.read_text() or "sys.path.append" in path.read_text()
    ]
    assert not offenders
