"""Census aggregation: exact per-motif sums, exact shard merge, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.census import GATE_SCALE, Census, CensusBuilder, merge


def test_counts_and_gates_match_direct_computation(occurrences, build_census):
    census = build_census(occurrences)
    occ = occurrences["pair"]
    keys, count, gq, _ = census.tables["pair"].per_key()
    ref_keys, ref_count = np.unique(occ["keys"], return_counts=True)
    np.testing.assert_array_equal(keys, ref_keys)
    np.testing.assert_array_equal(count, ref_count)
    k0 = keys[np.argmax(count)]
    ref_mean = occ["gate"][occ["keys"] == k0].mean()
    got = gq[np.argmax(count)] / (count.max() * GATE_SCALE)
    assert got == pytest.approx(ref_mean, abs=1 / GATE_SCALE)


@pytest.mark.parametrize("shards", [2, 3, 7])
def test_merge_of_shards_equals_one_census(occurrences, shards, build_census):
    whole = build_census(occurrences)
    n = len(occurrences["pair"]["keys"])
    perm = np.random.default_rng(shards).permutation(n)
    parts = [build_census(occurrences, np.sort(p)) for p in np.array_split(perm, shards)]
    merged = merge(parts)
    assert merged.equals(whole)
    # the reservoir is bounded per key and not trivially empty
    res = merged.reservoirs["triplet"]
    assert len(res.key) > 0
    assert np.unique(res.key, return_counts=True)[1].max() <= 4


def test_compaction_does_not_change_result(occurrences, build_census):
    assert build_census(occurrences, compact_every=100).equals(build_census(occurrences))


def test_merge_detects_difference(occurrences, build_census):
    a = build_census(occurrences)
    b = build_census(occurrences, np.arange(1, len(occurrences["pair"]["keys"])))
    assert not a.equals(b)


def test_save_load_roundtrip(tmp_path, occurrences, build_census):
    census = build_census(occurrences)
    census.meta["note"] = "x"
    census.save(tmp_path / "census.npz")
    back = Census.load(tmp_path / "census.npz")
    assert back.equals(census)
    assert back.meta["note"] == "x"


@pytest.mark.parametrize("size", [1, 3, 8])
def test_top_per_key_matches_brute_force_even_with_32bit_ties(size):
    from analysis.reservoir import top_per_key

    rng = np.random.default_rng(size)
    n = 5000
    key = rng.integers(0, 40, n)
    # many priorities share their top 32 bits: only the low bits decide
    prio = (rng.integers(0, 4, n) << 31) | rng.permutation(n)
    got = top_per_key(key, prio, size)
    order = np.lexsort((prio, key))
    ref = [i for k in np.unique(key) for i in order[key[order] == k][:size]]
    np.testing.assert_array_equal(got, ref)


def test_gateless_census_equals_itself(occurrences, build_census):
    pair = {k: v for k, v in occurrences["pair"].items() if k != "gate"}
    a = build_census({"pair": {**pair, "gate": None}})
    b = build_census({"pair": {**pair, "gate": None}})
    assert not a.has_gate and a.equals(b)


def test_smooth_lookups_add_exact_weighted_mass(tmp_path):
    import torch

    from analysis.runner import add_graph
    from pamm.capture import capture
    from pamm.testing import random_crystal, randomize_memory, tiny_batch, tiny_model

    model = tiny_model({"lookup": "smooth", "pair_buckets": 64, "triplet_buckets": 128})
    randomize_memory(model)
    rng = np.random.default_rng(0)
    atoms = [random_crystal(rng, n_atoms=4), random_crystal(rng, n_atoms=3)]
    with torch.no_grad(), capture(model) as cap:
        model(tiny_batch(atoms))
    rec = cap.records[-1]
    censuses = []
    for fam in ([0, 1], [1, 0]):
        builder = CensusBuilder(reservoir=2)
        add_graph(
            builder, rec.keys, rec.edge_index, rec.cell_offsets, rec.batch,
            np.array([10, 11]), np.array(fam), rec.gate_mean,
        )  # fmt: skip
        censuses.append(builder.finish())
    census = censuses[0]
    keys, pair_mass = census.lookup_mass_of("pair")
    # every edge puts mass 1 on the rows it reads; triplets their envelope mass
    quantum = 2 * (rec.keys.num_edges + rec.keys.num_triplets) / 2**16  # rounding bound
    assert pair_mass.sum() == pytest.approx(rec.keys.num_edges, abs=quantum)
    _, trip_mass = census.lookup_mass_of("triplet")
    want = float(rec.triplet_weight.sum())
    assert trip_mass.sum() == pytest.approx(want, abs=quantum) and want < rec.keys.num_triplets
    # occurrence counts are untouched; the neighbouring bins' keys carry mass too
    _, count, _, _ = census.tables["pair"].per_key()
    assert count.sum() == rec.keys.num_edges and len(keys) > len(count)
    # exact merges and a save/load round trip keep the mass
    both = merge(censuses)
    assert both.lookup_mass_of("pair")[1].sum() == pytest.approx(
        2 * rec.keys.num_edges, abs=2 * quantum
    )
    census.save(tmp_path / "c.npz")
    assert Census.load(tmp_path / "c.npz").equals(census)
    # a hard census has no separate mass: the counts are the mass
    hard = CensusBuilder()
    pair = np.array([5, 5])
    hard.add("pair", keys=pair, family=pair * 0, gate=None, structure=pair * 0,
             centre=np.array([0, 1]), neighbour=np.array([1, 0]))  # fmt: skip
    assert hard.finish().lookup_mass_of("pair")[1].tolist() == [2.0]
