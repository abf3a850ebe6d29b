"""Checkpoints: attach PaMM to a plain one (step-0 parity), safe loading, spec checks, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from fairchem.core.units.mlip_unit.api.inference import MLIPInferenceCheckpoint

from pamm.checkpoint import (
    attach_pamm,
    build_model,
    check_spec_consistency,
    load_checkpoint,
    load_pamm_model,
    save_checkpoint,
)
from pamm.testing import TINY_BACKBONE, energy_forces, random_crystal, tiny_batch
from pamm_lab.cli import main

HEADS = {"efs": {"module": "fairchem.core.models.uma.escn_md.MLP_EFS_Head"}}
SMALL = {"pair_buckets": 128, "triplet_buckets": 256}
UNIT = "fairchem.core.units.mlip_unit.mlip_unit"


def _task(prop: str, level: str, dim: list[int]) -> dict:
    return {
        "_target_": f"{UNIT}.Task",
        "name": f"omat_{prop}",
        "level": level,
        "property": prop,
        "out_spec": {"_target_": f"{UNIT}.OutputSpec", "dim": dim, "dtype": "float32"},
        "normalizer": {
            "_target_": "fairchem.core.modules.normalization.normalizer.Normalizer",
            "mean": 0.0,
            "rmsd": 1.0,
        },
        "datasets": ["omat"],
    }


TASKS = [_task("energy", "system", [1]), _task("forces", "atom", [3])]


def _plain_checkpoint(moe: bool = False, heads: dict = HEADS) -> MLIPInferenceCheckpoint:
    model_name = (
        "fairchem.core.models.uma.escn_moe.eSCNMDMoeBackbone"
        if moe
        else "fairchem.core.models.uma.escn_md.eSCNMDBackbone"
    )
    backbone = {"model": model_name, **TINY_BACKBONE}
    if moe:
        backbone["num_experts"] = 2
    config = {
        "_target_": "fairchem.core.models.base.HydraModel",
        "backbone": backbone,
        "heads": heads,
    }
    if moe:
        config["model_id"] = "test-moe"
    ckpt = MLIPInferenceCheckpoint(
        model_config=config, model_state_dict={}, ema_state_dict={}, tasks_config=TASKS
    )
    model = build_model(ckpt, strict=False)
    ckpt.model_state_dict = model.state_dict()
    ckpt.ema_state_dict = torch.optim.swa_utils.AveragedModel(model).state_dict()  # as fairchem
    return ckpt


@pytest.mark.parametrize("moe", [False, True])
def test_attach_keeps_step0_predictions(tmp_path: Path, moe: bool) -> None:
    plain_path = save_checkpoint(_plain_checkpoint(moe), tmp_path / "plain.pt")
    plain = build_model(load_checkpoint(plain_path))
    attached = attach_pamm(load_checkpoint(plain_path), {"fusion": "affine", **SMALL})
    out_path = save_checkpoint(attached, tmp_path / "pamm.pt")
    model, ckpt = load_pamm_model(out_path, expected={"fusion": "affine", **SMALL})
    assert type(model.backbone).__name__ == ("PaMMMoeBackbone" if moe else "PaMMBackbone")
    assert ckpt.model_config["backbone"]["pamm"]["cutoff"] == TINY_BACKBONE["cutoff"]
    atoms = [random_crystal(np.random.default_rng(0), n_atoms=4)]
    for a, b in zip(
        energy_forces(plain, atoms, seed=3), energy_forces(model, atoms, seed=3), strict=True
    ):
        assert (a - b).abs().max() <= 1e-6
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no temp files


def test_spec_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    ckpt = attach_pamm(_plain_checkpoint(), {"hash_seed": 1, **SMALL})
    check_spec_consistency(ckpt, {"hash_seed": 1, **SMALL})
    with pytest.raises(ValueError, match="hash_seed: checkpoint 1 vs config 2"):
        check_spec_consistency(ckpt, {"hash_seed": 2, **SMALL})
    # stored spec edited without re-hashing: buffers no longer match the spec
    ckpt.model_config["backbone"]["pamm"]["hash_seed"] = 7
    path = save_checkpoint(ckpt, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=r"hash buffer .*pair_hash_a.* disagrees"):
        load_pamm_model(path)
    ckpt.model_config["backbone"]["pamm"]["hash_seed"] = 1
    ckpt.model_config["backbone"]["pamm"]["triplet_buckets"] = 512
    with pytest.raises(ValueError, match="triplet_table has shape"):
        check_spec_consistency(ckpt)


def test_loading_is_weights_only(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="weights_only=True"):
        load_checkpoint(tmp_path / "evil.pt")
    torch.save({"x": torch.zeros(1)}, tmp_path / "dict.pt")
    with pytest.raises(ValueError, match="not an MLIPInferenceCheckpoint"):
        load_checkpoint(tmp_path / "dict.pt")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_attach_rejects_non_escn_and_baseline() -> None:
    ckpt = _plain_checkpoint()
    with pytest.raises(ValueError, match="baseline"):
        attach_pamm(ckpt, {"mode": "baseline"})
    ckpt.model_config["backbone"]["model"] = "some.other.Backbone"
    with pytest.raises(ValueError, match="not a plain eSCN-MD backbone"):
        attach_pamm(ckpt)


def test_attach_cli(tmp_path: Path, capsys) -> None:
    plain = save_checkpoint(_plain_checkpoint(), tmp_path / "plain.pt")
    out = tmp_path / "sub" / "pamm.pt"
    code = main(
        [
            "attach",
            str(plain),
            str(out),
            "--fusion",
            "affine",
            "--set",
            "pair_buckets=64",
            "--set",
            "triplet_buckets=128",
        ]
    )
    assert code == 0 and out.is_file()
    assert '"pair_buckets": 64' in capsys.readouterr().out
    model, _ = load_pamm_model(out)
    assert model.backbone.pamm_spec.fusion == "affine"
    assert model.backbone.motif_memory.pair_table.shape == (2, 64, 16)


@pytest.mark.slow
def test_attached_checkpoint_drives_fairchem_calculator(tmp_path: Path) -> None:
    from fairchem.core import FAIRChemCalculator
    from fairchem.core.units.mlip_unit import load_predict_unit
    from fairchem.core.units.mlip_unit.api.inference import InferenceSettings

    # fairchem's predict unit reads the head outputs named like the tasks ("omat_energy")
    heads = {"efs": {"module": HEADS["efs"]["module"], "prefix": "omat"}}
    plain = _plain_checkpoint(heads=heads)
    plain.model_config["pass_through_head_outputs"] = True
    path = save_checkpoint(attach_pamm(plain, SMALL), tmp_path / "pamm.pt")
    unit = load_predict_unit(
        path, inference_settings=InferenceSettings(compile=False), device="cpu"
    )
    atoms = random_crystal(np.random.default_rng(1), n_atoms=3)
    model, _ = load_pamm_model(path)
    torch.manual_seed(0)
    want = float(model(tiny_batch([atoms]))["omat_energy"]["energy"][0].detach())
    atoms.calc = FAIRChemCalculator(unit, task_name="omat")
    assert abs(atoms.get_potential_energy() - want) < 1e-4
