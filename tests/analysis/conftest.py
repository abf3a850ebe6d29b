"""Fixtures of the analysis tests: synthetic occurrences and censuses (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.census import FAMILY_NAMES, CensusBuilder
from pamm.keys import pack_pair_key, pack_triplet_key


@pytest.fixture(autouse=True)
def _seed() -> None:
    np.random.seed(0)


def synthetic_occurrences(n: int, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Random pair and triplet occurrences over a few elements, families and structures."""
    rng = np.random.default_rng(seed)
    z = np.array([1, 8, 14, 26])
    fam = rng.choice([0, 4, 8, len(FAMILY_NAMES) - 1], size=n)
    structure = rng.integers(0, 50, n)
    out = {
        "pair": {
            "keys": pack_pair_key(rng.choice(z, n), rng.choice(z, n), rng.integers(0, 60, n)),
            "family": fam,
            "gate": rng.random(n),
            "structure": structure,
            "centre": rng.integers(0, 20, n),
            "neighbour": rng.integers(0, 20, n),
            "offset_j": rng.integers(-1, 2, (n, 3)),
        },
        "triplet": {
            "keys": pack_triplet_key(
                rng.choice(z, n), rng.choice(z, n), rng.choice(z, n), rng.integers(0, 18, n)
            ),
            "family": fam,
            "gate": rng.random(n),
            "structure": structure,
            "centre": rng.integers(0, 20, n),
            "neighbour": rng.integers(0, 20, n),
            "partner": rng.integers(0, 20, n),
            "offset_j": rng.integers(-1, 2, (n, 3)),
            "offset_k": rng.integers(-1, 2, (n, 3)),
        },
    }
    return out


def _build_census(occ, idx=None, *, reservoir=4, compact_every=2_000_000):
    """Census of the occurrences selected by ``idx`` (all by default)."""
    b = CensusBuilder(reservoir=reservoir, compact_every=compact_every)
    for table, cols in occ.items():
        sel = slice(None) if idx is None else idx
        b.add(table, **{k: None if v is None else v[sel] for k, v in cols.items()})
    return b.finish()


@pytest.fixture
def occurrences():
    return synthetic_occurrences(3000)


def _tiny_checkpoint(path, pamm=None):
    """A tiny random-init PaMM checkpoint (memory randomised so gates vary), saved safely."""
    from pamm.testing import tiny_pamm_checkpoint

    spec = pamm or {"mode": "pamm", "pair_buckets": 64, "triplet_buckets": 128}
    return tiny_pamm_checkpoint(path, spec)


@pytest.fixture(scope="session")
def build_census():
    """``build_census(occ, idx=None, *, reservoir=4, compact_every=...)`` -> Census."""
    return _build_census


@pytest.fixture(scope="session")
def tiny_checkpoint():
    """``tiny_checkpoint(path, pamm=None)`` -> (path, checkpoint) of a tiny PaMM model."""
    return _tiny_checkpoint
