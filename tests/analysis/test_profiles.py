"""Motif profiles: a row we make large shows as the peak of its element pair's profile."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk

from analysis.attribution import bucket_attribution
from analysis.profiles import motif_profile, profile_elements
from pamm.keys import pack_pair_key
from pamm.testing import randomize_memory, tiny_model

SPEC = {"pair_buckets": 256, "triplet_buckets": 512, "heads": 2, "head_dim": 4,
        "cutoff": 5.0, "triplet_cutoff": 3.2}  # fmt: skip


@pytest.mark.parametrize("lookup", ["hard", "smooth"])
def test_boosted_motif_is_the_peak_of_its_profile(lookup: str) -> None:
    torch.manual_seed(0)
    model = tiny_model({**SPEC, "lookup": lookup}).eval()
    randomize_memory(model, scale=0.05)
    backbone = model.backbone
    spec, memory = backbone.pamm_spec, backbone.motif_memory
    frames = [bulk("NaCl", "rocksalt", a=5.64, cubic=True), bulk("NaCl", "rocksalt", a=5.64)]
    nearest_bin = int(2.82 / spec.pair_bin_width)  # Na–Cl at a / 2 = 2.82 Å: bin 28
    key = torch.tensor([int(pack_pair_key(17, 11, nearest_bin))])
    with torch.no_grad():  # make the rows of (Cl -> Na, bin 28) large in every head
        for h, b in enumerate(memory.hash("pair", key)[0].tolist()):
            memory.pair_table[h, b] = 3.0 * torch.randn(spec.head_dim)
    per = bucket_attribution(model, frames, forces=False, batch_size=2, by_key=True)
    profile = motif_profile(per, "pair", ("Cl", "Na"), spec)
    assert len(profile) == spec.n_pair_bins
    peak = int(profile["contribution_mev"].abs().idxmax())
    assert peak == nearest_bin, profile.loc[25:31]
    # the occurrence histogram: 6 Cl around each Na at 2.82 Å (smooth: split over 2 bins)
    n_na = sum(int((a.numbers == 11).sum()) for a in frames)
    near = profile.loc[nearest_bin - 1 : nearest_bin + 1, "n_lookups"].sum()
    assert near == pytest.approx(6 * n_na)
    assert profile.loc[nearest_bin, "lo"] == pytest.approx(2.8)
    pairs = profile_elements(per, "pair")
    assert set(pairs["elements"]) == {"Cl-Na", "Na-Cl", "Na-Na", "Cl-Cl"}
    with pytest.raises(ValueError, match="element symbols"):
        motif_profile(per, "triplet", ("Cl", "Na"), spec)
    assert np.isfinite(profile["contribution_mev"]).all()
