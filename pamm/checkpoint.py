"""Safe checkpoint I/O, attaching PaMM to a plain eSCN-MD/UMA checkpoint, consistency checks.

Checkpoints are fairchem ``MLIPInferenceCheckpoint`` files (``model_config`` with a
hydra ``_target_``, ``model_state_dict``, ``ema_state_dict``, ``tasks_config``). They are
always read with ``torch.load(weights_only=True)`` (only that dataclass is allow-listed)
and written atomically (temp file + ``os.replace``).

``attach_pamm`` swaps the backbone class (eSCNMDBackbone -> PaMMBackbone, eSCNMDMoeBackbone
-> PaMMMoeBackbone), adds ``backbone.pamm`` (the full spec) and the new parameters, with
zero-initialised fusion, so the attached model predicts exactly what the plain one did.
"""

from __future__ import annotations

import copy
import os
import pickle
from pathlib import Path
from typing import Any

import torch
from fairchem.core.units.mlip_unit.api.inference import MLIPInferenceCheckpoint

from pamm.hashing import hash_params
from pamm.plumbing import atomic_write
from pamm.spec import MotifMemorySpec

__all__ = [
    "PAMM_BACKBONES",
    "attach_pamm",
    "build_model",
    "check_memory_state",
    "check_memory_tables",
    "check_spec_consistency",
    "checkpoint_safe_globals",
    "checkpoint_weights",
    "load_checkpoint",
    "load_pamm_model",
    "save_checkpoint",
]

#: plain backbone class (dotted path or fairchem registry name) -> its PaMM counterpart
PAMM_BACKBONES = {
    "fairchem.core.models.uma.escn_md.eSCNMDBackbone": "pamm.backbone.PaMMBackbone",
    "escnmd_backbone": "pamm.backbone.PaMMBackbone",
    "fairchem.core.models.uma.escn_moe.eSCNMDMoeBackbone": "pamm.backbone.PaMMMoeBackbone",
    "escnmd_moe_backbone": "pamm.backbone.PaMMMoeBackbone",
}
_MEMORY_PREFIX = "backbone.motif_memory."


def checkpoint_safe_globals() -> list:
    """Classes an inference checkpoint may pickle besides tensors (the allow-list).

    Checkpoints written by ``fairchem -c`` keep the task configs as OmegaConf containers,
    so ``torch.load(..., weights_only=True)`` needs these (and nothing executable).
    """
    import collections
    import typing

    from omegaconf import DictConfig, ListConfig
    from omegaconf.base import ContainerMetadata, Metadata
    from omegaconf.nodes import AnyNode

    return [
        MLIPInferenceCheckpoint,
        DictConfig,
        ListConfig,
        ContainerMetadata,
        Metadata,
        AnyNode,
        typing.Any,
        collections.defaultdict,
        dict,
        list,
        int,
    ]


def load_checkpoint(path: str | os.PathLike) -> MLIPInferenceCheckpoint:
    """Read an ``MLIPInferenceCheckpoint`` with ``weights_only=True``.

    Works for checkpoints made by :func:`attach_pamm`/:func:`save_checkpoint` and by
    ``fairchem -c`` training; anything needing other pickled classes is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        with torch.serialization.safe_globals(checkpoint_safe_globals()):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"{path} is not loadable with weights_only=True (it pickles objects other than "
            f"tensors and an MLIPInferenceCheckpoint): {err}"
        ) from err
    if not isinstance(ckpt, MLIPInferenceCheckpoint):
        raise ValueError(f"{path} holds a {type(ckpt).__name__}, not an MLIPInferenceCheckpoint")
    return ckpt


def save_checkpoint(ckpt: MLIPInferenceCheckpoint, path: str | os.PathLike) -> Path:
    """Write ``ckpt`` atomically (:func:`pamm.plumbing.atomic_write`)."""
    return atomic_write(path, lambda handle: torch.save(ckpt, handle))


def _plain_dict(config: Any) -> dict:
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(config, DictConfig):
            return OmegaConf.to_container(config, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return copy.deepcopy(dict(config))


def build_model(
    ckpt: MLIPInferenceCheckpoint, *, strict: bool = True, use_ema: bool = False
) -> torch.nn.Module:
    """Instantiate ``ckpt.model_config`` (hydra) and load ``ckpt.model_state_dict``.

    ``use_ema`` loads the EMA weights instead when the checkpoint has them, as
    fairchem's ``load_predict_unit`` does (the weights its calculator and our metrics use).
    """
    import hydra

    model = hydra.utils.instantiate(_plain_dict(ckpt.model_config))
    model.load_state_dict(checkpoint_weights(ckpt, use_ema=use_ema), strict=strict)
    return model


def checkpoint_weights(
    ckpt: MLIPInferenceCheckpoint, *, use_ema: bool = False
) -> dict[str, torch.Tensor]:
    """The model's state dict: raw weights, or the EMA ones when asked for and present."""
    if use_ema and ckpt.ema_state_dict:  # AveragedModel: "module." + name, plus n_averaged
        ema = ckpt.ema_state_dict
        return {k.removeprefix("module."): v for k, v in ema.items() if k != "n_averaged"}
    return ckpt.model_state_dict


