"""CHGNetLabeller: the same labels as CHGNet's ASE calculator, forces and stress the exact
derivatives of its energy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("chgnet")

DATA = Path(__file__).resolve().parents[2] / "assets" / "data"


@pytest.fixture(scope="module")
def structures():
    from pamm.data.readers import read_structures

    frames = read_structures(DATA / "test")
    by_family = {}
    for atoms in frames:  # one frame of each family: relaxed, rattled and MD geometries
        by_family.setdefault(atoms.info["family"], atoms)
    return [a.copy() for a in by_family.values()]


@pytest.fixture(scope="module")
def labeller():
    from pamm.data.chgnet_labels import chgnet_labeller

    return chgnet_labeller()


def _labels(atoms, calc):
    atoms = atoms.copy()
    atoms.calc = calc
    return atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()


def test_labels_match_chgnets_calculator(structures, labeller) -> None:
    from pamm.data.recipes import chgnet_calculator

    reference = chgnet_calculator()
    for atoms in structures:
        e_ref, f_ref, s_ref = _labels(atoms, reference)
        energy, forces, stress = _labels(atoms, labeller)
        # the same forward pass and rounding: energies identical (90 training frames); two
        # float32 backward graphs: forces differ by <= 1.1e-4 eV/Å, stresses by <= 8.3e-7
        # eV/Å³ (30 training frames)
        assert energy == pytest.approx(float(e_ref), abs=1e-5)
        np.testing.assert_allclose(forces, f_ref, atol=1e-3)
        np.testing.assert_allclose(stress, s_ref, atol=1e-5)
        assert forces.dtype == stress.dtype == np.float64


def test_forces_and_stress_are_derivatives_of_the_energy(structures, labeller) -> None:
    """Central differences of the float32 energy along a random displacement and a random
    symmetric strain."""
    rng = np.random.default_rng(0)
    for atoms in structures[:3]:
        _, forces, stress = _labels(atoms, labeller)
        direction = rng.normal(size=forces.shape)
        direction /= np.linalg.norm(direction)
        step = 5e-3  # Å: float32 energy noise / (2 step) ≈ 1e-3 eV/Å
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions += step * direction
        minus.positions -= step * direction
        slope = (_labels(plus, labeller)[0] - _labels(minus, labeller)[0]) / (2 * step)
        assert slope == pytest.approx(-(forces * direction).sum(), abs=0.01)

        # compressed by 3 % so the stress is large; strained along it, by 0.5 %
        squeezed = atoms.copy()
        squeezed.set_cell(0.97 * atoms.cell.array, scale_atoms=True)
        _, _, stress = _labels(squeezed, labeller)
        full = stress[[0, 5, 4, 5, 1, 3, 4, 3, 2]].reshape(3, 3)  # Voigt -> 3x3
        strain = 5e-3 * full / np.linalg.norm(full)
        energies = []
        for sign in (1, -1):
            strained = squeezed.copy()
            strained.set_cell(squeezed.cell.array @ (np.eye(3) + sign * strain), scale_atoms=True)
            energies.append(_labels(strained, labeller)[0])
        expected = squeezed.get_volume() * (full * strain).sum()
        assert abs(expected) > 0.02
        assert (energies[0] - energies[1]) / 2 == pytest.approx(expected, rel=0.02)
