"""Training through the real ``fairchem -c`` CLI: configs, references, and an end-to-end run."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from pamm.checkpoint import check_spec_consistency
from pamm.data.writer import write_aselmdb
from pamm.spec import MotifMemorySpec
from pamm.train import (
    VARIANTS,
    check_split_dir,
    config_path,
    ema_decay_for_steps,
    find_checkpoint,
    fit_references,
    load_trained_checkpoint,
    training_overrides,
)
from pamm_lab.cli import main as pamm_main

EMT_ELEMENTS = ("Cu", "Al", "Ni", "Au", "Pt")
EXPECTED_MODE = {  # mode, fusion, lookup
    "baseline": ("baseline", "gate", "smooth"),
    "gate": ("pamm", "gate", "smooth"),
    "affine": ("pamm", "affine", "smooth"),
    "gate_hard": ("pamm", "gate", "hard"),
    "affine_hard": ("pamm", "affine", "hard"),
    "pair_only": ("pair_only", "gate", "smooth"),
    "triplet_only": ("triplet_only", "gate", "smooth"),
    "random_bucket": ("random_bucket", "gate", "smooth"),
    "mlp": ("mlp", "gate", "smooth"),
}


def emt_structures(n: int, seed: int) -> list[Atoms]:
    """Rattled, slightly strained 8-atom fcc cells of EMT metals (some binary), EMT-labelled."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        element = EMT_ELEMENTS[k % len(EMT_ELEMENTS)]
        atoms = bulk(element, "fcc", cubic=True).repeat((2, 1, 1))
        if k % 2:
            atoms[0].symbol = EMT_ELEMENTS[(k + 1) % len(EMT_ELEMENTS)]
        atoms.rattle(0.05, seed=int(rng.integers(1 << 30)))
        atoms.set_cell(atoms.cell * (1 + rng.uniform(-0.02, 0.02)), scale_atoms=True)
        atoms.calc = EMT()
        energy, forces, stress = (
            atoms.get_potential_energy(),
            atoms.get_forces(),
            atoms.get_stress(),
        )
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces, stress=stress)
        atoms.info.update(sid=f"{element}_{k}_rattled-300", family="rattled-300")
        out.append(atoms)
    return out


def write_emt_dataset(root: Path, n_train: int = 8, n_val: int = 4) -> Path:
    """``root/{train,val}/*.aselmdb + metadata.npz`` of EMT-labelled crystals."""
    write_aselmdb(emt_structures(n_train, seed=1), root / "train", shard_size=5)
    write_aselmdb(emt_structures(n_val, seed=2), root / "val")
    return root


