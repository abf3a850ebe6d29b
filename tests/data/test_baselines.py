"""Composition-only and ridge pair-histogram baselines, and the card's variance split."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from pamm.data.baselines import fit_baselines, pair_histogram_features, per_atom_energy
from pamm.data.card import variance_split


def _frames(rng, n: int):
    """Rocksalt MgO/CaO cells whose energy is composition plus a Mg–O distance term."""
    out = []
    for k in range(n):
        cation = "Mg" if k % 2 else "Ca"
        a0 = rng.uniform(4.0, 4.9)
        atoms = bulk(f"{cation}O", "rocksalt", a=a0, cubic=True)
        atoms.positions += rng.normal(0, 0.05, atoms.positions.shape)
        per_atom = {"Mg": -3.0, "Ca": -3.5}[cation] + 2.0 * (a0 - 4.4) ** 2
        atoms.calc = SinglePointCalculator(atoms, energy=per_atom * len(atoms))
        atoms.info["parent"] = k // 4
        out.append(atoms)
    return out


def test_ridge_learns_what_composition_cannot() -> None:
    rng = np.random.default_rng(0)
    train, val, test = _frames(rng, 60), _frames(rng, 20), _frames(rng, 20)
    fits = fit_baselines(train, val, ["Ca", "Mg", "O"])
    y = per_atom_energy(test)
    comp = np.abs(fits["composition"](test) - y).mean()
    ridge = np.abs(fits["ridge"](test) - y).mean()
    assert ridge < 0.5 * comp
    # composition alone is exact when energy is composition alone
    for frame in train + test:
        n = len(frame)
        e = {"Mg": -3.0, "Ca": -3.5}[frame.get_chemical_symbols()[0]] * n
        frame.calc = SinglePointCalculator(frame, energy=e)
    fits = fit_baselines(train, val, ["Ca", "Mg", "O"])
    assert np.abs(fits["composition"](test) - per_atom_energy(test)).max() < 1e-9


def test_pair_histogram_counts_every_pair_once_per_atom() -> None:
    atoms = bulk("MgO", "rocksalt", a=4.2, cubic=True)  # Mg–O at 2.1 Å, 6 per atom
    feats = pair_histogram_features([atoms], ["Mg", "O"], cutoff=2.5, width=0.5)
    # columns: 2 fractions, then pairs (Mg,Mg), (Mg,O), (O,O) x 5 bins
    hist = feats[0, 2:].reshape(3, 5)
    assert hist[1, 4] == pytest.approx(6 * 4 / 8)  # 24 Mg–O pairs over 8 atoms
    assert hist[0].sum() == 0 and hist[2].sum() == 0


def test_variance_split_separates_parents() -> None:
    frames = _frames(np.random.default_rng(1), 16)
    residual = np.array([float(a.info["parent"]) for a in frames])  # constant per parent
    split = variance_split(frames, residual)
    assert split["between_parent_share"] == pytest.approx(1.0)
    assert split["within_parent_std_meV"] == 0.0
