"""Model outputs in physical units, as fairchem's predict unit returns them.

A ``fairchem -c``-trained checkpoint's model predicts *normalised* targets: fairchem's
``MLIPPredictUnit`` turns them into eV, eV/Å and eV/Å³ with each task's ``Normalizer``
(``x * rmsd + mean``) and, for the energy, adds the ``ElementReferences`` of the
structure's atoms. ``install_physical_units`` does the same as a forward hook on the
model, so every consumer of ``model(batch)`` (the dashboard, the probes) sees the
units fairchem's ASE calculator reports. The numbers are read from the checkpoint's
``tasks_config``; its ``_target_`` strings are checked, never instantiated.
"""

from __future__ import annotations

from typing import Any

import torch
from fairchem.core.modules.normalization.element_references import ElementReferences
from fairchem.core.modules.normalization.normalizer import Normalizer

__all__ = ["install_physical_units", "task_transforms"]

_NORMALIZER = "fairchem.core.modules.normalization.normalizer.Normalizer"
_ELEMENT_REFS = "fairchem.core.modules.normalization.element_references.ElementReferences"


def _plain(value: Any) -> Any:
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(value, DictConfig | ListConfig):
            return OmegaConf.to_container(value, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf ships with fairchem
        pass
    return value


def _element_refs(config: dict, task: str) -> ElementReferences:
    if config.get("_target_") != _ELEMENT_REFS:
        raise ValueError(f"task {task!r}: unsupported element_references {config.get('_target_')}")
    values = config["element_references"]
    if isinstance(values, dict):  # {"_target_": "torch.DoubleTensor", "_args_": [[...]]}
        values = values["_args_"][0]
    return ElementReferences(torch.tensor(values, dtype=torch.float64))


def task_transforms(
    tasks_config: Any,
) -> dict[str, tuple[str, Normalizer, ElementReferences | None]]:
    """task name -> (output property, normaliser, element references or None).

    >>> cfg = [{"name": "energy", "property": "energy",
    ...         "normalizer": {"_target_": _NORMALIZER, "mean": 0.0, "rmsd": 2.0}}]
    >>> prop, norm, refs = task_transforms(cfg)["energy"]
    >>> prop, float(norm.denorm(torch.tensor(1.5))), refs is None
    ('energy', 3.0, True)
    """
    out = {}
    for task in _plain(tasks_config) or []:
        name, normalizer = task["name"], task.get("normalizer")
        if normalizer is None:
            continue
        if normalizer.get("_target_", _NORMALIZER) != _NORMALIZER:
            raise ValueError(f"task {name!r}: unsupported normalizer {normalizer['_target_']}")
        norm = Normalizer(mean=float(normalizer["mean"]), rmsd=float(normalizer["rmsd"]))
        refs = task.get("element_references")
        out[name] = (task["property"], norm, _element_refs(refs, name) if refs else None)
    return out


def install_physical_units(model: torch.nn.Module, tasks_config: Any) -> bool:
    """Make ``model(batch)`` return denormalised, element-referenced outputs.

    Applies to the flat outputs (``out[task][property]``) of a checkpoint trained with
    ``fairchem -c``; returns False (and changes nothing) when ``tasks_config`` has no
    normalisers, e.g. a freshly built model.
    """
    transforms = task_transforms(tasks_config)
    if not transforms:
        return False

    def hook(_module: torch.nn.Module, args: tuple, output: dict) -> dict:
        batch = args[0]
        output = dict(output)
        for task, (prop, norm, refs) in transforms.items():
            if task not in output or prop not in output[task]:
                continue
            value = norm.denorm(output[task][prop])
            if refs is not None:
                value = refs.undo_refs(batch, value)
            output[task] = {**output[task], prop: value}
        return output

    model.register_forward_hook(hook)
    return True