def compose(variant: str, overrides: list[str]):
    """The variant's config as hydra composes it for ``fairchem -c``, resolved."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    path = config_path(variant)
    with initialize_config_dir(str(path.parent), version_base="1.3"):
        cfg = hydra_compose(config_name=path.name, overrides=overrides)
    OmegaConf.resolve(cfg)
    return cfg


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_composes_to_its_spec(variant: str, tmp_path: Path) -> None:
    """Each variant file sets its mode/fusion on the shared base; the spec validates."""
    overrides = training_overrides(data_dir=tmp_path, run_dir=tmp_path / "runs", steps=100)
    cfg = compose(variant, overrides)
    unit = cfg.runner.train_eval_unit
    backbone = unit.model.backbone
    assert backbone.model == "pamm.backbone.PaMMBackbone"
    spec = MotifMemorySpec.from_dict(dict(backbone.pamm))
    assert (spec.mode, spec.fusion, spec.lookup) == EXPECTED_MODE[variant]
    assert spec.cutoff == backbone.cutoff == 6.0
    assert backbone.regress_stress and not backbone.direct_forces
    assert [t.name for t in unit.tasks] == ["energy", "forces", "stress"]
    assert unit.ema_decay == pytest.approx(0.9)
    split = cfg.runner.train_dataloader.dataset.dataset_configs.omat.splits.train
    assert split.src == f"{tmp_path.resolve()}/train/*.aselmdb"


def test_fairchem_accepts_the_config_and_cluster_overrides(tmp_path: Path) -> None:
    """fairchem's own loader (unused-key check included) takes a variant plus GPU overrides."""
    from fairchem.core._cli import get_hydra_config_from_yaml

    job = training_overrides(
        data_dir=tmp_path, run_dir=tmp_path, steps=10, device="cuda", timestamp_id="t0"
    )
    overrides = [
        *job,
        "job.scheduler.num_nodes=2",
        "job.scheduler.ranks_per_node=8",
        "batch_size=4",
    ]
    cfg = get_hydra_config_from_yaml(str(config_path("affine")), overrides)
    assert set(cfg) == {"job", "runner"}
    assert cfg.job.metadata.checkpoint_dir == str(tmp_path / "t0" / "checkpoints")
    assert cfg.job.device_type == "cuda"
    assert (cfg.job.scheduler.num_nodes, cfg.job.scheduler.ranks_per_node) == (2, 8)
    assert cfg.runner.train_dataloader.batch_sampler_fn.batch_size == 4
    assert cfg.runner.train_eval_unit.model.backbone.pamm.fusion == "affine"
    with pytest.raises(ValueError, match="unused keys"):
        get_hydra_config_from_yaml(str(config_path("affine")), [*overrides, "+stray_key=1"])


def test_fit_references_recovers_linear_energies(tmp_path: Path) -> None:
    """Energies that are exactly Σ ref[Z] give back ref; the RMS is the force RMS."""
    rng = np.random.default_rng(3)
    true_refs = {13: -3.7, 28: -5.5, 29: -4.1}
    structures = []
    for k in range(12):
        z = rng.choice(list(true_refs), size=int(rng.integers(2, 7)))
        atoms = Atoms(numbers=z, positions=rng.uniform(0, 5, (len(z), 3)), cell=[6, 6, 6], pbc=True)
        forces = rng.normal(scale=0.3, size=(len(z), 3))
        energy = sum(true_refs[int(x)] for x in z)
        stress = rng.normal(scale=0.01, size=6)  # Voigt, eV/Å^3
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces, stress=stress)
        atoms.info["sid"] = f"s{k}"
        structures.append((atoms, forces, stress))
    write_aselmdb([a for a, _, _ in structures], tmp_path / "train", shard_size=5)
    refs = fit_references(tmp_path / "train")
    assert len(refs.elem_refs) == 100 and refs.n_structures == 12
    for z, value in true_refs.items():
        assert refs.elem_refs[z] == pytest.approx(value, abs=1e-6)
    assert refs.elem_refs[1] == 0.0
    all_forces = np.concatenate([f for _, f, _ in structures])
    assert refs.normalizer_rmsd == pytest.approx(np.sqrt(np.mean(all_forces**2)), rel=1e-5)
    # stress: its own RMS over the 9 components of the full tensors (off-diagonals twice)
    voigt = np.stack([s for _, _, s in structures])  # [S, 6]
    full_sq = (voigt[:, :3] ** 2).sum(1) + 2 * (voigt[:, 3:] ** 2).sum(1)
    assert refs.stress_rmsd == pytest.approx(np.sqrt(full_sq.mean() / 9), rel=1e-5)
    assert refs.stress_rmsd < 0.1 * refs.normalizer_rmsd
    overrides = refs.to_overrides()
    assert overrides[1].startswith("normalizer_rmsd=")
    assert overrides[2] == f"stress_coefficient={refs.normalizer_rmsd / refs.stress_rmsd:.8g}"


