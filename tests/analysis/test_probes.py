"""``analysis.probes``: attribution vs exact ablation, reliance, gate vs effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from ase.build import bulk

from analysis.probes import (
    ablation_effect,
    attribution_agreement,
    bucket_attribution,
    bucket_effects,
    gate_vs_effect,
    memory_reliance,
    reliance_summary,
)
from pamm.ablation import Ablation
from pamm.testing import randomize_memory, tiny_model

SPEC = {
    "pair_buckets": 32,
    "triplet_buckets": 64,
    "heads": 2,
    "head_dim": 4,
    "cutoff": 5.0,
    "triplet_cutoff": 3.2,
}


class LinearInRows(torch.nn.Module):
    """Energy of structure s = Σ_{edges e -> centre in s} w · m_e: linear in the table rows.

    Uses the real PaMM backbone's graph, motif keys, hashing, lookup and capture sinks.
    """

    def __init__(self, hydra: torch.nn.Module) -> None:
        super().__init__()
        self.backbone = hydra.backbone
        self.w = torch.nn.Parameter(torch.randn(self.backbone.motif_memory.memory_dim))

    def forward(self, data):
        bb = self.backbone
        data["atomic_numbers_full"] = data["atomic_numbers"].long()
        data["batch_full"] = data["batch"]
        graph = bb._generate_graph(data)
        seen = []
        hook = bb.motif_memory.register_forward_hook(lambda _m, _a, out: seen.append(out.m))
        try:
            bb._pamm_fuse(torch.zeros(graph["edge_index"].shape[1], bb.edge_channels_list[0]))
        finally:
            hook.remove()
            bb._pamm_graph = bb._pamm_data = bb._pamm_fused = None
        per_edge = seen[0] @ self.w  # [E]
        structure = data["batch"][graph["edge_index"][1]]  # [E]
        energy = torch.zeros(len(data["natoms"])).index_add(0, structure, per_edge)  # [S]
        forces = torch.zeros(data["pos"].shape[0], 3)
        return {"efs": {"energy": {"energy": energy}, "forces": {"forces": forces}}}


def _structures():
    frames = []
    for n, (formula, a) in enumerate([("NaCl", 5.64), ("MgO", 4.21), ("LiF", 4.03), ("NaCl", 5.5)]):
        atoms = bulk(formula, "rocksalt", a=a)
        atoms.rattle(0.08, seed=n)
        frames.append(atoms)
    return frames


@pytest.fixture(scope="module", params=["hard", "smooth"])
def model(request):
    torch.manual_seed(0)
    m = tiny_model({**SPEC, "lookup": request.param}).eval()
    randomize_memory(m)
    return m


@pytest.mark.parametrize("replace", ["zero", "mean"])
def test_first_order_equals_exact_for_a_linear_model(model, replace):
    torch.manual_seed(1)
    toy = LinearInRows(model)
    atoms = _structures()
    per = bucket_attribution(toy, atoms, replace=replace, forces=False, batch_size=3)
    assert set(per["table"]) == {"pair", "triplet"}
    frame, corr = attribution_agreement(toy, atoms, per, top_k=8, replace=replace)
    np.testing.assert_allclose(frame["d_energy"], frame["exact_d_energy"], rtol=1e-4, atol=1e-3)
    assert corr["spearman_energy"] == pytest.approx(1.0)
    # per structure too, for one bucket
    row = frame.iloc[0]
    sel = per[(per.table == row.table) & (per["head"] == row["head"]) & (per.bucket == row.bucket)]
    ab = Ablation(
        "bucket", table=row.table, head=int(row["head"]), bucket=int(row.bucket), replace=replace
    )
    exact = ablation_effect(toy, [atoms[i] for i in sel["structure"]], ab)
    np.testing.assert_allclose(sel["d_energy"], exact["d_energy"], rtol=1e-4, atol=1e-3)


def test_attribution_covers_exactly_the_used_buckets(model):
    from pamm.capture import capture
    from pamm.testing import tiny_batch

    atoms = _structures()[:2]
    per = bucket_attribution(model, atoms, forces=True, batch_size=2)
    with capture(model) as cap:
        model(tiny_batch(atoms))
    rec = cap.records[-1]
    for table in ("pair", "triplet"):
        if rec.weighted:  # smooth: every row read with a non-zero weight
            read = getattr(rec, f"{table}_weight") > 0  # [n, 2]
            bucket = getattr(rec, f"{table}_lookup_bucket")[read]  # [reads, H]
        else:
            bucket = getattr(rec, f"{table}_bucket")
        for h in range(SPEC["heads"]):
            got = set(per[(per.table == table) & (per["head"] == h)]["bucket"])
            assert got == set(bucket[:, h].tolist())
    assert np.isfinite(per[["d_energy", "d_force_rms"]].to_numpy()).all()
    assert per["d_force_rms"].abs().max() > 0
    effects = bucket_effects(per)
    assert (effects["gate_mean"].between(0, 1)).all()
    assert effects["abs_d_energy"].is_monotonic_decreasing
    gve = gate_vs_effect(effects)
    assert list(gve["table"]) == ["pair", "triplet"]
    assert gve["n_buckets"].tolist() == [
        (effects.table == "pair").sum(),
        (effects.table == "triplet").sum(),
    ]


def test_real_model_agreement_is_positive(model):
    atoms = _structures()
    per = bucket_attribution(model, atoms, forces=False, batch_size=4)
    frame, corr = attribution_agreement(model, atoms, per, top_k=6, batch_size=4)
    assert len(frame) == 6
    assert corr["spearman_abs_energy"] > 0.3, corr


def test_reliance_per_family_and_element(model):
    atoms = _structures()
    families = ["a", "b", "a", "b"]
    per, per_atom = memory_reliance(model, atoms, families)
    assert list(per["family"]) == families
    assert (per["d_energy"].abs() > 0).all()
    assert {"d_energy_pair", "d_energy_triplet", "d_force_pair"} <= set(per.columns)
    summary = reliance_summary(per, per_atom)
    fam = summary["family"].set_index("family")
    assert fam.loc["a", "n_structures"] == 2
    assert fam.loc["a", "d_energy"] == pytest.approx(
        per[per.family == "a"]["d_energy"].abs().mean()
    )
    elem = summary["element"].set_index("element")
    assert set(elem.index) == {"Na", "Cl", "Mg", "O", "Li", "F"}
    assert elem.loc["Na", "n_atoms"] == 2
    assert isinstance(summary["family"], pd.DataFrame)


def test_shared_reference_equals_paired_passes_bitwise(model):
    from analysis.probes import predict
    from pamm.keys import pack_pair_key

    atoms = _structures()
    ab = Ablation("table", table="triplet")
    paired = ablation_effect(model, atoms, ab, batch_size=3)
    reference = predict(model, atoms, batch_size=3)
    shared = ablation_effect(model, atoms, ab, batch_size=3, reference=reference)
    pd.testing.assert_frame_equal(paired, shared, check_exact=True)
    # a motif no structure has (H-H at 0-0.1 Å): exactly zero effect with the reference too
    absent = Ablation("motif", table="pair", key=int(pack_pair_key(1, 1, 0)))
    none = ablation_effect(model, atoms, absent, batch_size=3, reference=reference)
    assert (none["d_energy"] == 0).all() and (none["d_force"] == 0).all()
    sub = reference.take([2, 0])
    assert sub.natoms.tolist() == [len(atoms[2]), len(atoms[0])]
    assert sub.forces.shape == (len(atoms[2]) + len(atoms[0]), 3)
    with pytest.raises(ValueError, match="reference holds"):
        ablation_effect(model, atoms[:2], ab, reference=reference)
