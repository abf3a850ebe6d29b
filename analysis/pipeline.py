"""``run_analysis``: checkpoint (or model) + dataset -> a complete run directory.

Idempotent in stages, each keyed by a fingerprint of its inputs stored in the
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
from dataclasses import dataclass
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
from analysis.settings import AnalysisSettings
from pamm.checkpoint import check_memory_tables
from pamm.plumbing import atomic_write_json, load_checked_model, sha256_file
from pamm.spec import MotifMemorySpec

__all__ = ["census_identity", "run_analysis"]

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


def census_identity(
    checkpoint_sha256: str | None, dataset_fingerprint: str, spec: MotifMemorySpec,
    settings: AnalysisSettings,
) -> dict[str, Any]:  # fmt: skip
    """What a census depends on, stored in a census made elsewhere (``meta["identity"]``,
    e.g. by ``python -m analysis.distributed``) and checked before ``run_analysis`` uses it."""
    return {
        "checkpoint_sha256": checkpoint_sha256,
        "dataset_fingerprint": dataset_fingerprint,
        "spec": spec.to_dict(),
        "settings": settings.census_part(),
        "schema_version": SCHEMA_VERSION,
    }


def _given_census(path: str | Path, expected: dict[str, Any]) -> Census:
    """The census at ``path``, refused (ValueError naming what differs) unless made for
    this checkpoint, dataset, spec and census settings."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"census {path} does not exist")
    census = Census.load(path)
    found = census.meta.get("identity")
    if not isinstance(found, dict):
        raise ValueError(
            f"census {path} records no identity (checkpoint, dataset, spec, settings); "
            "make it with `python -m analysis.distributed`"
        )
    differ = sorted(k for k in expected if found.get(k) != expected[k])
    if differ:
        raise ValueError(
            f"census {path} was made for another {', '.join(differ)} than this run: "
            + "; ".join(f"{k}: census {found.get(k)!r}, run {expected[k]!r}" for k in differ)
        )
    return census


@dataclass(frozen=True)
class _Plan:
    """What a run needs: stage fingerprints, and which stages are already done."""

    census_fp: str
    stats_fp: str
    stats_settings: dict[str, Any]
    probe_cfg: dict[str, Any] | None
    probes_fp: str | None
    reuse_census: bool
    reuse_probes: bool
    up_to_date: bool


def _open_model(checkpoint_or_model: str | Path | torch.nn.Module):
    """(model, manifest["checkpoint"] entry)."""
    if isinstance(checkpoint_or_model, torch.nn.Module):
        model = checkpoint_or_model
        return model, {"path": None, "sha256": None, "state_sha256": _state_sha256(model)}
    path = Path(checkpoint_or_model)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    return load_checked_model(path), {"path": str(path.resolve()), "sha256": sha256_file(path)}


