"""``run_analysis``: checkpoint (or model) + dataset -> a complete run directory.

Idempotent in two stages, each keyed by a fingerprint of its inputs stored in the
manifest: the *census* (checkpoint sha256 / model state, dataset fingerprint, census
settings) is kept in ``census.npz`` and reused when unchanged; the *statistics*
(census fingerprint + analysis settings + schema version) are skipped when unchanged
and all artifacts exist. Every file is written atomically and the manifest last, so a
directory with a manifest is always complete.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import shutil
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from analysis.artifacts import write_artifacts
from analysis.census import Census
from analysis.data import StructureSource
from analysis.io import read_manifest, replace_dir, staging_dir, write_manifest
from analysis.probe_artifacts import (
    compute_probes,
    copy_probes,
    has_probes,
    probe_settings,
    write_probes,
)
from analysis.runner import (
    census_from_graphs,
    census_from_model,
    select_structures,
    structure_sids,
)
from analysis.schema import PARQUET_ARTIFACTS, SCHEMA_VERSION
from pamm.checkpoint import check_memory_tables
from pamm.data.families import HELDOUT_FAMILIES
from pamm.plumbing import atomic_write_json, load_checked_model, sha256_file
from pamm.spec import MotifMemorySpec

__all__ = ["run_analysis"]

Progress = Callable[[float, str], None]


def _state_sha256(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _load_any(checkpoint: str | Path) -> torch.nn.Module:
    """Any fairchem/PaMM checkpoint (e.g. a plain eSCN-MD baseline), loaded safely."""
    from pamm.checkpoint import build_model, load_checkpoint

    return build_model(load_checkpoint(checkpoint)).eval()


def _table_rows(model: torch.nn.Module) -> dict[str, np.ndarray]:
    try:
        from pamm.capture import table_contents

        contents = table_contents(model)
    except ImportError:  # capture not available: read the parameters directly
        memory = getattr(getattr(model, "backbone", model), "motif_memory", None)
        contents = {
            t: getattr(memory, f"{t}_table", None) for t in ("pair", "triplet")
        } if memory is not None else {}  # fmt: skip
    return {
        t: v.detach().float().cpu().numpy() for t, v in (contents or {}).items() if v is not None
    }


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("pamm-lab", "torch", "fairchem-core", "numpy", "pandas", "pyarrow", "umap-learn"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def run_analysis(
    checkpoint_or_model: str | Path | torch.nn.Module,
    data: str | Path | Sequence[str | Path] | StructureSource,
    out: str | Path,
    *,
    progress: Progress | None = None,
    max_per_family: int | None = 100,
    batch_size: int = 16,
    reservoir: int = 8,
    heldout: Sequence[str] = HELDOUT_FAMILIES,
    embedding: str = "auto",
    max_embedding_points: int = 2000,
    baseline: str | Path | torch.nn.Module | None = None,
    latent_structures: int = 64,
    force: bool = False,
    tqdm_bar: bool = True,
    probes: int = 0,
    probe_replace: str = "zero",
    probe_top_k: int = 10,
) -> Path:
    """Compute (or reuse) the census and all artifacts; returns the run directory.

    ``progress(fraction, message)`` is called along the way (0..1): the census takes
    the first 80 %. ``data`` is a path (folder of ``.aselmdb`` / ASE files), a list
    of paths, or a ``StructureSource``. At most ``max_per_family`` structures per
    family are analysed (None: all); the counts land in the manifest. With a
    ``baseline`` model/checkpoint, GFRE/LFRE between its node features and the PaMM
    model's on the first ``latent_structures`` selected structures go into metrics.
    With ``probes`` > 0, the causal probes (``analysis.probe_artifacts``) of that many evenly
    spaced structures are stored too (kept, not recomputed, while their inputs are unchanged).
    """
    out = Path(out)
    t_start = time.perf_counter()

    def report(frac: float, msg: str) -> None:
        if progress is not None:
            progress(float(min(max(frac, 0.0), 1.0)), msg)

    report(0.0, "loading model")
    if isinstance(checkpoint_or_model, torch.nn.Module):
        model, ckpt = checkpoint_or_model, {"path": None, "sha256": None}
        ckpt["state_sha256"] = _state_sha256(model)
    else:
        path = Path(checkpoint_or_model)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        ckpt = {"path": str(path.resolve()), "sha256": sha256_file(path)}
        model = load_checked_model(path)
    spec = check_memory_tables(model)

    report(0.02, "opening dataset")
    source = data if isinstance(data, StructureSource) else StructureSource.open(
        [data] if isinstance(data, str | Path) else list(data)
    )  # fmt: skip
    fingerprint = source.fingerprint()
    census_settings = {"max_per_family": max_per_family, "reservoir": reservoir}
    census_fp = _fingerprint(ckpt, fingerprint, spec.to_dict(), census_settings, SCHEMA_VERSION)
    base_id = None
    if baseline is not None:
        base_id = (
            _state_sha256(baseline)
            if isinstance(baseline, torch.nn.Module)
            else sha256_file(baseline)
        )
    stats_settings = {
        "baseline": base_id,
        "latent_structures": latent_structures,
        "heldout": list(heldout),
        "embedding": embedding,
        "max_embedding_points": max_embedding_points,
    }
    stats_fp = _fingerprint(census_fp, stats_settings)
    old = _old_manifest(out)
    stages = (old or {}).get("stages", {})
    if probes and (not spec.uses_memory or spec.mode == "mlp"):
        raise ValueError(f"probes need hashed memory tables; this model has mode={spec.mode!r}")
    # requested probes, or still-valid stored ones (same checkpoint, data, spec) to keep
    probe_cfg = probe_settings(
        probes, replace=probe_replace, top_k=probe_top_k, batch_size=batch_size
    ) if probes else (old or {}).get("settings", {}).get("probes")  # fmt: skip
    probes_fp = _fingerprint(ckpt, fingerprint, spec.to_dict(), probe_cfg) if probe_cfg else None
    probes_ok = probes_fp is not None and stages.get("probes") == probes_fp and has_probes(out)
    if not probes and not probes_ok:
        probe_cfg = probes_fp = None  # stale stored probes are dropped
    complete = all((out / n).is_file() for n in [*PARQUET_ARTIFACTS, "table_rows.npz"])
    up_to_date = old and stages.get("statistics") == stats_fp and complete
    if not force and up_to_date and (probe_cfg is None or probes_ok):
        report(1.0, "up to date")
        return out

    selection = select_structures(source, max_per_family)
    timings: dict[str, float] = {}
    stage = staging_dir(out)  # the new run is built here and swapped in at the end
    census_path = stage / "census.npz"
    if not force and stages.get("census") == census_fp and (out / "census.npz").is_file():
        census = Census.load(out / "census.npz")
        shutil.copy2(out / "census.npz", census_path)
    else:
        t0 = time.perf_counter()
        sub = None if progress is None else (lambda f, m: report(0.05 + 0.75 * f, m))
        if spec.uses_memory:
            census = census_from_model(
                model, source, selection, spec, batch_size=batch_size, reservoir=reservoir,
                progress=sub, tqdm_bar=tqdm_bar,
            )  # fmt: skip
        else:
            census = census_from_graphs(
                source, selection, spec, batch_size=batch_size, reservoir=reservoir,
                progress=sub, tqdm_bar=tqdm_bar,
            )  # fmt: skip
        census.save(census_path)
        timings["census_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    span = 0.1 if probe_cfg else 0.19  # probes take 0.9 .. 0.99
    sub = None if progress is None else (lambda f, m: report(0.8 + span * f, m))
    metrics = write_artifacts(
        stage, census, spec, _table_rows(model), heldout=tuple(heldout),
        sids=structure_sids(selection), embedding=embedding,
        max_embedding_points=max_embedding_points, progress=sub,
    )  # fmt: skip
    timings["statistics_s"] = time.perf_counter() - t0
    if probe_cfg is not None and probes_ok and not (probes and force):
        copy_probes(out, stage)
    elif probe_cfg is not None:
        t0 = time.perf_counter()
        sub = None if progress is None else (lambda f, m: report(0.9 + 0.09 * f, f"probes: {m}"))
        write_probes(stage, compute_probes(model, source, probe_cfg, progress=sub))
        timings["probes_s"] = time.perf_counter() - t0
    if baseline is not None:
        t0 = time.perf_counter()
        report(0.99, "latent comparison (GFRE/LFRE)")
        metrics["latent"] = _latent(model, baseline, source, selection, spec, latent_structures)
        timings["latent_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start
    metrics["timings_s"].update(timings)
    if spec.mode in ("random_bucket", "mlp"):
        metrics["notes"] = [
            f"mode={spec.mode}: bucket maps hash the motif keys with the spec's parameters; "
            "the model itself does not look rows up by motif identity"
        ]
    atomic_write_json(stage / "metrics.json", metrics)

    manifest = {
        "schema_version": SCHEMA_VERSION,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "versions": _versions(),
        "checkpoint": ckpt,
        "dataset": {
            "paths": list(source.paths),
            "fingerprint": fingerprint,
            "n_structures": len(source),
            "n_analysed": len(selection),
            "per_family": selection.per_family(),
        },
        "spec": spec.to_dict(),
        "settings": {
            **census_settings,
            **stats_settings,
            "batch_size": batch_size,
            **({"probes": probe_cfg} if probe_cfg else {}),
        },
        "families": census.families,
        "heldout_families": list(heldout),
        "stages": {
            "census": census_fp,
            "statistics": stats_fp,
            **({"probes": probes_fp} if probes_fp else {}),
        },
        "artifacts": sorted(
            {p.name for p in stage.iterdir() if not p.name.startswith(".")} | {"manifest.json"}
        ),
    }
    write_manifest(stage, manifest)
    replace_dir(stage, out)
    report(1.0, "done")
    return out


def _latent(
    model: torch.nn.Module,
    baseline: str | Path | torch.nn.Module,
    source: StructureSource,
    selection: Any,
    spec: MotifMemorySpec,
    n: int,
) -> dict[str, float]:
    from analysis.latent import latent_comparison, node_features
    from analysis.runner import batches

    if not isinstance(baseline, torch.nn.Module):
        baseline = _load_any(baseline)
    sub = selection.shard(0, max(1, len(selection) // max(n, 1)))
    feats = [
        node_features(m, (b for _, b in batches(source, sub, 16, spec.cutoff)))
        for m in (baseline, model)
    ]
    return latent_comparison(feats[0], feats[1])


def _old_manifest(out: Path) -> dict[str, Any] | None:
    try:
        return read_manifest(out)
    except Exception:
        return None
