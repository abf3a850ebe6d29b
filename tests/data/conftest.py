"""Fixtures of the data tests: a fake chemistry that runs the oxide pipeline in seconds."""

from __future__ import annotations

import pytest
from ase.build import bulk
from ase.calculators.lj import LennardJones

import pamm.data.oxide_dataset as od
from pamm.data.oxides import Candidate
from pamm.data.sampling import SamplingRecipe


def _lj(labels: str = "one-backward"):
    return LennardJones(sigma=1.9, epsilon=0.05, rc=5.0, smooth=True)


@pytest.fixture
def fake_chemistry(monkeypatch):
    """Four candidates, 'relaxed' as they are, labelled by Lennard-Jones."""
    import pamm.data.oxides as oxides
    import pamm.data.parents as parents

    structures = [
        bulk("MgO", "rocksalt", a=4.21),
        bulk("CaO", "rocksalt", a=4.8),
        bulk("ZnO", "wurtzite", a=3.25, c=5.2),
        bulk("MgO", "rocksalt", a=4.3, cubic=True),
    ] * 2
    cands = [Candidate("test", f"c{k}", a) for k, a in enumerate(structures)]
    monkeypatch.setattr(oxides, "all_candidates", lambda seed, **kw: cands)

    def relax(atoms, calc, max_steps=0):
        atoms = atoms.copy()
        atoms.calc = _lj()
        e = atoms.get_potential_energy()
        return {
            "numbers": atoms.numbers.tolist(),
            "positions": atoms.positions.tolist(),
            "cell": atoms.cell.array.tolist(),
            "energy": e,
            "energy_per_atom": e / len(atoms),
            "fmax": 0.0,
            "steps": 0,
            "volume_ratio": 1.0,
            "error": None,
            "seconds": 0.0,
        }

    monkeypatch.setattr(parents, "relax_candidate", relax)
    monkeypatch.setattr(od, "_calc", _lj)
    monkeypatch.setattr(
        parents, "dedupe", lambda entries, structures, fixed=0: list(range(len(entries)))
    )
    return cands


@pytest.fixture
def tiny_config() -> od.OxideConfig:
    """A recipe of one or two frames per family (the fake chemistry's dataset in seconds)."""
    recipe = SamplingRecipe(
        rattle_pool=2,
        rattle_frames=1,
        relax_frames=2,
        relax_max_steps=5,
        md_equilibrate_fs=4.0,
        md_stride_fs=2.0,
        md_frames=1,
    )
    return od.OxideConfig(
        heldout_chemistry=("Zn",),
        heldout_parent_fraction=0.2,
        val_fraction=0.2,
        test_fraction=0.2,
        recipe=recipe,
        min_atoms=4,
    )
