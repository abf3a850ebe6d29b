"""The bundled demo dataset in assets/data matches its card and fairchem reads it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pamm.data.families import HELDOUT_FAMILIES, SYNTHETIC_FAMILIES, family_from_sid
from pamm.data.generate import SPLITS

DATA = Path(__file__).resolve().parents[2] / "assets" / "data"
pytestmark = pytest.mark.skipif(
    not (DATA / "dataset.json").is_file(), reason="assets/data not generated"
)


def test_card_matches_shards() -> None:
    from fairchem.core.datasets import AseDBDataset

    card = json.loads((DATA / "dataset.json").read_text())
    assert card["label_source"].startswith("CHGNet")
    assert 3000 <= card["n_structures"] <= 6000
    size = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert size <= 30 * 2**20, f"assets/data is {size / 2**20:.1f} MiB"
    assert not (DATA / ".work").exists()
    assert set(card["counts_per_family"]) == set(SYNTHETIC_FAMILIES)
    assert set(card["counts"]["heldout"]) == set(HELDOUT_FAMILIES)
    rng = np.random.default_rng(0)
    for split in SPLITS:
        dataset = AseDBDataset(config={"src": str(DATA / split)})
        expected = card["counts"][split]
        assert len(dataset) == sum(expected.values())
        natoms = np.load(DATA / split / "metadata.npz")["natoms"]
        assert len(natoms) == len(dataset)
        families = Counter()
        for idx in range(len(dataset)):
            row_data = dataset.get_atoms(idx).info  # row.data only, cheap
            families[row_data["family"]] += 1
            assert family_from_sid(row_data["sid"]) == row_data["family"]
        assert dict(families) == expected
        for idx in rng.choice(len(dataset), size=5, replace=False):
            atoms = dataset.get_atoms(int(idx))
            assert len(atoms) == natoms[idx]
            assert atoms.get_forces().shape == (len(atoms), 3)
            assert np.isfinite(atoms.get_stress()).all()
