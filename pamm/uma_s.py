"""UMA-S at the paper's scale: its config, a random-weight plain checkpoint, parameter counts.

``pamm/configs/uma_s.yaml`` holds UMA-S's published backbone (fairchem's MoLE backbone,
32 experts; numbers and source in docs/SCALE.md) with the PaMM memory on top. This module
reads that one file, so the config, the plain checkpoint and the counts cannot disagree::

    python -m pamm.uma_s plain.pt                       # random weights, fairchem classes
    pamm attach plain.pt pamm.pt --fusion gate          # the memory on top, step-0 equal
    fairchem -c pamm/configs/uma_s.yaml dataset_dir=DIR max_steps=N

The plain checkpoint is what ``fairchem -c uma_s.yaml`` would write at step 0 with the
backbone class swapped back to fairchem's own (``eSCNMDMoeBackbone``, no ``pamm`` key):
the model and task configs of the composed YAML, the weights, and EMA weights equal to
them (shared storage, so the file holds one copy).

>>> from pamm.uma_s import CONFIG, plain_backbone_class
>>> CONFIG.name, plain_backbone_class("pamm.backbone.PaMMMoeBackbone").rsplit(".", 1)[-1]
('uma_s.yaml', 'eSCNMDMoeBackbone')
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from pamm.train import CONFIG_DIR

__all__ = [
    "CONFIG",
    "SOURCE",
    "build_uma_s_model",
    "compose_config",
    "main",
    "parameter_counts",
    "plain_backbone_class",
    "plain_checkpoint",
    "save_plain_checkpoint",
]

#: the training config of UMA-S's shape (``fairchem -c`` reads it in place)
CONFIG = CONFIG_DIR / "uma_s.yaml"

#: where the architecture numbers in ``CONFIG`` were read
SOURCE = {
    "repository": "https://github.com/facebookresearch/fairchem",
    "commit": "a73c95be1db2f5ca60cce19f00fd5bff4c29fd7d",
    "backbone": "configs/uma/training_release/backbone/K4L2.yaml",
    "experiment": "configs/uma/training_release/uma_sm_direct_pretrain.yaml",
}

#: a placeholder for ``dataset_dir`` when only the model is wanted (nothing reads it)
_NO_DATA = "/nonexistent-pamm-dataset"


def compose_config(overrides: Sequence[str] = ()) -> Any:
    """``CONFIG`` as hydra composes it for ``fairchem -c`` (``key=value`` overrides), resolved.

    ``dataset_dir`` defaults to a placeholder, so the model can be built without data.
    """
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    overrides = list(overrides)
    if not any(o.split("=", 1)[0].lstrip("+") == "dataset_dir" for o in overrides):
        overrides.append(f"dataset_dir={_NO_DATA}")
    with initialize_config_dir(str(CONFIG.parent), version_base="1.3"):
        cfg = compose(config_name=CONFIG.name, overrides=overrides)
    OmegaConf.resolve(cfg)
    return cfg


def build_uma_s_model(overrides: Sequence[str] = (), *, seed: int = 0) -> torch.nn.Module:
    """``CONFIG``'s model (PaMM backbone class kept) with random weights seeded by ``seed``.

    ``overrides`` as for :func:`compose_config`, e.g. ``["pamm.mode=baseline"]`` or
    ``["pamm.fusion=affine", "pamm.lookup=hard"]``; the global torch stream is untouched.
    """
    import hydra
    from omegaconf import OmegaConf

    model_config = OmegaConf.to_container(compose_config(overrides).runner.train_eval_unit.model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return hydra.utils.instantiate(model_config)


def plain_backbone_class(pamm_class: str) -> str:
    """fairchem's backbone class (dotted path) under a PaMM backbone class."""
    from pamm.checkpoint import PAMM_BACKBONES

    plain = [k for k, v in PAMM_BACKBONES.items() if v == pamm_class and "." in k]
    if len(plain) != 1:
        raise ValueError(f"{pamm_class!r} is not a PaMM backbone class; see PAMM_BACKBONES")
    return plain[0]


