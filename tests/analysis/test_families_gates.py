"""Family usage (JSD, specificity, held-out-only motifs) and gate statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.census import FAMILY_NAMES, CensusBuilder
from analysis.families import (
    family_divergence,
    family_usage,
    jensen_shannon,
    specific_motifs,
)
from analysis.gates import family_gate_summary, gate_ranking
from analysis.motifs import motif_family_table, motif_table
from pamm.keys import pack_pair_key
from pamm.spec import MotifMemorySpec


def test_jsd_properties():
    rng = np.random.default_rng(0)
    p = rng.random((4, 50))
    jsd = jensen_shannon(p)
    np.testing.assert_allclose(np.diag(jsd), 0.0, atol=1e-12)
    np.testing.assert_allclose(jsd, jsd.T)
    assert jsd[0, 1] > 0
    assert jensen_shannon(np.array([[1, 0], [0, 1]]))[0, 1] == pytest.approx(1.0)
    # hand value: p = (1/2, 1/2), q = (1, 0): JSD = H(3/4, 1/4) - H(p)/2 = 0.811278 - 0.5
    assert jensen_shannon(np.array([[1, 1], [2, 0]]))[0, 1] == pytest.approx(0.311278, abs=1e-6)


def _two_family_census():
    fam_a, fam_b = FAMILY_NAMES.index("rattled-300"), FAMILY_NAMES.index("aimd-from-PBE-3000-nvt")
    b = CensusBuilder(reservoir=0)
    shared = pack_pair_key(8, 26, 20)
    only_b = pack_pair_key(1, 1, 7)
    keys = np.array([shared] * 6 + [only_b] * 4)
    fam = np.array([fam_a] * 3 + [fam_b] * 3 + [fam_b] * 4)
    gate = np.array([0.2] * 3 + [0.4] * 3 + [0.9] * 4)
    z = np.zeros(10, np.int64)
    b.add("pair", keys=keys, family=fam, gate=gate, structure=z, centre=z, neighbour=z)
    b.add_structures(np.array([fam_a, fam_b]))
    return b.finish(), shared, only_b


def test_heldout_only_and_specificity():
    census, shared, only_b = _two_family_census()
    spec = MotifMemorySpec()
    motifs = motif_table(census, "pair", spec, heldout=("aimd-from-PBE-3000-nvt",)).set_index("key")
    assert motifs.loc[only_b, "heldout_only"] and not motifs.loc[shared, "heldout_only"]
    assert motifs.loc[only_b, "specificity"] == 1.0
    assert motifs.loc[shared, "specificity"] == 0.5
    assert motifs.loc[shared, "gate_mean"] == pytest.approx(0.3, abs=1e-4)
    assert motifs.loc[shared, "gate_std"] == pytest.approx(0.1, abs=1e-4)
    mf = motif_family_table(census, "pair")
    top = specific_motifs(mf, "aimd-from-PBE-3000-nvt", min_count=1)
    assert top["key"].iloc[0] == only_b


def test_family_usage_and_divergence():
    census, _, _ = _two_family_census()
    spec = MotifMemorySpec(pair_buckets=64)
    usage = family_usage(census, "pair", spec)
    np.testing.assert_allclose(usage.groupby(["head", "family"])["share"].sum(), 1.0)
    div = family_divergence(census, "pair", spec)
    d = div[(div["family_a"] == "rattled-300") & (div["family_b"] != "rattled-300")]
    # rattled-300 uses only the shared motif's bucket; the other family splits 3:4
    p = np.array([1.0, 0.0])
    q = np.array([3 / 7, 4 / 7])
    assert d["jsd"].iloc[0] == pytest.approx(jensen_shannon(np.stack([p, q]))[0, 1], abs=1e-9)


def test_gate_summaries(occurrences, build_census):
    census = build_census(occurrences)
    mf = motif_family_table(census, "pair")
    summary = family_gate_summary(mf).set_index("family")
    occ = occurrences["pair"]
    for fam_idx in np.unique(occ["family"]):
        name = FAMILY_NAMES[fam_idx]
        sel = occ["family"] == fam_idx
        assert summary.loc[name, "gate_mean"] == pytest.approx(occ["gate"][sel].mean(), abs=1e-4)
        assert summary.loc[name, "gate_std"] == pytest.approx(occ["gate"][sel].std(), abs=1e-3)
    motifs = motif_table(census, "pair", MotifMemorySpec())
    ranked = gate_ranking(motifs, n=5, min_count=3)
    most = ranked[ranked["rank_group"] == "most"]["gate_mean"]
    least = ranked[ranked["rank_group"] == "least"]["gate_mean"]
    assert most.min() >= least.max()
    eligible = motifs[motifs["count"] >= 3]
    assert most.iloc[0] == eligible["gate_mean"].max()
    assert isinstance(ranked, pd.DataFrame)
