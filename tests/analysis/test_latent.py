"""GFRE / LFRE: zero for identical features, large when information is missing."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.latent import gfre, latent_comparison, lfre


def test_identical_features_zero():
    x = np.random.default_rng(0).normal(size=(120, 8))
    assert gfre(x, x) == pytest.approx(0.0, abs=1e-6)
    assert lfre(x, x) == pytest.approx(0.0, abs=1e-5)


def test_linear_map_recovered_and_asymmetry():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 6))
    y = x @ rng.normal(size=(6, 3))  # y is a linear function of x
    assert gfre(x, y) == pytest.approx(0.0, abs=1e-6)
    assert gfre(y, x) > 0.3  # 3 dims cannot rebuild 6
    z = rng.normal(size=(300, 4))  # independent features
    assert gfre(x, z) > 0.9


def test_lfre_captures_nonlinear_map_better_than_gfre():
    rng = np.random.default_rng(2)
    x = rng.uniform(-2, 2, size=(600, 1))
    y = np.sin(2 * x)
    assert lfre(x, y, k=10) < 0.5 * gfre(x, y)


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match="same n atoms"):
        gfre(np.zeros((5, 2)), np.zeros((6, 2)))
    x = np.random.default_rng(3).normal(size=(40, 5))
    out = latent_comparison(x, x)
    assert out["gfre_baseline_to_pamm"] == pytest.approx(0.0, abs=1e-6)
    assert out["lfre_pamm_to_baseline"] == pytest.approx(0.0, abs=1e-4)
    assert out["n_atoms"] == 40
