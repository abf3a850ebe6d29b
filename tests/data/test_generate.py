"""The synthetic generator with real CHGNet labels: validity, splits, resume, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.build import bulk

from pamm.data.families import HELDOUT_FAMILIES, SYNTHETIC_FAMILIES
from pamm.data.generate import GenerateConfig, frames_per_task, generate, plan_tasks
from pamm.data.recipes import FrameFilter, Recipe, frame_problem
from pamm.data.seeds import MAX_Z, NOBLE_GASES, load_seeds, make_supercell, substitute

pytest.importorskip("chgnet", reason="the generator's labels need the 'generate' extra")

FAMILIES = ("rattled-300", "aimd-from-PBE-1000-nvt")
RECIPE = Recipe(rattle_pool=3, rattle_frames=2, md_steps=3)


def _tiny_config(seed: int = 0) -> GenerateConfig:
    # 3 tasks (3 seed crystals) per family, 8-atom cells
    return GenerateConfig(
        seed=seed,
        n_structures=15,  # 3 x 2 rattled frames + 3 x 3 MD frames
        families=FAMILIES,
        heldout_families=("aimd-from-PBE-1000-nvt",),
        family_weights={"rattled-300": 6 / 15, "aimd-from-PBE-1000-nvt": 9 / 15},
        val_fraction=0.34,
        test_fraction=0.0,
        min_atoms=8,
        max_atoms=8,
        recipe=RECIPE,
    )


def test_plan_is_deterministic_and_balanced() -> None:
    config = _tiny_config()
    tasks = plan_tasks(config, n_seeds=50)
    assert [t["family"] for t in tasks].count("rattled-300") == 3
    assert [t["family"] for t in tasks].count("aimd-from-PBE-1000-nvt") == 3
    assert tasks == plan_tasks(config, n_seeds=50)
    assert tasks != plan_tasks(_tiny_config(seed=1), n_seeds=50)
    full = plan_tasks(GenerateConfig(n_structures=3300), n_seeds=300)
    expected = sum(frames_per_task(t["family"], Recipe()) for t in full)
    assert 3300 <= expected < 3300 + 8 * len(SYNTHETIC_FAMILIES)
    first = {t["family"] for t in full[:60]}
    assert first == set(SYNTHETIC_FAMILIES), "a prefix of the plan must cover every family"


def test_seeds_substitution_supercells() -> None:
    seeds = load_seeds()
    assert {s.source for s in seeds} == {"aflow", "dcdft", "pymatgen"}
    numbers = {int(z) for s in seeds for z in s.atoms.numbers}
    assert max(numbers) <= MAX_Z and not numbers & NOBLE_GASES and len(numbers) > 60
    rng = np.random.default_rng(0)
    nacl = bulk("NaCl", "rocksalt", a=5.64)
    for _ in range(10):
        out = substitute(nacl, rng)
        assert sorted(out.numbers) != [11, 17] and len(out) == 2
        assert out.get_volume() != pytest.approx(nacl.get_volume())  # rescaled cell
    for target in (8, 13, 24):
        for seed in seeds[:40]:
            cell = make_supercell(seed.atoms, target, max_atoms=64)
            assert len(cell) <= 64 and (len(cell) >= target or len(seed.atoms) * 2 > 64)


@pytest.mark.slow
def test_generate_valid_frames_splits_and_resume(tmp_path) -> None:
    from fairchem.core.datasets import AseDBDataset

    config = _tiny_config()
    out = tmp_path / "DATA"
    card = generate(config, out, workers=1, keep_work=True)

    # layout and card
    assert json.loads((out / "dataset.json").read_text())["n_structures"] == card["n_structures"]
    assert card["label_source"].startswith("CHGNet")
    assert set(card["counts"]["heldout"]) == {"aimd-from-PBE-1000-nvt"}
    assert set(card["counts"]["train"]) == set(card["counts"]["val"]) == {"rattled-300"}
    assert card["n_structures"] == sum(sum(c.values()) for c in card["counts"].values())
    assert card["n_structures"] >= 10

    # every written frame is valid, labelled and readable by fairchem
    filt = FrameFilter()
    sids = {}
    for split in ("train", "val", "heldout"):
        dataset = AseDBDataset(config={"src": str(out / split)})
        assert len(dataset) == sum(card["counts"][split].values())
        for idx in range(len(dataset)):
            atoms = dataset.get_atoms(idx)
            assert 8 <= len(atoms) <= 64  # 8-atom target (a seed may already exceed it)
            assert max(atoms.numbers) <= MAX_Z
            forces, stress = atoms.get_forces(), atoms.get_stress()
            assert frame_problem(atoms, filt, forces) is None
            assert np.isfinite(atoms.get_potential_energy()) and np.isfinite(stress).all()
            assert np.abs(forces).sum() > 0  # rattled / thermal frames are not at a minimum
            assert atoms.info["family"] in atoms.info["sid"]
            sids[atoms.info["sid"]] = atoms.get_potential_energy()
    tasks_by_split = {}
    for sid in sids:
        tasks_by_split.setdefault(sid.split("_")[0], set()).add(sid)
    assert len(sids) == card["n_structures"]

    # resume: lose one finished task and the assembled output, run again -> identical data
    (out / "dataset.json").unlink()
    next((out / ".work" / "tasks").glob("task_*.json")).unlink()
    card2 = generate(config, out, workers=1)
    assert card2["run"]["tasks_resumed"] == 5
    assert not (out / ".work").exists()
    again = {}
    for split in ("train", "val", "heldout"):
        dataset = AseDBDataset(config={"src": str(out / split)})
        for idx in range(len(dataset)):
            atoms = dataset.get_atoms(idx)
            again[atoms.info["sid"]] = atoms.get_potential_energy()
    assert again.keys() == sids.keys()
    assert all(again[s] == pytest.approx(sids[s], abs=1e-6) for s in sids)
    # a finished folder is left alone; another recipe is refused
    assert generate(config, out, workers=1)["n_structures"] == card["n_structures"]
    with pytest.raises(FileExistsError, match="another recipe"):
        generate(_tiny_config(seed=5), out, workers=1)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="unknown families"):
        GenerateConfig(families=("rattled-300", "rattled-300-subsampled"))
    with pytest.raises(ValueError, match="max_atoms"):
        GenerateConfig(min_atoms=30, max_atoms=10)
    assert GenerateConfig.from_dict(GenerateConfig().to_dict()) == GenerateConfig()
    assert set(HELDOUT_FAMILIES) <= set(GenerateConfig().families)
