"""Try-a-structure's model call on the bundled (fairchem-trained) demo checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

CHECKPOINT = Path(__file__).resolve().parents[2] / "assets" / "checkpoints" / "gate.pt"


def test_predict_structure_on_the_demo_checkpoint_matches_fairchem() -> None:
    # fairchem-trained checkpoints return flat head outputs (no "efs" level)
    from fairchem.core import FAIRChemCalculator

    from app.predict import predict_structure
    from pamm.evaluate import load_predictor
    from pamm.plumbing import load_checked_model

    atoms = bulk("NaCl", "rocksalt", a=5.64)
    atoms.rattle(0.05, seed=1)
    pred = predict_structure(load_checked_model(CHECKPOINT), atoms)

    reference = atoms.copy()
    reference.calc = FAIRChemCalculator(load_predictor(CHECKPOINT), task_name="omat")
    assert pred.energy == pytest.approx(reference.get_potential_energy(), abs=1e-3)
    np.testing.assert_allclose(pred.forces, reference.get_forces(), atol=1e-3)
    assert len(pred.edges) > 0 and {"bucket_0", "bucket_1", "gate_mean"} <= set(pred.edges)
    assert len(pred.triplets) == int(pred.edges["triplets"].sum())
