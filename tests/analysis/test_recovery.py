"""Planted-motif recovery: a planted bucket made dominant ranks first; the removal is exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk

from analysis.ablation_effects import ablation_effect
from analysis.recovery import motif_recovery, planted_keys
from pamm.ablation import Ablation
from pamm.data.planted import PlantedMotif, planted_labels
from pamm.keys import pack_pair_key, pack_triplet_key, unpack_triplet_key
from pamm.spec import MotifMemorySpec
from pamm.testing import randomize_memory, tiny_model

SPEC = {"pair_buckets": 2048, "triplet_buckets": 2048, "heads": 2, "head_dim": 4,
        "cutoff": 5.0, "triplet_cutoff": 3.2}  # fmt: skip
PAIR = PlantedMotif("pair", ("O", "Si"), centre=1.65, half_width=0.05, strength=0.5)
TRIPLET = PlantedMotif("triplet", ("O", "Si", "O"), centre=105.0, half_width=5.0, strength=0.5)


def _frames() -> list[Atoms]:
    """Four rattled cells with an SiO4 tetrahedron (Si–O ≈ 1.65 Å) and two without Si."""
    tetra = 1.65 / np.sqrt(3) * np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]])
    out = []
    for seed in range(4):
        positions = np.vstack([[0.0, 0.0, 0.0], tetra, [2.9, 2.8, 2.7]])
        atoms = Atoms("SiO4Mg", positions=positions, cell=np.diag([5.6, 5.8, 6.0]), pbc=True)
        atoms.rattle(0.02, seed=seed)
        out.append(atoms)
    return [*out, bulk("MgO", "rocksalt", a=4.2), bulk("MgO", "rocksalt", a=4.3, cubic=True)]


def _model(boost_keys: list[int], table: str = "pair") -> torch.nn.Module:
    """Tiny smooth-lookup model, small random memory, the rows of ``boost_keys`` made large."""
    torch.manual_seed(0)
    model = tiny_model(SPEC).eval()
    randomize_memory(model, scale=0.05)
    memory = model.backbone.motif_memory
    rows = getattr(memory, f"{table}_table")
    with torch.no_grad():
        for key in boost_keys:
            for h, b in enumerate(memory.hash(table, torch.tensor([key]))[0].tolist()):
                rows[h, b] = 3.0 * torch.randn(SPEC["head_dim"])
    return model


def test_planted_keys_bins_orders_and_edges() -> None:
    spec = MotifMemorySpec(**SPEC)
    pk = planted_keys(PAIR, spec)
    assert (pk.table, pk.core_bins, pk.ablation_bins) == ("pair", (16,), (15, 16, 17))
    assert pk.core_keys == (pack_pair_key(8, 14, 16), pack_pair_key(14, 8, 16))
    assert len(pk.ablation_keys) == 6
    assert planted_keys(PAIR, spec, margin_bins=0).ablation_bins == (16,)
    # an asymmetric triplet is keyed with both outer orders, a symmetric one once
    asym = PlantedMotif("triplet", ("O", "Si", "Mg"), centre=115.0, half_width=5.0, strength=1.0)
    keys = planted_keys(asym, spec).core_keys
    assert [unpack_triplet_key(k) for k in keys] == [(8, 14, 12, 11), (12, 14, 8, 11)]
    assert planted_keys(TRIPLET, spec).core_keys == (pack_triplet_key(8, 14, 8, 10),)
    # a bump wider than a bin, and one at the end of the range (clipped)
    wide = PlantedMotif("pair", ("O", "Si"), centre=1.65, half_width=0.15, strength=1.0)
    assert planted_keys(wide, spec).ablation_bins == (14, 15, 16, 17, 18)
    edge = PlantedMotif("pair", ("O", "O"), centre=4.95, half_width=0.05, strength=1.0)
    near = planted_keys(edge, spec)
    assert near.ablation_bins == (48, 49) and len(near.core_keys) == 1
    with pytest.raises(ValueError, match="margin_bins"):
        planted_keys(PAIR, spec, margin_bins=-1)


def test_dominant_planted_bucket_ranks_first_and_removal_is_the_ablation() -> None:
    frames = _frames()
    keys = planted_keys(PAIR, MotifMemorySpec(**SPEC))
    model = _model(list(keys.core_keys))
    rec = motif_recovery(model, frames, PAIR, top_n=5, batch_size=3)
    m = rec.metrics
    assert m["rank_attribution"] == 1 and m["rank_exact"] == 1, rec.buckets
    assert m["rank_attribution_total"] == 1
    assert 1 <= m["rank_gate"] <= m["n_occupied_buckets"]
    assert m["n_with_motif"] == 4 and m["n_structures"] == 6
    assert rec.buckets["planted"].sum() == 4  # 2 keys x 2 heads, no collision here
    # the removal is exactly the ablation of every head's bucket of the 6 ablation keys
    memory = model.backbone.motif_memory
    ablations = {
        (h, b)
        for k in keys.ablation_keys
        for h, b in enumerate(memory.hash("pair", torch.tensor([k]))[0].tolist())
    }
    eff = ablation_effect(
        model, frames, *[Ablation("bucket", table="pair", head=h, bucket=b) for h, b in ablations],
        batch_size=3,
    )  # fmt: skip
    removed = (eff["energy"] - eff["energy_ablated"]).to_numpy()
    planted = np.array([planted_labels(a, PAIR)[0] for a in frames])
    assert planted[:4].min() > 0 and (planted[4:] == 0).all()
    np.testing.assert_allclose(rec.structures["removed_ev"], removed, atol=1e-9)
    assert m["removal_ratio"] == pytest.approx(removed[:4].sum() / planted[:4].sum())
    assert m["planted_energy_ev"] == pytest.approx(planted.sum())
    # no other key collides with the ablation keys here: bucket and key ablation agree
    assert m["removal_ratio_keys"] == pytest.approx(m["removal_ratio"], rel=1e-5)
    assert m["removed_elsewhere_mev_per_atom"] == 0.0  # no Si–O in the MgO cells


def test_another_dominant_bucket_outranks_the_planted_one() -> None:
    """The metric can fail: make O–O rows large instead and the planted bucket drops."""
    frames = _frames()
    o_o = [int(pack_pair_key(8, 8, b)) for b in range(20, 35)]
    rec = motif_recovery(_model(o_o), frames, PAIR, top_n=3, batch_size=3)
    assert rec.metrics["rank_attribution"] > 3
    assert rec.metrics["rank_exact"] > 1
    # the negative control: strength 0 gives ranks and removed energy but no ratio
    control = motif_recovery(_model([]), frames, PAIR.scaled(0.0), top_n=3, batch_size=3)
    assert control.metrics["removal_ratio"] is None and control.metrics["n_with_motif"] == 4
    assert control.metrics["planted_energy_ev"] == 0.0


def test_triplet_motif_in_the_triplet_table() -> None:
    frames = _frames()
    keys = planted_keys(TRIPLET, MotifMemorySpec(**SPEC))
    model = _model(list(keys.core_keys), table="triplet")
    rec = motif_recovery(model, frames, TRIPLET, top_n=5, batch_size=3)
    assert rec.metrics["table"] == "triplet"
    assert rec.metrics["rank_attribution"] == 1 and rec.metrics["rank_exact"] == 1
    assert rec.metrics["n_occupied_buckets"] > 10
    with pytest.raises(ValueError, match="hashed tables"):
        motif_recovery(tiny_model({**SPEC, "mode": "baseline"}), frames, TRIPLET)
