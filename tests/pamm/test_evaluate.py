"""pamm.evaluate: per-structure errors line up with the right structures and atoms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pamm.evaluate import read_split, structure_errors, summarize

TEST_SPLIT = Path(__file__).resolve().parents[2] / "assets" / "data" / "test"


class LabelEchoPredictor:
    """Predicts a batch's own labels, with a known shift per structure and on one force.

    Implements fairchem's ``predict(batch) -> {"energy", "forces", "stress"}`` contract so
    the error bookkeeping (batching, atom offsets, units) can be checked exactly.
    """

    def __init__(self, energy_shift: float, force_shift: float) -> None:
        self.energy_shift, self.force_shift = energy_shift, force_shift

    def predict(self, batch) -> dict[str, torch.Tensor]:
        forces = batch.forces.clone()  # [sum N, 3]
        first = torch.cumsum(batch.natoms, 0) - batch.natoms  # first atom of each structure
        forces[first, 0] += self.force_shift
        return {
            "energy": batch.energy.double() + self.energy_shift,  # [B]
            "forces": forces,
            "stress": batch.stress.reshape(-1, 9),  # [B, 9]
        }


def test_errors_follow_structures_across_batches() -> None:
    pool = read_split(TEST_SPLIT, limit=60)
    by_size = {len(a): a for a in pool}  # one structure per size first, then fill up
    structures = (list(by_size.values()) + pool)[:7]
    natoms = np.array([len(a) for a in structures])
    assert len(set(natoms)) > 1, "need structures of different sizes to test atom offsets"
    rows = structure_errors(LabelEchoPredictor(0.5, 0.3), structures, batch_size=3)
    assert rows["index"].tolist() == list(range(7))
    np.testing.assert_allclose(rows["energy_ref"], [a.get_potential_energy() for a in structures])
    assert rows["sid"].tolist() == [a.info["sid"] for a in structures]
    np.testing.assert_allclose(rows["energy_err_per_atom"], 0.5 / natoms, rtol=1e-5)
    # one shifted force component per structure: the sum of abs errors is exactly the shift
    np.testing.assert_allclose(rows["force_abs_sum"], 0.3, rtol=1e-4)
    assert (rows["force_n"] == 3 * natoms).all()
    np.testing.assert_allclose(rows["stress_abs_mean"], 0.0, atol=1e-6)
    metrics = summarize(rows)
    expected_force = 1000 * 0.3 * 7 / (3 * natoms.sum())
    assert metrics["overall"]["force_mae_mev_per_a"] == pytest.approx(expected_force, rel=1e-4)
    assert metrics["overall"]["energy_mae_mev_per_atom"] == pytest.approx(
        1000 * np.mean(0.5 / natoms), rel=1e-5
    )
    families = {a.info["family"] for a in structures}
    assert set(metrics["per_family"]) == families
    assert sum(m["n_structures"] for m in metrics["per_family"].values()) == 7


def test_summary_pools_forces_over_atoms_not_structures() -> None:
    rows = pd.DataFrame(
        {
            "family": ["x", "y"],
            "natoms": [1, 9],
            "energy_err_per_atom": [0.010, 0.0],
            "force_abs_sum": [0.3, 0.0],  # all force error on the 1-atom structure
            "force_n": [3, 27],
            "stress_abs_mean": [0.004, 0.002],
        }
    )
    m = summarize(rows)
    assert m["overall"]["force_mae_mev_per_a"] == pytest.approx(10.0)  # 300 meV / 30 comps
    assert m["overall"]["energy_mae_mev_per_atom"] == pytest.approx(5.0)
    assert m["overall"]["stress_mae_mev_per_a3"] == pytest.approx(3.0)
    assert m["per_family"]["x"]["force_mae_mev_per_a"] == pytest.approx(100.0)
    assert m["overall"]["n_atoms"] == 10


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="no structures"):
        summarize(pd.DataFrame(columns=["family"]))
    with pytest.raises(ValueError, match="limit"):
        read_split(TEST_SPLIT, limit=0)
    from pamm.evaluate import load_predictor

    with pytest.raises(FileNotFoundError, match=r"nope\.pt"):
        load_predictor("/nonexistent/nope.pt")
