"""The bundled demo checkpoints: small, loadable by fairchem, and their stored metrics hold."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
CKPT_DIR = ROOT / "assets" / "checkpoints"
TEST_SPLIT = ROOT / "assets" / "data" / "test"
#: mode, fusion, lookup of each bundled variant; baseline and gate must ship (the dashboard's
#: default is the gate model), affine when it is there
EXPECTED_SPEC = {"baseline": ("baseline", "gate", "smooth"), "gate": ("pamm", "gate", "smooth"),
                 "affine": ("pamm", "affine", "smooth")}  # fmt: skip
REQUIRED = ("baseline", "gate")
VARIANTS = tuple(v for v in EXPECTED_SPEC if v in REQUIRED or (CKPT_DIR / f"{v}.pt").is_file())
MAX_BYTES = 20 * 1024 * 1024
pytestmark = pytest.mark.slow  # loads three checkpoints, re-scores 20 structures each


@pytest.fixture(scope="module")
def structures():
    from pamm.evaluate import read_split

    return read_split(TEST_SPLIT, limit=20)


@pytest.fixture(scope="module", params=VARIANTS)
def bundled(request):
    from pamm.evaluate import load_predictor

    variant = request.param
    ckpt = CKPT_DIR / f"{variant}.pt"
    stored = json.loads((CKPT_DIR / f"{variant}.metrics.json").read_text())
    return variant, ckpt, stored, load_predictor(ckpt)


def test_size_hash_and_spec(bundled) -> None:
    variant, ckpt, stored, predictor = bundled
    assert ckpt.stat().st_size <= MAX_BYTES
    assert hashlib.sha256(ckpt.read_bytes()).hexdigest() == stored["sha256"]
    spec = predictor.model.module.backbone.pamm_spec
    assert (spec.mode, spec.fusion, spec.lookup) == EXPECTED_SPEC[variant]
    assert stored["trained"]["steps"] >= 1000  # trained, not a smoke run


def test_calculator_gives_finite_predictions(bundled, structures) -> None:
    from fairchem.core import FAIRChemCalculator

    _, _, _, predictor = bundled
    calc = FAIRChemCalculator(predictor, task_name="omat")
    for atoms in structures[:3]:
        atoms = atoms.copy()
        atoms.calc = calc
        energy, forces, stress = (
            atoms.get_potential_energy(),
            atoms.get_forces(),
            atoms.get_stress(),
        )
        assert np.isfinite(energy) and forces.shape == (len(atoms), 3)
        assert np.isfinite(forces).all() and np.isfinite(stress).all()


def test_stored_metrics_match_reevaluation(bundled, structures) -> None:
    from pamm.evaluate import structure_errors, summarize

    _, _, stored, predictor = bundled
    again = summarize(structure_errors(predictor, structures, batch_size=8))["overall"]
    saved = stored["test_first20"]["overall"]
    assert saved["n_structures"] == again["n_structures"] == 20
    for key in ("energy_mae_mev_per_atom", "force_mae_mev_per_a", "stress_mae_mev_per_a3"):
        assert math.isfinite(again[key])
        assert again[key] == pytest.approx(saved[key], rel=0.01), key
