"""Bucket maps: the exact inverse over an enumerable key space and observed shares."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.buckets import bucket_motifs, bucket_summary, inverse_map, key_space
from analysis.motifs import motif_table
from pamm.hashing import hash_numpy, hash_params
from pamm.keys import unpack_triplet_key
from pamm.spec import MotifMemorySpec


def test_inverse_map_is_exact_partition():
    spec = MotifMemorySpec(triplet_buckets=13, heads=2, angle_bin_deg=30.0, hash_seed=5)
    elements = [1, 8, 26]
    space = key_space("triplet", spec, elements=elements)
    assert len(space) == 3**3 * 6 == len(np.unique(space))
    zj, zi, zk, b = unpack_triplet_key(space)
    assert set(zi) == set(zk) == set(elements)
    assert set(zj) == set(elements) and b.max() == 5
    inv = inverse_map("triplet", spec, elements=elements)
    a, bb = hash_params(5, 2, "triplet")
    for h in range(2):
        part = inv[inv["head"] == h]
        # every key exactly once per head
        np.testing.assert_array_equal(np.sort(part["key"].to_numpy()), space)
        # each key is in the bucket the hash sends it to
        np.testing.assert_array_equal(
            hash_numpy(part["key"].to_numpy(), a, bb, 13)[:, h], part["bucket"].to_numpy()
        )
    sizes = inv[inv["head"] == 0].groupby("bucket").size()
    assert sizes.sum() == len(space) and sizes.index.max() < 13


def test_observed_bucket_map(occurrences, build_census):
    spec = MotifMemorySpec(pair_buckets=32, heads=2)
    motifs = motif_table(build_census(occurrences), "pair", spec)
    long = bucket_motifs(motifs, "pair", 2)
    assert len(long) == 2 * len(motifs)
    np.testing.assert_allclose(long.groupby(["head", "bucket"])["share"].sum(), 1.0)
    summary = bucket_summary(motifs, "pair", 2)
    assert summary["mass"].sum() == 2 * motifs["count"].sum()
    row = summary.iloc[0]
    members = motifs[motifs[f"bucket_{row['head']}"] == row["bucket"]]
    assert row["n_motifs"] == len(members)
    assert row["purity"] == pytest.approx(members["count"].max() / members["count"].sum())
    assert members.loc[members["count"].idxmax(), "key"] == row["dominant_key"]


def test_local_environment_marks_roles_at_periodic_images():
    from ase.build import bulk

    from analysis.environments import CoordinationCache, coordination, local_environment

    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True)  # Na at 0..3, Cl at 4..7
    d = atoms.get_distances(0, range(4, 8), mic=True)
    cl = 4 + int(np.argmin(d))
    env = local_environment(atoms, 0, cl, np.array([0, 0, 0]), cl, np.array([-1, 0, 0]), radius=3.0)
    roles = env.molecule.site_properties["role"]
    assert roles[0] == "i" and roles.count("j") == 1 and roles.count("k") == 1
    assert env.molecule[0].specie.symbol == "Na"
    j = env.molecule[roles.index("j")]
    assert j.specie.symbol == "Cl"
    np.testing.assert_allclose(j.coords, env.j_position)
    cache = CoordinationCache()
    first = coordination(env.structure, 0, key="nacl", cache=cache)
    assert first["cn"] == 6 and first["neighbours"] == ["Cl"] * 6
    assert coordination(env.structure, 0, key="nacl", cache=cache) is first and len(cache) == 1
