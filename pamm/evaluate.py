"""Per-family error metrics of a trained checkpoint on a dataset split.

A checkpoint (``fairchem -c`` inference checkpoint, loaded with fairchem's
``load_predict_unit``) predicts energy, forces and stress for every structure of a split,
in the split's stored order; errors are kept per structure (:func:`structure_errors`, a
tidy DataFrame) and summarised overall and per OMat24 source family (:func:`summarize`):

* ``energy_mae_mev_per_atom`` — mean over structures of ``|E_pred - E_ref| / N``;
* ``force_mae_mev_per_a`` — mean over all force components of all atoms (pooled);
* ``stress_mae_mev_per_a3`` — mean over structures of the mean absolute 3x3 stress
  component error (ASE convention, eV/Å³ -> meV/Å³; 1 meV/Å³ = 0.1602 GPa).

Used by ``benchmarks/compare.py``, the demo-checkpoint card and the app's
"metrics vs baseline".

>>> import pandas as pd
>>> rows = pd.DataFrame({"family": ["a", "a", "b"], "natoms": [2, 2, 4],
...     "energy_err_per_atom": [0.001, 0.003, 0.002], "force_abs_sum": [0.006, 0.012, 0.024],
...     "force_n": [6, 6, 12], "stress_abs_mean": [0.0, 0.002, 0.001]})
>>> m = summarize(rows)
>>> round(m["overall"]["energy_mae_mev_per_atom"], 6)
2.0
>>> round(m["per_family"]["a"]["force_mae_mev_per_a"], 6)
1.5
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from ase import Atoms

from pamm.plumbing import atoms_to_batch

__all__ = [
    "METRIC_NAMES",
    "evaluate_checkpoint",
    "load_predictor",
    "read_split",
    "structure_errors",
    "summarize",
]

#: summary metrics of :func:`summarize`, per group
METRIC_NAMES: tuple[str, ...] = (
    "energy_mae_mev_per_atom",
    "force_mae_mev_per_a",
    "stress_mae_mev_per_a3",
)


def read_split(split_dir: str | Path, *, limit: int | None = None) -> list[Atoms]:
    """The first ``limit`` structures of a split folder, in stored (deterministic) order.

    Each carries its labels (``get_potential_energy``/``get_forces``/``get_stress``) and
    ``info["sid"]`` / ``info["family"]`` (see :mod:`pamm.data.readers`).
    """
    from pamm.data.readers import read_structures

    if limit is not None and limit <= 0:
        raise ValueError(f"limit must be > 0 or None, got {limit}")
    return read_structures(split_dir, limit=limit)


def load_predictor(checkpoint: str | Path, device: str = "cpu"):
    """fairchem ``MLIPPredictUnit`` for a checkpoint, without torch.compile (CPU-friendly)."""
    from fairchem.core.units.mlip_unit import load_predict_unit
    from fairchem.core.units.mlip_unit.api.inference import InferenceSettings

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint {checkpoint} does not exist")
    settings = InferenceSettings(compile=False, activation_checkpointing=False)
    return load_predict_unit(checkpoint, inference_settings=settings, device=device)


def _labels(atoms: Atoms, index: int) -> tuple[float, np.ndarray, np.ndarray]:
    try:
        energy = float(atoms.get_potential_energy())
        forces = np.asarray(atoms.get_forces(), dtype=float)  # [N, 3]
        stress = np.asarray(atoms.get_stress(voigt=False), dtype=float)  # [3, 3]
    except Exception as err:  # no calculator / missing property
        sid = atoms.info.get("sid", index)
        raise ValueError(f"structure {sid}: missing energy/forces/stress labels ({err})") from err
    return energy, forces, stress


def structure_errors(
    predictor, structures: Sequence[Atoms], *, batch_size: int = 8, task_name: str = "omat"
) -> pd.DataFrame:
    """Per-structure errors (eV units) of ``predictor`` on labelled ``structures``.

    Columns: ``index, sid, family, natoms, energy_ref, energy_pred, energy_err_per_atom``
    (eV/atom, absolute), ``force_abs_sum`` (eV/Å, summed over the 3N components),
    ``force_n`` (3N), ``stress_abs_mean`` (eV/Å³, mean over the 9 components).
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be > 0, got {batch_size}")
    rows = []
    for start in range(0, len(structures), batch_size):
        chunk = structures[start : start + batch_size]
        pred = predictor.predict(atoms_to_batch(chunk, task_name=task_name, keep_labels=True))
        energy = pred["energy"].detach().double().cpu().numpy().reshape(-1)  # [B]
        forces = pred["forces"].detach().double().cpu().numpy().reshape(-1, 3)  # [sum N, 3]
        stress = pred["stress"].detach().double().cpu().numpy().reshape(-1, 9)  # [B, 9]
        offset = 0
        for k, atoms in enumerate(chunk):
            n = len(atoms)
            e_ref, f_ref, s_ref = _labels(atoms, start + k)
            f_err = np.abs(forces[offset : offset + n] - f_ref)  # [N, 3]
            offset += n
            rows.append(
                {
                    "index": start + k,
                    "sid": str(atoms.info.get("sid", start + k)),
                    "family": str(atoms.info.get("family", "unknown")),
                    "natoms": n,
                    "energy_ref": e_ref,
                    "energy_pred": float(energy[k]),
                    "energy_err_per_atom": abs(float(energy[k]) - e_ref) / n,
                    "force_abs_sum": float(f_err.sum()),
                    "force_n": int(f_err.size),
                    "stress_abs_mean": float(np.abs(stress[k] - s_ref.reshape(9)).mean()),
                }
            )
    return pd.DataFrame(rows)