def stored_spec(model_config: dict) -> MotifMemorySpec | None:
    """The PaMM spec stored in a checkpoint's model config (None if not a PaMM model)."""
    backbone = model_config.get("backbone", {})
    if not str(backbone.get("model", "")).startswith("pamm."):
        return None
    spec = dict(backbone.get("pamm") or {"mode": "baseline"})
    spec.setdefault("cutoff", float(backbone.get("cutoff", 5.0)))
    return MotifMemorySpec.from_dict(spec)


def check_spec_consistency(
    ckpt: MLIPInferenceCheckpoint, expected: MotifMemorySpec | dict | None = None
) -> MotifMemorySpec | None:
    """Check a PaMM checkpoint's spec against its hash buffers/tables and ``expected``.

    Raises ValueError naming the disagreeing fields. Returns the stored spec.
    """
    spec = stored_spec(_plain_dict(ckpt.model_config))
    if expected is not None:
        want = expected if isinstance(expected, MotifMemorySpec) else None
        if want is None:
            data = dict(expected)
            if spec is not None:
                data.setdefault("cutoff", spec.cutoff)
            want = MotifMemorySpec.from_dict(data)
        if spec is None:
            raise ValueError("checkpoint has no PaMM spec but a PaMM spec was expected")
        diff = {
            k: (v, getattr(want, k)) for k, v in spec.to_dict().items() if getattr(want, k) != v
        }
        if diff:
            detail = ", ".join(
                f"{k}: checkpoint {a!r} vs config {b!r}" for k, (a, b) in diff.items()
            )
            raise ValueError(f"PaMM spec in checkpoint disagrees with the config: {detail}")
    if spec is not None:
        check_memory_state(spec, ckpt.model_state_dict, _MEMORY_PREFIX)
    return spec


def check_memory_state(spec: MotifMemorySpec, state: dict[str, Any], prefix: str) -> None:
    """Check a state dict's hash parameters and table shapes against ``spec``.

    ``prefix`` leads to the memory's entries (``backbone.motif_memory.`` in a checkpoint
    or a HydraModel). Raises ValueError naming the mismatch: a checkpoint whose
    ``hash_seed``, heads or table size was edited without re-training would put every
    motif in other buckets than the ones its tables learned.
    """
    if not spec.uses_memory:
        return
    for table in ("pair", "triplet"):
        a, b = hash_params(spec.hash_seed, spec.heads, table)
        for name, want in (("a", a), ("b", b)):
            key = f"{prefix}{table}_hash_{name}"
            if key not in state:
                raise ValueError(f"hashing spec does not match the {table} table: no {key}")
            if state[key].tolist() != want.tolist():
                raise ValueError(
                    f"hashing spec does not match the {table} table: hash buffer "
                    f"{key}={state[key].tolist()} disagrees with its spec (hash_seed="
                    f"{spec.hash_seed}, heads={spec.heads}): bucket ids would change"
                )
        buckets = spec.pair_buckets if table == "pair" else spec.triplet_buckets
        key, expected = f"{prefix}{table}_table", (spec.heads, buckets, spec.head_dim)
        if key in state and tuple(state[key].shape) != expected:
            raise ValueError(
                f"hashing spec does not match the {table} table: {key} has shape "
                f"{tuple(state[key].shape)}, spec says [heads, buckets, head_dim] = "
                f"{list(expected)}"
            )


