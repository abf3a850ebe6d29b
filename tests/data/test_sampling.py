"""Family recipes around a relaxed parent, driven by ASE's Lennard-Jones (fast, exact)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.lj import LennardJones

from pamm.data.families import SYNTHETIC_FAMILIES
from pamm.data.recipes import FrameFilter, frame_problem
from pamm.data.sampling import SamplingRecipe, sample_family

SMALL = SamplingRecipe(
    rattle_pool=4,
    rattle_frames=2,
    relax_frames=4,
    relax_max_steps=60,
    md_equilibrate_fs=10.0,
    md_stride_fs=6.0,
    md_frames=3,
)
FAMILIES = tuple(f for f in SYNTHETIC_FAMILIES if f != "aimd-from-PBE-3000-npt")


def _calc() -> LennardJones:
    return LennardJones(sigma=1.9, epsilon=0.05, rc=5.0, smooth=True)


def _parent():
    return bulk("MgO", "rocksalt", a=4.21, cubic=True).repeat((2, 1, 1))  # 16 atoms


@pytest.mark.parametrize("family", FAMILIES)
def test_frames_carry_their_own_labels(family: str) -> None:
    frames, rejected = sample_family(family, _parent(), np.random.default_rng(0), _calc(), SMALL)
    expected = {"rattled-relax": SMALL.relax_frames}.get(
        family, SMALL.md_frames if family.startswith("aimd") else SMALL.rattle_frames
    )
    assert len(frames) + sum(rejected.values()) >= expected and frames, rejected
    for frame in frames:
        assert frame_problem(frame, FrameFilter(), frame.get_forces()) is None
        fresh = frame.copy()
        fresh.calc = _calc()
        assert frame.get_potential_energy() == pytest.approx(fresh.get_potential_energy(), abs=1e-9)
        np.testing.assert_allclose(frame.get_forces(), fresh.get_forces(), atol=1e-9)
        np.testing.assert_allclose(frame.get_stress(), fresh.get_stress(), atol=1e-9)
    positions = np.stack([f.positions for f in frames])
    assert np.ptp(positions, axis=0).max() > 1e-3, "frames of a task must differ"
    cells_differ = any(not np.allclose(f.cell.array, frames[0].cell.array) for f in frames)
    assert cells_differ == (not family.endswith("-nvt"))  # rattles and relaxations strain


def test_rattle_amplitude_grows_with_temperature() -> None:
    parent = _parent()
    spread = {}
    for family in ("rattled-300", "rattled-500", "rattled-1000"):
        rms = []
        for seed in range(6):
            frames, _ = sample_family(family, parent, np.random.default_rng(seed), _calc(), SMALL)
            for f in frames:
                frac = f.get_scaled_positions()
                delta = (frac - parent.get_scaled_positions() + 0.5) % 1.0 - 0.5
                rms.append(np.sqrt((delta @ parent.cell.array) ** 2).mean())
        spread[family] = float(np.mean(rms))
    assert spread["rattled-300"] < spread["rattled-500"] < spread["rattled-1000"]


def test_relaxation_runs_to_the_minimum_and_keeps_both_ends() -> None:
    recipe = SamplingRecipe(relax_frames=5, relax_max_steps=300)
    lj_solid = bulk("Ar", "fcc", a=2 ** (2 / 3) * 1.9, cubic=True)  # LJ minimum, σ = 1.9 Å
    frames, _ = sample_family("rattled-relax", lj_solid, np.random.default_rng(1), _calc(), recipe)
    energies = [f.get_potential_energy() for f in frames]
    assert len(frames) == 5
    assert energies[-1] < energies[0]
    assert np.abs(frames[-1].get_forces()).max() < 0.1  # converged (fmax 0.05 with the cell)


def test_unknown_family_and_bad_recipe_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown family"):
        sample_family("rattled-42", _parent(), np.random.default_rng(0), _calc())
    with pytest.raises(ValueError, match="rattle_frames"):
        SamplingRecipe(rattle_pool=2, rattle_frames=3)


def test_an_unusable_relaxation_start_gives_no_frames_and_is_counted() -> None:
    """A start that fails the frame filter (here: any bond shorter than 1.99 x the summed
    covalent radii) is rejected and counted; the task then has no frames (a list)."""
    strict = FrameFilter(contact_factor=1.99)
    frames, rejected = sample_family(
        "rattled-relax", _parent(), np.random.default_rng(0), _calc(), SMALL, strict
    )
    assert frames == [] and sum(rejected.values()) == 1, rejected