def _group_metrics(rows: pd.DataFrame) -> dict[str, float]:
    n_force = int(rows["force_n"].sum())
    return {
        "energy_mae_mev_per_atom": 1000.0 * float(rows["energy_err_per_atom"].mean()),
        "force_mae_mev_per_a": 1000.0 * float(rows["force_abs_sum"].sum()) / max(n_force, 1),
        "stress_mae_mev_per_a3": 1000.0 * float(rows["stress_abs_mean"].mean()),
        "n_structures": len(rows),
        "n_atoms": int(rows["natoms"].sum()),
    }


def summarize(rows: pd.DataFrame) -> dict:
    """``{"overall": metrics, "per_family": {family: metrics}}`` from :func:`structure_errors`."""
    if len(rows) == 0:
        raise ValueError("no structures to summarise")
    return {
        "overall": _group_metrics(rows),
        "per_family": {
            str(fam): _group_metrics(group) for fam, group in sorted(rows.groupby("family"))
        },
    }


def evaluate_checkpoint(
    checkpoint: str | Path,
    split_dirs: dict[str, str | Path] | Iterable[tuple[str, str | Path]],
    *,
    limit: int | None = None,
    batch_size: int = 8,
    predictor=None,
    rows_out: dict[str, pd.DataFrame] | None = None,
) -> dict[str, dict]:
    """Metrics of ``checkpoint`` on each named split: ``{split: summarize(...)}``.

    ``limit`` keeps the first ``limit`` structures of every split (stored order), so the
    same call always scores the same structures. Pass ``predictor`` to reuse a loaded unit,
    and a dict as ``rows_out`` to receive each split's :func:`structure_errors` rows.
    """
    predictor = predictor if predictor is not None else load_predictor(checkpoint)
    items = split_dirs.items() if isinstance(split_dirs, dict) else split_dirs
    out = {}
    for name, folder in items:
        rows = structure_errors(predictor, read_split(folder, limit=limit), batch_size=batch_size)
        summary = summarize(rows)
        if rows_out is not None:
            rows_out[name] = rows
        bad = [k for k in METRIC_NAMES if not math.isfinite(summary["overall"][k])]
        if bad:
            raise ValueError(f"{checkpoint} on {name}: non-finite metrics {bad}")
        out[name] = summary
    return out
