"""benchmarks/md_decorrelation.py: the force autocorrelation and its decorrelation time."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.md_decorrelation import decorrelation_fs, force_autocorrelation  # noqa: E402


def test_autocorrelation_of_an_oscillation() -> None:
    # forces of independent harmonic oscillators with period 40 fs, sampled every 2 fs
    t = np.arange(400) * 2.0
    phases = np.random.default_rng(0).uniform(0, 2 * np.pi, size=(8, 3))
    forces = np.cos(2 * np.pi * t[:, None, None] / 40.0 + phases)  # [T, N, 3]
    acf = force_autocorrelation(forces)
    assert acf[0] == pytest.approx(1.0)
    assert acf[10] == pytest.approx(-1.0, abs=0.05)  # half a period later: anti-correlated
    assert decorrelation_fs(acf, 2.0) == pytest.approx(10.0, abs=2.0)  # a quarter period
    assert decorrelation_fs(np.ones(10), 2.0) is None
