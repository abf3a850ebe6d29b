"""Collision statistics against a hand-computed toy table; advisor equals a direct re-hash."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.collisions import advisor, collision_stats, expected_collision_rate
from analysis.motifs import bucket_ids
from pamm.hashing import hash_numpy, hash_params
from pamm.keys import pack_pair_key
from pamm.spec import MotifMemorySpec


def test_toy_table_by_hand():
    # M = 5 buckets, 6 motifs, 2 heads.
    # head 0 buckets: 0 0 0 1 2 2 -> colliding motifs {0,1,2,4,5}, occupied 3, max load 3
    # head 1 buckets: 4 3 3 4 0 1 -> colliding motifs {0,1,2,3}, occupied 4, max load 2
    # both heads: motifs {0,1,2} -> 3/6
    ids = np.array([[0, 4], [0, 3], [0, 3], [1, 4], [2, 0], [2, 1]])
    counts = np.array([10, 20, 30, 15, 5, 20])  # total 100
    s = collision_stats(ids, counts, 5).set_index("head")
    assert s.loc[0, "occupied"] == 3 and s.loc[1, "occupied"] == 4
    assert s.loc[0, "max_load"] == 3 and s.loc[1, "max_load"] == 2
    assert s.loc[0, "motif_collision_rate"] == pytest.approx(5 / 6)
    assert s.loc[1, "motif_collision_rate"] == pytest.approx(4 / 6)
    assert s.loc[0, "mass_collision_rate"] == pytest.approx(85 / 100)
    assert s.loc[1, "mass_collision_rate"] == pytest.approx(75 / 100)
    assert s.loc[-1, "motif_collision_rate"] == pytest.approx(3 / 6)
    assert s.loc[-1, "mass_collision_rate"] == pytest.approx(60 / 100)
    # rows (1, 3) appear twice -> 5 distinct tuples, max load 2
    assert s.loc[-1, "occupied"] == 5 and s.loc[-1, "max_load"] == 2
    assert s.loc[0, "load_factor"] == pytest.approx(6 / 5)
    p = 1 - (1 - 1 / 5) ** 5
    assert s.loc[0, "expected_collision_rate"] == pytest.approx(p)
    assert s.loc[-1, "expected_collision_rate"] == pytest.approx(p**2)
    assert s.loc[0, "expected_occupied"] == pytest.approx(5 * (1 - 0.8**6))


def test_expectation_matches_simulation():
    rng = np.random.default_rng(1)
    n, m = 300, 512
    rates = [
        collision_stats(rng.integers(0, m, (n, 1)), np.ones(n), m)["motif_collision_rate"][0]
        for _ in range(80)
    ]
    assert np.mean(rates) == pytest.approx(expected_collision_rate(n, m), rel=0.05)


def test_advisor_equals_direct_rehash():
    spec = MotifMemorySpec(pair_buckets=64, heads=2, hash_seed=3)
    rng = np.random.default_rng(2)
    keys = np.unique(
        pack_pair_key(rng.integers(1, 30, 200), rng.integers(1, 30, 200), rng.integers(0, 60, 200))
    )
    counts = rng.integers(1, 100, len(keys))
    adv = advisor("pair", keys, counts, spec, sizes=[32, 64, 128], heads=[1, 3])
    assert len(adv) == 6
    assert adv["is_current"].sum() == 0  # (64, 2) not in the grid
    for row in adv.itertuples():
        a, b = hash_params(3, row.heads, "pair")
        ids = hash_numpy(keys, a, b, row.buckets)
        both = np.ones(len(keys), bool)
        for h in range(row.heads):
            _, inv, cnt = np.unique(ids[:, h], return_inverse=True, return_counts=True)
            both &= cnt[inv] > 1
        assert row.motif_collision_rate == pytest.approx(both.mean())
        assert row.mass_collision_rate == pytest.approx(counts[both].sum() / counts.sum())
    # more rows or more heads never hurt on this data
    r = adv.set_index(["buckets", "heads"])["motif_collision_rate"]
    assert r[(128, 3)] <= r[(32, 3)]


def test_bucket_ids_uses_spec_tables():
    spec = MotifMemorySpec(pair_buckets=100, triplet_buckets=7, heads=3)
    keys = np.arange(1000, 1100)
    ids = bucket_ids("triplet", keys, spec)
    assert ids.shape == (100, 3) and ids.max() < 7
    with pytest.raises(ValueError, match="table"):
        bucket_ids("quad", keys, spec)
