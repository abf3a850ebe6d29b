"""Fixtures of the dashboard tests: one real analysis run of a tiny model, per session.

The run is computed once by ``analysis.run_analysis`` from a tiny random-init PaMM
model (memory randomised so gates and buckets vary) on a handful of rocksalt crystals
in four families, one of them held out, with the stored probes of 8 of them (the
Interventions and Motif profiles pages read them). Tests never depend on the bundled
assets.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

RUN_NAME = "testrun"
FAMILIES = ("rattled-300", "rattled-500", "aimd-from-PBE-1000-npt", "aimd-from-PBE-3000-nvt")
#: small spec so that collisions happen and every table stays tiny
TEST_SPEC = {
    "pair_buckets": 64,
    "triplet_buckets": 256,
    "heads": 2,
    "head_dim": 4,
    "cutoff": 5.0,
    "triplet_cutoff": 3.5,
}


def _structures():
    from ase.build import bulk

    frames = []
    recipes = [("NaCl", 5.64), ("MgO", 4.21), ("LiF", 4.03), ("KCl", 6.29)]
    for n in range(8):
        formula, a = recipes[n % 4]
        atoms = bulk(formula, "rocksalt", a=a) * (2, 1, 1)
        atoms.rattle(0.05, seed=n)
        atoms.info["family"] = FAMILIES[n % 4]
        atoms.info["sid"] = f"test-{formula}-{n}"
        frames.append(atoms)
    return frames


def _tiny_checkpoint(path: Path) -> Path:
    """A tiny random-init PaMM checkpoint (memory randomised so gates vary), saved safely."""
    from pamm.testing import tiny_pamm_checkpoint

    return tiny_pamm_checkpoint(path, TEST_SPEC)[0]


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory) -> Path:
    """A runs root holding the analysis run ``RUN_NAME`` (computed once per session)."""
    import torch
    from ase.io import write

    from analysis import AnalysisSettings, run_analysis

    root = tmp_path_factory.mktemp("runs")
    data = root.parent / "structures.extxyz"
    write(data, _structures())
    torch.manual_seed(0)
    np.random.seed(0)
    checkpoint = _tiny_checkpoint(root.parent / "tiny-pamm.pt")
    settings = AnalysisSettings(
        heldout=FAMILIES[-1:], embedding="pca", probe_structures=8, probe_top_k=5
    )
    run_analysis(checkpoint, data, root / RUN_NAME, settings, tqdm_bar=False)
    return root


@pytest.fixture
def app_env(runs_root, monkeypatch) -> Path:
    """Point the app at the test run (environment read by ``app.loaders``)."""
    monkeypatch.setenv("PAMM_RUNS_ROOT", str(runs_root))
    monkeypatch.setenv("PAMM_CHECKPOINT_ROOT", str(runs_root.parent))  # tiny-pamm.pt
    monkeypatch.setenv("PAMM_DATA_ROOT", str(runs_root.parent))  # structures.extxyz
    monkeypatch.setenv("PAMM_RUN", RUN_NAME)
    monkeypatch.setenv("PAMM_PREFETCH", "0")  # no background imports in the test process
    return runs_root / RUN_NAME


@pytest.fixture
def app_test(app_env):
    """A fresh AppTest of the dashboard entry file (not yet run)."""
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file("../../app/streamlit_app.py", default_timeout=120)


@pytest.fixture
def demo_roots(runs_root, tmp_path, monkeypatch):
    """An empty runs root, the session's tiny checkpoint and structures as the demo's
    inputs (environment set); yields the demo run directory (not there yet). Background
    first starts this process began are stopped at the end."""
    import shutil
    import signal

    from app import first_start

    for var, name, source in (
        ("CHECKPOINT", "checkpoints", runs_root.parent / "tiny-pamm.pt"),
        ("DATA", "data", runs_root.parent / "structures.extxyz"),
    ):
        (tmp_path / name).mkdir()
        shutil.copy(source, tmp_path / name)
        monkeypatch.setenv(f"PAMM_{var}_ROOT", str(tmp_path / name))
    monkeypatch.setenv("PAMM_RUNS_ROOT", str(tmp_path / "runs"))
    monkeypatch.setenv("PAMM_RUN", "demo")
    yield tmp_path / "runs" / "demo"
    for child in first_start._CHILDREN.values():
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    first_start._CHILDREN.clear()


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium through Playwright (skipped where there is none)."""
    browser_or_skip()
    from playwright.sync_api import sync_playwright

    from app.harness import launch_chromium

    with sync_playwright() as pw:
        chromium = launch_chromium(pw)
        yield chromium
        chromium.close()


def _viewer_atoms(html: str) -> list[tuple[str, np.ndarray]]:
    import re

    rows = re.findall(r"([A-Z][a-z]?)\s+(-?\d+\.\d+)\s+(-?\d+\.\d+)\s+(-?\d+\.\d+)", html)
    return [(s, np.array([float(x), float(y), float(z)])) for s, x, y, z in rows]


@pytest.fixture(scope="session")
def viewer_atoms():
    """``viewer_atoms(html)``: (symbol, position) of every atom line in a viewer's XYZ."""
    return _viewer_atoms


def browser_or_skip() -> str:
    """The chromium path; fail if ``PAMM_REQUIRE_BROWSER=1`` and none exists, else skip."""
    from app.harness import chromium_path

    path = chromium_path()
    if path is None:
        reason = "no chromium executable (Debian package `chromium`; `make test` installs it)"
        if os.environ.get("PAMM_REQUIRE_BROWSER") == "1":
            pytest.fail(f"PAMM_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return path