def _plan(
    out: Path, ckpt: dict, fingerprint: str, spec: MotifMemorySpec,
    settings: AnalysisSettings, baseline: Any, force: bool,
) -> _Plan:  # fmt: skip
    """Fingerprint the census, statistics and probe stages; compare with the old run."""
    census_fp = _fingerprint(ckpt, fingerprint, spec.to_dict(), settings.census_part(),
                             SCHEMA_VERSION)  # fmt: skip
    base_id = None
    if baseline is not None:
        is_model = isinstance(baseline, torch.nn.Module)
        base_id = _state_sha256(baseline) if is_model else sha256_file(baseline)
    stats_settings = {
        "baseline": base_id, "latent_structures": settings.latent_structures,
        "heldout": list(settings.heldout), "embedding": settings.embedding,
        "max_embedding_points": settings.max_embedding_points,
    }  # fmt: skip
    stats_fp = _fingerprint(census_fp, stats_settings)
    old = _old_manifest(out) or {}
    stages = old.get("stages", {})
    n_probes = settings.probe_structures
    if n_probes and (not spec.uses_memory or spec.mode == "mlp"):
        raise ValueError(f"probes need hashed memory tables; this model has mode={spec.mode!r}")
    # requested probes, or still-valid stored ones (same checkpoint, data, spec) to keep
    probe_cfg = probe_settings(
        n_probes, replace=settings.probe_replace, top_k=settings.probe_top_k,
        batch_size=settings.batch_size,
    ) if n_probes else old.get("settings", {}).get("probes")  # fmt: skip
    probes_fp = _fingerprint(ckpt, fingerprint, spec.to_dict(), probe_cfg) if probe_cfg else None
    probes_ok = probes_fp is not None and stages.get("probes") == probes_fp and has_probes(out)
    if not n_probes and not probes_ok:
        probe_cfg = probes_fp = None  # stale stored probes are dropped
    complete = all((out / n).is_file() for n in [*PARQUET_ARTIFACTS, "table_rows.npz"])
    up_to_date = bool(old) and stages.get("statistics") == stats_fp and complete
    return _Plan(
        census_fp=census_fp, stats_fp=stats_fp, stats_settings=stats_settings,
        probe_cfg=probe_cfg, probes_fp=probes_fp,
        reuse_census=not force and stages.get("census") == census_fp
        and (out / "census.npz").is_file(),
        reuse_probes=probes_ok and not (n_probes and force),
        up_to_date=not force and up_to_date and (probe_cfg is None or probes_ok),
    )  # fmt: skip


def _census(
    model: torch.nn.Module, source: StructureSource, selection: Any, spec: MotifMemorySpec,
    settings: AnalysisSettings, progress: Progress | None, tqdm_bar: bool,
) -> Census:  # fmt: skip
    """The census of ``selection`` (through the model, or graphs only for a baseline)."""
    kwargs = {"batch_size": settings.batch_size, "reservoir": settings.reservoir,
              "progress": progress, "tqdm_bar": tqdm_bar}  # fmt: skip
    if spec.uses_memory:
        return census_from_model(model, source, selection, spec, **kwargs)
    return census_from_graphs(source, selection, spec, **kwargs)


#: metrics note of the controls whose lookups ignore motif identity
_LOOKUP_NOTE = (
    "mode={mode}: bucket maps hash the motif keys with the spec's parameters; "
    "the model itself does not look rows up by motif identity"
)


def _probes(
    out: Path, stage: Path, model: torch.nn.Module, source: StructureSource, plan: _Plan,
    progress: Progress | None,
) -> dict[str, float]:  # fmt: skip
    """Store the probes in ``stage``: kept from ``out`` when still valid, else computed."""
    if plan.reuse_probes:
        copy_probes(out, stage)
        return {}
    t0 = time.perf_counter()
    write_probes(stage, compute_probes(model, source, plan.probe_cfg, progress=progress))
    return {"probes_s": time.perf_counter() - t0}


