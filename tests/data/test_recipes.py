"""Family recipes and the sanity filter, driven by ASE's EMT (fast, real physics)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.data import covalent_radii
from ase.neighborlist import neighbor_list

from pamm.data.families import SYNTHETIC_FAMILIES
from pamm.data.recipes import FrameFilter, Recipe, frame_problem, run_recipe

SMALL = Recipe(rattle_pool=3, rattle_frames=2, relax_steps=4, md_steps=4)


def _cu():
    return bulk("Cu", "fcc", a=3.6, cubic=True)  # 4 atoms


def test_filter_thresholds() -> None:
    assert frame_problem(_cu(), FrameFilter()) is None
    d_min = 0.7 * 2 * covalent_radii[29]
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [2, 0, 0]], cell=[8, 8, 8], pbc=True)
    atoms.positions[1] = atoms.positions[0] + [d_min * 1.01, 0, 0]
    assert frame_problem(atoms, FrameFilter()) is None
    atoms.positions[1] = atoms.positions[0] + [d_min * 0.99, 0, 0]
    assert frame_problem(atoms, FrameFilter()) == "close_contact"
    # a contact across the periodic boundary counts too
    tiny = bulk("Cu", "sc", a=0.99 * d_min)
    assert frame_problem(tiny, FrameFilter()) == "close_contact"
    forces = np.zeros((4, 3))  # for the 4-atom Cu cell
    forces[2] = [0, 30, 40]  # |F| = 50
    assert frame_problem(_cu(), FrameFilter(max_force=50.0), forces) is None
    assert frame_problem(_cu(), FrameFilter(max_force=49.9), forces) == "max_force"
    forces[0, 0] = np.inf
    assert frame_problem(_cu(), FrameFilter(), forces) == "non_finite"
    with pytest.raises(ValueError, match="max_force"):
        FrameFilter(max_force=0)


@pytest.mark.parametrize("family", SYNTHETIC_FAMILIES)
def test_recipes_give_valid_labelled_frames(family: str) -> None:
    rng = np.random.default_rng(3)
    filt = FrameFilter()
    frames, rejected = run_recipe(family, _cu(), rng, SMALL, filt, calc=EMT())
    assert frames, f"{family}: no frames ({rejected})"
    for frame in frames:
        assert frame_problem(frame, filt, frame.get_forces()) is None
        # stored labels belong to the stored geometry: recompute from scratch
        fresh = frame.copy()
        fresh.calc = EMT()
        assert frame.get_potential_energy() == pytest.approx(fresh.get_potential_energy(), abs=1e-8)
        np.testing.assert_allclose(frame.get_forces(), fresh.get_forces(), atol=1e-8)
        np.testing.assert_allclose(frame.get_stress(), fresh.get_stress(), atol=1e-8)
    positions = np.stack([f.positions for f in frames])
    assert np.ptp(positions, axis=0).max() > 1e-3, "frames of a task must differ"
    if family.endswith("-npt") or family == "rattled-relax":
        assert any(not np.allclose(f.cell.array, frames[0].cell.array) for f in frames)


def test_rejected_frames_are_really_rejected() -> None:
    # a force cap below any real force rejects every labelled frame
    frames, rejected = run_recipe(
        "aimd-from-PBE-1000-nvt", _cu(), np.random.default_rng(0), SMALL,
        FrameFilter(max_force=1e-6), calc=EMT(),
    )  # fmt: skip
    assert frames == [] and rejected == {"max_force": SMALL.md_steps // SMALL.md_stride}
    frames, rejected = run_recipe(
        "rattled-500", _cu(), np.random.default_rng(0), SMALL, FrameFilter(max_force=1e-6), EMT()
    )
    assert frames == [] and rejected == {"max_force": SMALL.rattle_pool}
    # a contact factor that makes the ideal crystal "too close" rejects before labelling
    frames, rejected = run_recipe(
        "rattled-300",
        _cu(),
        np.random.default_rng(0),
        SMALL,
        FrameFilter(contact_factor=1.5),
        EMT(),
    )
    assert frames == [] and rejected == {"close_contact": SMALL.rattle_pool}


def test_rattled_temperature_orders_distortion() -> None:
    """Boltzmann selection at 300 K picks lower energies than at 1000 K (same pools)."""
    means = {}
    for family in ("rattled-300", "rattled-1000"):
        energies = []
        for seed in range(6):
            frames, _ = run_recipe(family, _cu(), np.random.default_rng(seed), Recipe(), calc=EMT())
            energies += [f.get_potential_energy() for f in frames]
        means[family] = np.mean(energies)
    assert means["rattled-300"] <= means["rattled-1000"]


def test_unknown_family_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown family"):
        run_recipe("rattled-42", _cu(), np.random.default_rng(0), calc=EMT())


def test_md_frames_keep_atoms_apart() -> None:
    frames, _ = run_recipe(
        "aimd-from-PBE-3000-npt", _cu(), np.random.default_rng(1), SMALL, calc=EMT()
    )
    for frame in frames:
        _, _, d = neighbor_list("ijd", frame, 1.5)
        assert len(d) == 0 or d.min() > 0.7 * 2 * covalent_radii[29]
