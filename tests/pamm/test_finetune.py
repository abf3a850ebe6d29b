"""``pamm train --init``: a run that starts from a checkpoint's weights (pamm.finetune)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from fairchem.core.units.mlip_unit.api.inference import MLIPInferenceCheckpoint

from pamm.checkpoint import attach_pamm, build_model, load_checkpoint, save_checkpoint
from pamm.finetune import HYDRA_MODEL, init_overrides
from pamm.testing import randomize_memory
from pamm.train import config_path, training_overrides
from pamm_lab.cli import main as pamm_main
from tests.pamm.test_train_cli import write_emt_dataset


def _run_config(variant: str, tmp_path: Path, extra: list[str] = ()):
    """The variant's config as ``fairchem -c`` loads it (unused-key check included)."""
    from fairchem.core._cli import get_hydra_config_from_yaml

    job = training_overrides(data_dir=tmp_path, run_dir=tmp_path / "r", steps=10, timestamp_id="t")
    return get_hydra_config_from_yaml(str(config_path(variant)), [*job, *extra])


def _variant_checkpoint(variant: str, tmp_path: Path) -> MLIPInferenceCheckpoint:
    """A checkpoint of the variant's model; random memory, EMA weights != raw weights."""
    from omegaconf import OmegaConf

    model_config = OmegaConf.to_container(
        _run_config(variant, tmp_path).runner.train_eval_unit.model
    )
    ckpt = MLIPInferenceCheckpoint(
        model_config=model_config, model_state_dict={}, ema_state_dict={}, tasks_config=[]
    )
    model = build_model(ckpt, strict=False)
    randomize_memory(model, scale=1.0)
    ckpt.model_state_dict = model.state_dict()
    ema = torch.optim.swa_utils.AveragedModel(model)
    with torch.no_grad():
        for p in ema.parameters():
            p.add_(0.01)
    ckpt.ema_state_dict = ema.state_dict()
    return ckpt


def test_init_builds_the_variant_with_the_checkpoint_ema_weights(tmp_path: Path) -> None:
    import hydra

    ckpt = _variant_checkpoint("gate", tmp_path)
    path = save_checkpoint(ckpt, tmp_path / "init.pt")
    cfg = _run_config("gate", tmp_path, init_overrides(path))
    model = hydra.utils.instantiate(cfg.runner.train_eval_unit.model)
    expected = build_model(ckpt, use_ema=True).state_dict()
    state = model.state_dict()
    assert state.keys() == expected.keys()
    assert all(torch.equal(state[k], expected[k]) for k in expected)
    # what fairchem stores in the run's checkpoints: a HydraModel, not the init file
    saved = model.finetune_model_full_config
    assert saved["_target_"] == HYDRA_MODEL and "checkpoint_location" not in saved
    assert saved["backbone"] == ckpt.model_config["backbone"]


def test_train_only_memory_freezes_backbone_and_heads(tmp_path: Path) -> None:
    import hydra

    ckpt = _variant_checkpoint("gate", tmp_path)
    path = save_checkpoint(ckpt, tmp_path / "init.pt")
    cfg = _run_config("gate", tmp_path, init_overrides(path, train_only="memory"))
    model = hydra.utils.instantiate(cfg.runner.train_eval_unit.model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    memory = {n for n in dict(model.named_parameters()) if ".motif_" in n}
    assert trainable == memory and any("motif_fusion.value" in n for n in trainable)
    # one optimiser step moves only those weights
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    sum(p.square().sum() for p in model.parameters() if p.requires_grad).backward()
    opt.step()
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert moved and moved <= memory
    with pytest.raises(ValueError, match="train_only"):
        init_overrides(path, train_only="heads")
    base = save_checkpoint(_variant_checkpoint("baseline", tmp_path), tmp_path / "base.pt")
    cfg = _run_config("baseline", tmp_path, init_overrides(base, train_only="memory"))
    with pytest.raises(Exception, match="no such parameters"):  # hydra wraps the ValueError
        hydra.utils.instantiate(cfg.runner.train_eval_unit.model)


def test_train_only_needs_init(tmp_path: Path, capsys) -> None:
    argv = ["train", "--variant", "gate", "--data", str(tmp_path), "--steps", "5"]
    assert pamm_main([*argv, "--out", str(tmp_path / "r"), "--train-only", "memory"]) == 2
    assert "--train-only needs --init" in capsys.readouterr().err


def test_init_refuses_a_checkpoint_of_another_variant(tmp_path: Path) -> None:
    import hydra
    from hydra.errors import InstantiationException

    path = save_checkpoint(_variant_checkpoint("affine", tmp_path), tmp_path / "affine.pt")
    cfg = _run_config("gate", tmp_path, init_overrides(path))
    with pytest.raises(
        InstantiationException, match=r"does not match the run's backbone config in \['pamm'\]"
    ):
        hydra.utils.instantiate(cfg.runner.train_eval_unit.model)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        init_overrides(tmp_path / "missing.pt")
    argv = ["train", "--data", str(tmp_path), "--steps", "5", "--out", str(tmp_path / "x")]
    assert pamm_main([*argv, "--init", str(tmp_path / "missing.pt")]) == 2


def test_attach_on_a_baseline_variant_checkpoint_keeps_its_predictions(tmp_path: Path) -> None:
    """The `baseline` variant (a PaMM backbone in mode baseline) is a plain model to attach to."""
    from fairchem.core.datasets.atomic_data import AtomicData
    from fairchem.core.datasets.collaters.simple_collater import data_list_collater

    from tests.pamm.test_train_cli import emt_structures

    plain = _variant_checkpoint("baseline", tmp_path)
    attached = attach_pamm(plain, {"fusion": "gate"})
    assert attached.model_config["backbone"]["pamm"]["mode"] == "pamm"
    batch = data_list_collater(
        [AtomicData.from_ase(a, task_name="omat") for a in emt_structures(2, seed=3)],
        otf_graph=True,
    )
    outs = [build_model(c, use_ema=True)(batch.clone()) for c in (plain, attached)]
    for key in ("energy", "forces"):  # the bound of test_attach_keeps_step0_predictions
        assert (outs[0][key][key] - outs[1][key][key]).abs().max() <= 1e-6


@pytest.mark.slow
def test_pamm_train_init_starts_from_the_checkpoint(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """3 steps at lr 0 through ``fairchem -c``: the saved weights are the init's EMA weights,
    and the saved checkpoint loads after the init file is gone."""
    data = write_emt_dataset(tmp_path / "data")
    ckpt = _variant_checkpoint("gate", tmp_path)
    init = save_checkpoint(ckpt, tmp_path / "init.pt")
    argv = ["train", "--variant", "gate", "--data", str(data), "--steps", "3", "--init", str(init)]
    argv += ["--out", str(tmp_path / "runs"), "lr=0.0", "batch_size=4", "max_eval_steps=1"]
    code = pamm_main(argv)
    out, err = capfd.readouterr()
    assert code == 0, err[-4000:]
    match = re.search(r"pamm train: checkpoint (\S+)", out)
    assert match, out[-2000:]
    init.unlink()
    trained = load_checkpoint(match.group(1))
    assert trained.model_config["_target_"] == HYDRA_MODEL
    expected = build_model(ckpt, use_ema=True).state_dict()
    got = build_model(trained).state_dict()  # raw weights: lr 0 kept them
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, msg=key)