def run_analysis(
    checkpoint_or_model: str | Path | torch.nn.Module,
    data: str | Path | Sequence[str | Path] | StructureSource,
    out: str | Path,
    settings: AnalysisSettings | None = None,
    *,
    baseline: str | Path | torch.nn.Module | None = None,
    progress: Progress | None = None,
    force: bool = False,
    tqdm_bar: bool = True,
    census_file: str | Path | None = None,
) -> Path:
    """Compute (or reuse) the census and all artifacts; returns the run directory.

    ``data``: a path (folder of ``.aselmdb`` / ASE files), a list of them, or a
    ``StructureSource``; ``settings`` (default ``AnalysisSettings()``) go into the
    manifest; ``progress(fraction, message)`` runs 0..1 (census: the first 80 %); with a
    ``baseline``, GFRE/LFRE vs its node features go into metrics; ``force`` redoes all.
    ``census_file``: a census ``.npz`` computed elsewhere for this checkpoint, dataset, spec and
    census settings (``python -m analysis.distributed`` over many processes or nodes),
    used instead of computing one; anything else is refused (see :func:`census_identity`).
    """
    settings = settings or AnalysisSettings()
    out = Path(out)
    t_start = time.perf_counter()

    def report(frac: float, msg: str) -> None:
        if progress is not None:
            progress(float(min(max(frac, 0.0), 1.0)), msg)

    def sub(start: float, span: float, prefix: str = "") -> Progress | None:
        return None if progress is None else (lambda f, m: report(start + span * f, prefix + m))

    report(0.0, "loading model")
    model, ckpt = _open_model(checkpoint_or_model)
    spec = check_memory_tables(model)
    report(0.02, "opening dataset")
    source = data if isinstance(data, StructureSource) else StructureSource.open(
        [data] if isinstance(data, str | Path) else list(data)
    )  # fmt: skip
    fingerprint = source.fingerprint()
    plan = _plan(out, ckpt, fingerprint, spec, settings, baseline, force)
    given = None
    if census_file is not None:
        sha = ckpt.get("sha256") or ckpt.get("state_sha256")
        identity = census_identity(sha, fingerprint, spec, settings)
        given = _given_census(census_file, identity)
    if plan.up_to_date and given is None:
        report(1.0, "up to date")
        return out

    selection = select_structures(source, settings.max_per_family)
    timings: dict[str, float] = {}
    stage = staging_dir(out)  # the new run is built here and swapped in at the end
    t0 = time.perf_counter()
    if given is not None:
        if given.meta.get("n_structures") != len(selection):
            raise ValueError(
                f"census {census_file} counts {given.meta.get('n_structures')} structures, "
                f"this run selects {len(selection)}"
            )
        shutil.copy2(census_file, stage / "census.npz")
        census = given
    elif plan.reuse_census:
        census = Census.load(out / "census.npz")
        shutil.copy2(out / "census.npz", stage / "census.npz")
    else:
        census = _census(model, source, selection, spec, settings, sub(0.05, 0.75), tqdm_bar)
        census.save(stage / "census.npz")
        timings["census_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    metrics = write_artifacts(
        stage, census, spec, _table_rows(model), heldout=settings.heldout,
        sids=structure_sids(selection), embedding=settings.embedding,
        max_embedding_points=settings.max_embedding_points,
        progress=sub(0.8, 0.1 if plan.probe_cfg else 0.19),
    )  # fmt: skip
    timings["statistics_s"] = time.perf_counter() - t0
    if plan.probe_cfg is not None:
        timings |= _probes(out, stage, model, source, plan, sub(0.9, 0.09, "probes: "))
    if baseline is not None:
        t0 = time.perf_counter()
        report(0.99, "latent comparison (GFRE/LFRE)")
        n_latent = settings.latent_structures
        metrics["latent"] = _latent(model, baseline, source, selection, spec, n_latent)
        timings["latent_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start
    metrics["timings_s"].update(timings)
    if spec.mode in ("random_bucket", "mlp"):
        metrics["notes"] = [_LOOKUP_NOTE.format(mode=spec.mode)]
    atomic_write_json(stage / "metrics.json", metrics)
    write_manifest(stage, _manifest(stage, ckpt, source, fingerprint, selection, spec, census,
                                    settings, plan))  # fmt: skip
    replace_dir(stage, out)
    report(1.0, "done")
    return out


def _manifest(
    stage: Path, ckpt: dict, source: StructureSource, fingerprint: str, selection: Any,
    spec: MotifMemorySpec, census: Census, settings: AnalysisSettings, plan: _Plan,
) -> dict[str, Any]:  # fmt: skip
    """The manifest of the run in ``stage`` (written last)."""
    return {
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
            **settings.to_dict(),
            "baseline": plan.stats_settings["baseline"],
            **({"probes": plan.probe_cfg} if plan.probe_cfg else {}),
        },
        "families": census.families,
        "heldout_families": list(settings.heldout),
        "stages": {
            "census": plan.census_fp,
            "statistics": plan.stats_fp,
            **({"probes": plan.probes_fp} if plan.probes_fp else {}),
        },
        "artifacts": sorted(
            {p.name for p in stage.iterdir() if not p.name.startswith(".")} | {"manifest.json"}
        ),
    }


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