def test_inputs_are_validated(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no \*\.aselmdb"):
        check_split_dir(tmp_path / "train")
    (tmp_path / "train" / "a.aselmdb").touch()
    with pytest.raises(FileNotFoundError, match=r"metadata\.npz"):
        check_split_dir(tmp_path / "train")
    with pytest.raises(ValueError, match="unknown variant 'gated'"):
        config_path("gated")
    with pytest.raises(ValueError, match="device"):
        training_overrides(data_dir=tmp_path, run_dir=tmp_path, steps=5, device="tpu")
    with pytest.raises(ValueError, match="steps"):
        ema_decay_for_steps(0)
    with pytest.raises(FileNotFoundError, match=r"no \*/checkpoints"):
        find_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_trained_checkpoint(tmp_path / "missing.pt")
    assert pamm_main(["train", "--data", str(tmp_path), "--steps", "5", "--out", "x"]) == 2


@pytest.mark.slow
def test_pamm_train_gate_runs_fairchem_and_checkpoint_drives_ase(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """5 CPU steps through ``fairchem -c``; the checkpoint loads offline and predicts E/F/S."""
    from fairchem.core import FAIRChemCalculator
    from fairchem.core.units.mlip_unit import load_predict_unit
    from fairchem.core.units.mlip_unit.api.inference import InferenceSettings

    from pamm.backbone import PaMMBackbone

    data = write_emt_dataset(tmp_path / "data")
    argv = ["train", "--variant", "gate", "--data", str(data), "--steps", "5"]
    argv += ["--out", str(tmp_path / "runs"), "--seed", "1"]
    argv += ["batch_size=4", "max_eval_steps=1", "checkpoint_every=1000"]
    code = pamm_main(argv)
    out, err = capfd.readouterr()
    assert code == 0, err[-4000:]
    assert "Training Completed 5 steps" in err + out
    match = re.search(r"pamm train: checkpoint (\S+)", out)
    assert match, out[-2000:]
    checkpoint = Path(match.group(1))
    assert checkpoint == find_checkpoint(tmp_path / "runs")

    settings = InferenceSettings(compile=False, activation_checkpointing=False)
    unit = load_predict_unit(checkpoint, inference_settings=settings, device="cpu")
    backbone = unit.model.module.backbone
    assert isinstance(backbone, PaMMBackbone)
    stored = load_trained_checkpoint(checkpoint)  # weights_only=True
    stored_spec = MotifMemorySpec.from_dict(dict(stored.model_config["backbone"]["pamm"]))
    assert backbone.pamm_spec == stored_spec == MotifMemorySpec(mode="pamm", fusion="gate")
    assert check_spec_consistency(stored) == stored_spec  # hash buffers match the spec
    # the zero-initialised fusion value weights were trained by fairchem's loop (EMA decay 0)
    assert backbone.motif_fusion.value.weight.abs().max() > 0

    atoms = emt_structures(1, seed=5)[0]
    atoms.calc = FAIRChemCalculator(unit, task_name="omat")
    energy, forces, stress = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    assert np.isfinite(energy) and forces.shape == (8, 3) and stress.shape == (6,)
    assert np.isfinite(forces).all() and np.isfinite(stress).all()

    # stress is the strain derivative of the same energy: (1/V) dE/dε by central differences
    # (σ = 1/V ∂E/∂ε, ASE's sign). A stress normaliser other than the energy's scales it.
    step = 2e-3
    fd = np.zeros((3, 3))
    for a, b in [(0, 0), (1, 1), (2, 2), (0, 1), (1, 2)]:
        strain = np.zeros((3, 3))
        strain[a, b] = strain[b, a] = 0.5 * step if a != b else step
        values = []
        for sign in (1.0, -1.0):
            strained = atoms.copy()
            strained.set_cell(atoms.cell @ (np.eye(3) + sign * strain), scale_atoms=True)
            strained.calc = FAIRChemCalculator(unit, task_name="omat")
            values.append(strained.get_potential_energy())
        fd[a, b] = fd[b, a] = (values[0] - values[1]) / (2 * step) / atoms.get_volume()
    reported = atoms.get_stress(voigt=False)
    mask = np.abs(fd) > 0.2 * np.abs(fd).max()
    np.testing.assert_allclose(reported[mask], fd[mask], rtol=0.05, atol=2e-5)
