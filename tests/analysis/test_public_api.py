"""The public API of ``analysis``: every exported name resolves, lazily."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import analysis

REPO = Path(__file__).resolve().parents[2]
#: what ``analysis`` re-exports from ``analysis.probes``
PROBE_NAMES = analysis._SOURCES["analysis.probes"]


def test_all_matches_lazy_table() -> None:
    assert sorted(analysis.__all__) == sorted(analysis._LAZY)
    names = [n for group in analysis._SOURCES.values() for n in group]
    assert len(set(names)) == len(names), "a public name is provided by two submodules"


@pytest.mark.parametrize("name", analysis.__all__)
def test_every_public_name_resolves(name: str) -> None:
    namespace: dict = {}
    exec(f"from analysis import {name}", namespace)  # the form notebooks use
    source = importlib.import_module(analysis._LAZY[name])
    assert namespace[name] is getattr(source, name) is getattr(analysis, name)
    assert name in dir(analysis)


@pytest.mark.parametrize("name", PROBE_NAMES)
def test_probe_names_resolve_through_analysis_probes(name: str) -> None:
    probes = importlib.import_module("analysis.probes")
    assert callable(getattr(probes, name))
    assert getattr(analysis, name) is getattr(probes, name)


def test_unknown_name_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        analysis.not_a_name  # noqa: B018
    with pytest.raises(ImportError):
        exec("from analysis import not_a_name", {})


def test_import_is_light() -> None:
    """``import analysis`` and the run loader pull no torch, fairchem, umap or scipy."""
    code = (
        "import sys, analysis, analysis.io\n"
        "from analysis import load_run, Run, SCHEMA_VERSION\n"
        "heavy = [m for m in ('torch', 'fairchem', 'umap', 'numba', 'scipy', 'pymatgen')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "", f"heavy modules imported eagerly: {out.stdout.strip()}"
