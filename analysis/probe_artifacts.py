"""The optional probes artifact of a run directory: ``probe_run`` results on disk.

``pamm analyze --probes N`` runs ``analysis.reliance.probe_run`` on N evenly spaced
dataset structures (``probe_structures``) and writes, atomically, into the run:

- ``attribution.parquet``: first-order effect per (table, head, bucket, structure, motif
  key): the input of the motif profiles (``analysis.profiles``); per-bucket consumers
  sum over keys (``analysis.attribution.per_bucket``);
- ``attribution_agreement.parquet``: the top-k buckets, first-order vs exact ablation;
- ``reliance.parquet`` / ``reliance_atoms.parquet``: memory / pair / triplet off;
- ``probes.json``: settings (n_structures, replace, top_k, batch_size, seed), the probed
  ``dataset_index`` and ``families``, the Spearman correlations and timings.

Columns: ``analysis.schema.PROBE_ARTIFACTS``. The artifact is optional: runs without it
load as before and ``load_probes`` returns None. Artifacts of an older probes version
load without the columns added since (``PROBES_ADDED``: a version-1 attribution has no
``key``, so no motif profiles). ``load_probes`` returns the same dict as
``probe_run`` (derived tables recomputed from the stored ones) plus ``settings``,
``dataset_index``, ``families`` and ``timings_s``.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import torch

from analysis.ablation_effects import Progress
from analysis.attribution import bucket_effects
from analysis.data import StructureSource
from analysis.io import RunError
from analysis.reliance import gate_vs_effect, probe_run, probe_structures, reliance_summary
from analysis.schema import PROBE_ARTIFACTS, PROBES_ADDED, PROBES_JSON, PROBES_VERSION
from pamm.ablation import REPLACEMENTS
from pamm.plumbing import atomic_write_json, atomic_write_parquet

__all__ = [
    "READABLE_VERSIONS",
    "compute_probes",
    "copy_probes",
    "has_probes",
    "load_probes",
    "probe_settings",
    "write_probes",
]

#: probe_run key -> file
_FRAMES = {
    "attribution": "attribution.parquet",
    "agreement": "attribution_agreement.parquet",
    "reliance": "reliance.parquet",
    "reliance_atoms": "reliance_atoms.parquet",
}


def probe_settings(
    n_structures: int, *, replace: str = "zero", top_k: int = 10, batch_size: int = 8
) -> dict[str, Any]:
    """Validated probe settings (stored in ``probes.json`` and the manifest).

    >>> probe_settings(24)["top_k"]
    10
    >>> probe_settings(0)
    Traceback (most recent call last):
    ...
    ValueError: probes: n_structures must be >= 1, got 0
    """
    if n_structures < 1:
        raise ValueError(f"probes: n_structures must be >= 1, got {n_structures}")
    if top_k < 1:
        raise ValueError(f"probes: top_k must be >= 1, got {top_k}")
    if batch_size < 1:
        raise ValueError(f"probes: batch_size must be >= 1, got {batch_size}")
    if replace not in REPLACEMENTS:
        raise ValueError(f"probes: replace={replace!r} is not one of {REPLACEMENTS}")
    return {
        "n_structures": int(n_structures),
        "replace": replace,
        "top_k": int(top_k),
        "batch_size": int(batch_size),
        "seed": 0,
        "version": PROBES_VERSION,
    }


def compute_probes(
    model: torch.nn.Module,
    dataset: dict | StructureSource,
    settings: dict[str, Any],
    *,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """``probe_run`` on ``probe_structures(dataset, n)``: the dict ``write_probes`` stores."""
    start = time.perf_counter()
    atoms, families, indices = probe_structures(dataset, settings["n_structures"])
    result = probe_run(
        model,
        atoms,
        families,
        replace=settings["replace"],
        top_k=settings["top_k"],
        batch_size=settings["batch_size"],
        progress=progress,
    )
    result.update(
        settings=dict(settings),
        dataset_index=indices,
        families=list(families),
        timings_s={"probes_s": round(time.perf_counter() - start, 3)},
    )
    return result


def write_probes(run_dir: str | Path, result: dict[str, Any]) -> None:
    """Write ``compute_probes`` output into ``run_dir`` (each file atomically, json last)."""
    run_dir = Path(run_dir)
    indices = list(result["dataset_index"])
    for key, file in _FRAMES.items():
        frame = result[key]
        if key == "attribution":
            frame = frame.assign(dataset_index=[indices[s] for s in frame["structure"]])
        atomic_write_parquet(run_dir / file, frame)
    meta = {
        "settings": result["settings"],
        "dataset_index": indices,
        "families": list(result["families"]),
        "spearman": {k: float(v) for k, v in result["spearman"].items()},
        "timings_s": result.get("timings_s", {}),
        "files": sorted(_FRAMES.values()),
    }
    atomic_write_json(run_dir / PROBES_JSON, meta)


def has_probes(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds a complete probes artifact (``probes.json`` + its tables)."""
    run_dir = Path(run_dir)
    return all((run_dir / f).is_file() for f in [PROBES_JSON, *_FRAMES.values()])


def copy_probes(src: str | Path, dst: str | Path) -> None:
    """Copy the probes artifact of run ``src`` into directory ``dst`` (json last)."""
    for file in [*_FRAMES.values(), PROBES_JSON]:
        shutil.copy2(Path(src) / file, Path(dst) / file)


#: probes versions ``load_probes`` reads (older ones lack the ``PROBES_ADDED`` columns)
READABLE_VERSIONS = (1, PROBES_VERSION)


def _read(path: Path, version: int) -> pd.DataFrame:
    try:
        names = pq.read_schema(path).names
    except Exception as err:
        raise RunError(f"{path}: unreadable Parquet ({err})") from err
    required = [
        c.name
        for c in PROBE_ARTIFACTS[path.name]
        if PROBES_ADDED.get((path.name, c.name), 0) <= version
    ]
    missing = [c for c in required if c not in names]
    if missing:
        raise RunError(f"{path}: missing column(s) {missing}")
    return pd.read_parquet(path)


def load_probes(run_dir: str | Path) -> dict[str, Any] | None:
    """The stored probes of ``run_dir`` as ``probe_run`` returns them, or None if absent.

    A version-1 artifact loads too; its ``attribution`` has no ``key`` column. Raises
    ``RunError`` naming the file when the artifact is incomplete or malformed.
    """
    run_dir = Path(run_dir)
    meta_path = run_dir / PROBES_JSON
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as err:
        raise RunError(f"{meta_path}: not valid JSON ({err})") from err
    version = meta.get("settings", {}).get("version")
    if version not in READABLE_VERSIONS:
        raise RunError(
            f"{meta_path}: probes version {version}, this code reads {READABLE_VERSIONS}"
        )
    out: dict[str, Any] = {}
    for key, file in _FRAMES.items():
        if not (run_dir / file).is_file():
            raise RunError(f"{run_dir / file}: missing (probes.json names it); re-run analyze")
        out[key] = _read(run_dir / file, version)
    out["attribution"] = out["attribution"].drop(columns="dataset_index")
    out["effects"] = bucket_effects(out["attribution"])
    out["gate_vs_effect"] = gate_vs_effect(out["effects"])
    out["summary"] = reliance_summary(out["reliance"], out["reliance_atoms"])
    out["spearman"] = dict(meta["spearman"])
    for key in ("settings", "dataset_index", "families", "timings_s"):
        out[key] = meta.get(key)
    return out