def check_memory_tables(model: torch.nn.Module) -> MotifMemorySpec:
    """The spec of a built model (HydraModel or backbone), after
    :func:`check_memory_state` on its own parameters and buffers."""
    backbone = getattr(model, "backbone", model)
    spec = getattr(backbone, "pamm_spec", None)
    if not isinstance(spec, MotifMemorySpec):
        raise ValueError("model has no PaMM spec (backbone.pamm_spec): not a PaMM model")
    if getattr(backbone, "motif_memory", None) is not None:
        check_memory_state(spec, backbone.state_dict(), "motif_memory.")
    return spec


def attach_pamm(
    ckpt: MLIPInferenceCheckpoint, pamm: dict | MotifMemorySpec | None = None, *, seed: int = 0
) -> MLIPInferenceCheckpoint:
    """A new checkpoint: the same weights on a PaMM backbone with zero-initialised fusion.

    ``pamm``: spec fields (cutoff defaults to the backbone's). ``seed`` seeds the random
    table initialisation. The input checkpoint is not modified.
    """
    from fairchem.core.models.uma.compat import apply_uma_compat_fixups

    ckpt = copy.deepcopy(ckpt)
    ckpt.model_config = _plain_dict(ckpt.model_config)
    apply_uma_compat_fixups(ckpt)  # back-fills a UMA 1.1 model_id while it is still visible
    backbone = ckpt.model_config.get("backbone")
    if not isinstance(backbone, dict) or "model" not in backbone:
        raise ValueError("checkpoint model_config has no backbone.model: not an eSCN-MD model")
    plain_pamm = backbone["model"] in PAMM_BACKBONES.values() and not (
        MotifMemorySpec.from_dict(backbone.get("pamm") or {}).uses_memory
    )  # a PaMM backbone in mode 'baseline' (e.g. the `baseline` variant) is a plain one
    if backbone["model"] not in PAMM_BACKBONES and not plain_pamm:
        raise ValueError(
            f"backbone {backbone['model']!r} is not a plain eSCN-MD backbone; "
            f"expected one of {sorted(PAMM_BACKBONES)} or a PaMM backbone in mode 'baseline'"
        )
    data = pamm.to_dict() if isinstance(pamm, MotifMemorySpec) else dict(pamm or {})
    data.setdefault("cutoff", float(backbone.get("cutoff", 5.0)))
    spec = MotifMemorySpec.from_dict(data)
    if not spec.uses_memory:
        raise ValueError("attaching mode='baseline' would add nothing; choose a memory mode")
    backbone["model"] = PAMM_BACKBONES.get(backbone["model"], backbone["model"])
    backbone["pamm"] = spec.to_dict()

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_model(ckpt, strict=False)
    result = model.load_state_dict(ckpt.model_state_dict, strict=False)
    unexpected = list(result.unexpected_keys)
    foreign = [k for k in result.missing_keys if not k.startswith("backbone.motif_")]
    if unexpected or foreign:
        raise ValueError(
            f"weights do not fit the PaMM model: missing {foreign}, unexpected {unexpected}"
        )
    new_state = model.state_dict()
    added = {k: v for k, v in new_state.items() if k not in ckpt.model_state_dict}
    ckpt.model_state_dict = {**ckpt.model_state_dict, **added}
    if ckpt.ema_state_dict:  # AveragedModel keys: "module." + name
        ckpt.ema_state_dict = {
            **ckpt.ema_state_dict,
            **{f"module.{k}": v.clone() for k, v in added.items()},
        }
    return ckpt


def load_pamm_model(
    path: str | os.PathLike,
    expected: MotifMemorySpec | dict | None = None,
    *,
    physical_units: bool = True,
) -> tuple[torch.nn.Module, MLIPInferenceCheckpoint]:
    """Safely load a checkpoint, check its PaMM spec, build the model (strict).

    Like fairchem's predict unit it uses the EMA weights when present and, with
    ``physical_units`` (default), returns eV, eV/Å and eV/Å³ (``pamm.units``) rather
    than a trained checkpoint's normalised targets.
    """
    from pamm.units import install_physical_units

    ckpt = load_checkpoint(path)
    check_spec_consistency(ckpt, expected)
    model = build_model(ckpt, use_ema=True)
    if physical_units:
        install_physical_units(model, ckpt.tasks_config)
    return model, ckpt
