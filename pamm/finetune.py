"""Start a ``fairchem -c`` run from a checkpoint's weights (``pamm train --init CKPT``).

The run's config keeps building fairchem's ``HydraModel`` from the variant's YAML; only the
model node's ``_target_`` becomes :func:`model_from_checkpoint`, which builds the same model
and loads the weights of ``CKPT`` (read with ``weights_only=True``). Typical use: attach a
zero-initialised memory to a trained plain model and fine-tune it::

    pamm attach baseline.pt gate_init.pt --fusion gate
    pamm train --variant gate --init gate_init.pt --data DATA --steps 1000 --out runs/gate_ft

``--train-only memory`` freezes everything but the motif memory and its fusion (the
backbone and heads keep the checkpoint's weights; ``requires_grad=False``), so whatever the
run learns is in the tables, W_v, W_g (and W_γ): a way to ask what the memory alone can
represent (docs/PLANTED.md). The checkpoint must hold the architecture and memory spec of
the variant's config (else a clear error names the differing keys). The checkpoints the
run saves name ``HydraModel``, not this function, so they load without ``CKPT``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pamm.checkpoint import _plain_dict, checkpoint_weights, load_checkpoint
from pamm.spec import MotifMemorySpec

__all__ = ["TRAIN_ONLY", "freeze_all_but", "init_overrides", "model_from_checkpoint"]

MODEL_NODE = "runner.train_eval_unit.model"
HYDRA_MODEL = "fairchem.core.models.base.HydraModel"
#: ``train_only`` choices: the parameter-name prefixes (under the backbone) left trainable
TRAIN_ONLY = {"memory": ("motif_memory.", "motif_fusion.")}


def init_overrides(checkpoint: str | Path, train_only: str | None = None) -> list[str]:
    """The fairchem overrides that start the run from ``checkpoint``'s weights."""
    path = Path(checkpoint).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"--init checkpoint {path} does not exist")
    if train_only is not None and train_only not in TRAIN_ONLY:
        raise ValueError(f"train_only={train_only!r} is not one of {sorted(TRAIN_ONLY)}")
    out = [
        f"{MODEL_NODE}._target_=pamm.finetune.model_from_checkpoint",
        f"+{MODEL_NODE}.checkpoint_location={path}",
    ]
    return out + ([f"+{MODEL_NODE}.train_only={train_only}"] if train_only else [])


def freeze_all_but(model: torch.nn.Module, train_only: str) -> int:
    """``requires_grad=False`` on every parameter outside ``TRAIN_ONLY[train_only]``.

    Returns the number of trainable parameters left; raises ``ValueError`` for an unknown
    choice or a model with none of them (e.g. a baseline for ``"memory"``).
    """
    if train_only not in TRAIN_ONLY:
        raise ValueError(f"train_only={train_only!r} is not one of {sorted(TRAIN_ONLY)}")
    prefixes = tuple(f"backbone.{p}" for p in TRAIN_ONLY[train_only])
    left = 0
    for name, param in model.named_parameters():
        param.requires_grad_(name.startswith(prefixes))
        left += param.numel() if param.requires_grad else 0
    if left == 0:
        raise ValueError(f"train_only={train_only!r}: the model has no such parameters")
    return left


def _backbone_differences(config: dict, stored: dict) -> list[str]:
    """Backbone keys whose values differ (the memory spec compared as a validated spec)."""
    config, stored = dict(config), dict(stored)
    specs = [d.pop("pamm", None) for d in (config, stored)]
    differ = [k for k in sorted(set(config) | set(stored)) if config.get(k) != stored.get(k)]
    if specs[0] is None or specs[1] is None:
        differ += ["pamm"] if specs[0] != specs[1] else []
    elif MotifMemorySpec.from_dict(specs[0]) != MotifMemorySpec.from_dict(specs[1]):
        differ.append("pamm")
    return differ


def model_from_checkpoint(
    checkpoint_location: str,
    backbone: Any,
    heads: Any,
    use_ema: bool = True,
    train_only: str | None = None,
    **kwargs: Any,
) -> torch.nn.Module:
    """fairchem's ``HydraModel`` from the run's config, with the weights of a checkpoint.

    ``use_ema``: start from the checkpoint's EMA weights (what it was scored with) when it
    has them, else from its raw weights. ``train_only``: see :func:`freeze_all_but`.
    Raises ``ValueError`` if the checkpoint's backbone config differs from the run's.
    """
    from fairchem.core.models.base import HydraModel

    ckpt = load_checkpoint(checkpoint_location)  # weights_only=True
    config = {"backbone": _plain_dict(backbone), "heads": _plain_dict(heads)}
    config.update({k: _plain_dict(v) if hasattr(v, "items") else v for k, v in kwargs.items()})
    differ = _backbone_differences(config["backbone"], _plain_dict(ckpt.model_config)["backbone"])
    if differ:
        raise ValueError(
            f"--init checkpoint {checkpoint_location} does not match the run's backbone config "
            f"in {differ}: pick the variant it was made for, or override those keys"
        )
    model = HydraModel(**config)
    model.load_state_dict(checkpoint_weights(ckpt, use_ema=use_ema), strict=True)
    if train_only is not None:
        freeze_all_but(model, train_only)
    # what fairchem stores as the model config of every checkpoint this run saves
    model.finetune_model_full_config = {"_target_": HYDRA_MODEL, **config}
    return model
