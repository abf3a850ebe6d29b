"""From a finished census (+ table contents) to every artifact of a run directory.

Pure statistics: no model, no dataset. ``write_artifacts`` computes the tables of
``analysis.schema`` and writes each one atomically; it returns the metrics dict.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.buckets import bucket_motifs, bucket_summary
from analysis.census import FAMILY_NAMES, Census
from analysis.collisions import advisor, collision_stats
from analysis.embeddings import embed_table
from analysis.families import family_divergence, family_usage
from analysis.gates import family_gate_summary, gate_ranking
from analysis.motifs import motif_family_table, motif_table, table_size
from analysis.schema import TABLES
from pamm.plumbing import atomic_write_npz, atomic_write_parquet
from pamm.spec import MotifMemorySpec

__all__ = ["examples_frame", "write_artifacts"]

Progress = Callable[[float, str], None]


def examples_frame(census: Census, sids: dict[int, str] | None = None) -> pd.DataFrame:
    """``examples.parquet``: the census reservoirs as one tidy table."""
    parts = []
    for table in TABLES:
        r = census.reservoirs[table]
        structure = r.structure
        sid = [str((sids or {}).get(int(s), s)) for s in structure]
        parts.append(
            pd.DataFrame(
                {
                    "table": table,
                    "key": r.key,
                    "structure": structure,
                    "sid": sid,
                    "family": np.array(FAMILY_NAMES, dtype=object)[r.family],
                    "centre": r.centre,
                    "neighbour": r.neighbour,
                    "partner": r.partner,
                    "offset_j": list(r.offset_j),
                    "offset_k": list(r.offset_k),
                    "gate": r.gate,
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    for col in ("table", "sid", "family"):
        frame[col] = frame[col].astype("string")
    return frame


def _occupied(buckets: pd.DataFrame, heads: int, m: int) -> np.ndarray:
    occ = np.zeros((heads, m), bool)
    occ[buckets["head"].to_numpy(), buckets["bucket"].to_numpy()] = True
    return occ


def write_artifacts(
    out: str | Path,
    census: Census,
    spec: MotifMemorySpec,
    rows: dict[str, np.ndarray] | None,
    *,
    heldout: tuple[str, ...] = (),
    sids: dict[int, str] | None = None,
    embedding: str = "auto",
    max_embedding_points: int = 2000,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write all statistics artifacts of ``census`` into ``out``; return the metrics.

    ``rows``: table contents ``{"pair": [H, M, D], "triplet": ...}`` (None or missing
    tables: the embedding of that table is empty, e.g. for a baseline model).
    """
    out = Path(out)
    timings: dict[str, float] = {}
    frames: dict[str, list[pd.DataFrame]] = {}
    metrics: dict[str, Any] = {"tables": {}}

    def add(name: str, frame: pd.DataFrame) -> None:
        frames.setdefault(name, []).append(frame)

    def step(i: int, n: int, what: str) -> None:
        if progress is not None:
            progress(i / n, what)

    rows = rows or {}
    npz: dict[str, np.ndarray] = {}
    n_steps = 2 * len(TABLES) + 1
    for t_i, table in enumerate(TABLES):
        t0 = time.perf_counter()
        step(2 * t_i, n_steps, f"{table}: motifs, buckets, collisions")
        m = table_size(table, spec)
        motifs = motif_table(census, table, spec, heldout)
        atomic_write_parquet(out / f"{table}_motifs.parquet", motifs)
        mf = motif_family_table(census, table)
        add("motif_families", mf)
        buckets = bucket_summary(motifs, table, spec.heads)
        add("buckets", buckets)
        add("bucket_motifs", bucket_motifs(motifs, table, spec.heads))
        ids = motifs[[f"bucket_{h}" for h in range(spec.heads)]].to_numpy()
        coll = collision_stats(ids, motifs["count"].to_numpy(), m)
        coll.insert(0, "table", pd.array([table] * len(coll), dtype="string"))
        add("collisions", coll)
        add("advisor", advisor(table, motifs["key"].to_numpy(), motifs["count"].to_numpy(), spec))
        timings[f"{table}_tables"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        step(2 * t_i + 1, n_steps, f"{table}: families, gates, embedding")
        add("family_usage", family_usage(census, table, spec))
        add("family_divergence", family_divergence(census, table, spec))
        occupied = _occupied(buckets, spec.heads, m)
        npz[f"{table}_occupied"] = occupied
        table_rows = rows.get(table)
        if table_rows is not None and len(buckets):
            npz[f"{table}_rows"] = np.asarray(table_rows, np.float32)
            emb = embed_table(
                table, npz[f"{table}_rows"], buckets, motifs,
                max_points=max_embedding_points, method=embedding,
            )  # fmt: skip
            add("embedding_2d", emb)
        else:
            npz[f"{table}_rows"] = np.zeros((spec.heads, 0, spec.head_dim), np.float32)
        ranking = gate_ranking(motifs, n=10, min_count=5)
        combined = coll[coll["head"] == -1].iloc[0]
        metrics["tables"][table] = {
            "n_motifs": len(motifs),
            "n_occurrences": int(motifs["count"].sum()),
            "buckets": m,
            "heads": spec.heads,
            "occupied_per_head": coll[coll["head"] >= 0]["occupied"].tolist(),
            "occupancy": float(coll[coll["head"] >= 0]["occupied"].mean() / m) if m else 0.0,
            "combined_motif_collision_rate": float(combined["motif_collision_rate"]),
            "combined_mass_collision_rate": float(combined["mass_collision_rate"]),
            "heldout_only_motifs": int(motifs["heldout_only"].sum()),
            "gate_mean": _weighted_mean(motifs),
            "most_gated": ranking[ranking["rank_group"] == "most"]["label"].astype(str).tolist(),
            "least_gated": ranking[ranking["rank_group"] == "least"]["label"].astype(str).tolist(),
        }
        timings[f"{table}_families_gates_embedding"] = time.perf_counter() - t0

    step(n_steps - 1, n_steps, "examples and table rows")
    for name, parts in frames.items():
        atomic_write_parquet(out / f"{name}.parquet", pd.concat(parts, ignore_index=True))
    if "embedding_2d" not in frames:
        atomic_write_parquet(out / "embedding_2d.parquet", _empty_embedding())
    atomic_write_parquet(out / "examples.parquet", examples_frame(census, sids))
    atomic_write_npz(out / "table_rows.npz", **npz)
    mf_all = pd.concat(frames["motif_families"], ignore_index=True)
    metrics["family_gates"] = family_gate_summary(mf_all).to_dict(orient="records")
    metrics["structures_per_family"] = {
        FAMILY_NAMES[i]: int(c) for i, c in enumerate(census.structures_per_family) if c
    }
    metrics["has_gate"] = census.has_gate
    metrics["timings_s"] = timings
    return metrics


def _weighted_mean(motifs: pd.DataFrame) -> float | None:
    ok = motifs["gate_mean"].notna()
    if not ok.any():
        return None
    return float(np.average(motifs.loc[ok, "gate_mean"], weights=motifs.loc[ok, "count"]))


def _empty_embedding() -> pd.DataFrame:
    from analysis.schema import PARQUET_ARTIFACTS

    cols = {}
    for c in PARQUET_ARTIFACTS["embedding_2d.parquet"]:
        cols[c.name] = pd.Series(dtype="string" if c.dtype == "string" else c.dtype)
    return pd.DataFrame(cols)