def plain_checkpoint(*, seed: int = 0, overrides: Sequence[str] = ()):
    """A random-weight plain ``MLIPInferenceCheckpoint`` of ``CONFIG``'s model.

    ``seed`` seeds the weights (the global torch stream is left as it was); ``overrides``
    are hydra ``key=value`` overrides of ``CONFIG`` (e.g. ``num_experts=2`` for a cheap
    model of the same layout).
    """
    from fairchem.core.units.mlip_unit.api.inference import MLIPInferenceCheckpoint
    from omegaconf import OmegaConf

    from pamm.checkpoint import build_model

    cfg = compose_config(overrides)
    unit = cfg.runner.train_eval_unit
    model_config = OmegaConf.to_container(unit.model)
    backbone = model_config["backbone"]
    backbone["model"] = plain_backbone_class(backbone["model"])
    backbone.pop("pamm")
    ckpt = MLIPInferenceCheckpoint(
        model_config=model_config,
        model_state_dict={},
        ema_state_dict={},
        tasks_config=OmegaConf.to_container(unit.tasks),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(ckpt, strict=False)
    state = model.state_dict()
    ckpt.model_state_dict = state
    # torch.optim.swa_utils.AveragedModel's layout at step 0: "module." + name, n_averaged
    ckpt.ema_state_dict = {f"module.{k}": v for k, v in state.items()}
    ckpt.ema_state_dict["n_averaged"] = torch.tensor(0, dtype=torch.long)
    return ckpt


def save_plain_checkpoint(
    path: str | os.PathLike, *, seed: int = 0, overrides: Sequence[str] = ()
) -> Path:
    """Write :func:`plain_checkpoint` to ``path`` (atomic: ``pamm.checkpoint.save_checkpoint``)."""
    from pamm.checkpoint import save_checkpoint

    return save_checkpoint(plain_checkpoint(seed=seed, overrides=overrides), path)


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    """Parameters of a HydraModel (or backbone) by part.

    ``backbone``: all backbone parameters but the memory's; ``backbone_active``: the same
    with each MoLE layer counted once (one merged expert, what one structure runs through);
    ``memory_tables``: the pair and triplet tables; ``memory_other``: the rest of the
    memory (0 for tables only); ``fusion``; ``heads``; ``total``.
    """
    from fairchem.core.models.uma.nn.mole import MOLE

    backbone = getattr(model, "backbone", model)
    memory = getattr(backbone, "motif_memory", None)
    fusion = getattr(backbone, "motif_fusion", None)
    mine = {id(p) for m in (memory, fusion) if m is not None for p in m.parameters()}
    core = [p for p in backbone.parameters() if id(p) not in mine]
    inactive = sum(
        m.weights.numel() * (m.num_experts - 1) // m.num_experts
        for m in backbone.modules()
        if isinstance(m, MOLE)
    )
    tables = [] if memory is None else [p for n, p in memory.named_parameters() if "table" in n]
    memory_all = 0 if memory is None else sum(p.numel() for p in memory.parameters())
    total = sum(p.numel() for p in model.parameters())
    counts = {
        "backbone": sum(p.numel() for p in core),
        "memory_tables": sum(p.numel() for p in tables),
        "fusion": 0 if fusion is None else sum(p.numel() for p in fusion.parameters()),
        "heads": total - sum(p.numel() for p in backbone.parameters()),
        "total": total,
    }
    counts["backbone_active"] = counts["backbone"] - inactive
    counts["memory_other"] = memory_all - counts["memory_tables"]
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pamm.uma_s OUT.pt [--seed N] [key=value ...]``: write a plain checkpoint."""
    parser = argparse.ArgumentParser(
        prog="python -m pamm.uma_s",
        description="Write a random-weight plain UMA-S-shaped checkpoint (fairchem classes).",
    )
    parser.add_argument("output", help="where to write the MLIPInferenceCheckpoint (.pt)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value", help="hydra overrides of uma_s.yaml"
    )
    args = parser.parse_args(argv)
    path = save_plain_checkpoint(args.output, seed=args.seed, overrides=args.overrides)
    from pamm.checkpoint import build_model, load_checkpoint

    ckpt = load_checkpoint(path)
    counts = parameter_counts(build_model(ckpt))
    print(f"wrote {path} ({ckpt.model_config['backbone']['model']})")
    print(json.dumps(counts, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
