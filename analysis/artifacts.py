"""From a finished census (+ table contents) to every artifact of a run directory.

Pure statistics: no model, no dataset. ``BUILDERS`` maps each stacked Parquet artifact
to the function that builds its rows for one motif table; ``write_artifacts`` runs them
for both tables, writes every file atomically and returns the metrics dict.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
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
from analysis.schema import PARQUET_ARTIFACTS, TABLES
from pamm.plumbing import atomic_write_npz, atomic_write_parquet
from pamm.spec import MotifMemorySpec

__all__ = ["BUILDERS", "examples_frame", "write_artifacts"]

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


@dataclass
class _Table:
    """What the builders of one motif table share (each computed once)."""

    table: str
    census: Census
    spec: MotifMemorySpec
    heldout: tuple[str, ...]
    rows: np.ndarray | None  # [H, M, D] table contents, None if the model has none
    embedding: str
    max_embedding_points: int

    @cached_property
    def buckets_m(self) -> int:
        return table_size(self.table, self.spec)

    @cached_property
    def motifs(self) -> pd.DataFrame:
        return motif_table(self.census, self.table, self.spec, self.heldout)

    @cached_property
    def buckets(self) -> pd.DataFrame:
        return bucket_summary(self.motifs, self.table, self.spec.heads)

    @cached_property
    def collisions(self) -> pd.DataFrame:
        ids = self.motifs[[f"bucket_{h}" for h in range(self.spec.heads)]].to_numpy()
        coll = collision_stats(ids, self.motifs["count"].to_numpy(), self.buckets_m)
        coll.insert(0, "table", pd.array([self.table] * len(coll), dtype="string"))
        return coll

    @cached_property
    def occupied(self) -> np.ndarray:
        occ = np.zeros((self.spec.heads, self.buckets_m), bool)  # [H, M]
        occ[self.buckets["head"].to_numpy(), self.buckets["bucket"].to_numpy()] = True
        return occ


def _embedding(t: _Table) -> pd.DataFrame | None:
    if t.rows is None or not len(t.buckets):
        return None
    return embed_table(t.table, np.asarray(t.rows, np.float32), t.buckets, t.motifs,
                       max_points=t.max_embedding_points, method=t.embedding)  # fmt: skip


#: Parquet artifact -> its builder for one motif table (the tables' frames are stacked)
BUILDERS: dict[str, Callable[[_Table], pd.DataFrame | None]] = {
    "motif_families.parquet": lambda t: motif_family_table(t.census, t.table),
    "buckets.parquet": lambda t: t.buckets,
    "bucket_motifs.parquet": lambda t: bucket_motifs(t.motifs, t.table, t.spec.heads),
    "collisions.parquet": lambda t: t.collisions,
    "advisor.parquet": lambda t: advisor(
        t.table, t.motifs["key"].to_numpy(), t.motifs["count"].to_numpy(), t.spec
    ),
    "family_usage.parquet": lambda t: family_usage(t.census, t.table, t.spec),
    "family_divergence.parquet": lambda t: family_divergence(t.census, t.table, t.spec),
    "embedding_2d.parquet": _embedding,
}


def _table_metrics(t: _Table) -> dict[str, Any]:
    """The table's entry in ``metrics.json["tables"]``."""
    coll, motifs = t.collisions, t.motifs
    per_head = coll[coll["head"] >= 0]["occupied"]
    combined = coll[coll["head"] == -1].iloc[0]
    ranking = gate_ranking(motifs, n=10, min_count=5)
    return {
        "n_motifs": len(motifs),
        "n_occurrences": int(motifs["count"].sum()),
        "buckets": t.buckets_m,
        "heads": t.spec.heads,
        "occupied_per_head": per_head.tolist(),
        "occupancy": float(per_head.mean() / t.buckets_m) if t.buckets_m else 0.0,
        "combined_motif_collision_rate": float(combined["motif_collision_rate"]),
        "combined_mass_collision_rate": float(combined["mass_collision_rate"]),
        "heldout_only_motifs": int(motifs["heldout_only"].sum()),
        "gate_mean": _weighted_mean(motifs),
        "most_gated": ranking[ranking["rank_group"] == "most"]["label"].astype(str).tolist(),
        "least_gated": ranking[ranking["rank_group"] == "least"]["label"].astype(str).tolist(),
    }


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
    """Write all statistics artifacts of ``census`` into ``out`` (:data:`BUILDERS`, the
    motif tables, examples, table rows); return the metrics.

    ``rows``: table contents ``{"pair": [H, M, D], "triplet": ...}`` (None or missing
    tables: the embedding of that table is empty, e.g. for a baseline model).
    """
    out, rows = Path(out), rows or {}
    frames: dict[str, list[pd.DataFrame]] = {name: [] for name in BUILDERS}
    metrics: dict[str, Any] = {"tables": {}, "timings_s": {}}
    npz: dict[str, np.ndarray] = {}
    for t_i, table in enumerate(TABLES):
        t0 = time.perf_counter()
        if progress is not None:
            progress(t_i / (len(TABLES) + 1), f"{table}: motifs, buckets, families, embedding")
        t = _Table(table, census, spec, heldout, rows.get(table), embedding, max_embedding_points)
        atomic_write_parquet(out / f"{table}_motifs.parquet", t.motifs)
        for name, build in BUILDERS.items():
            frame = build(t)
            if frame is not None:
                frames[name].append(frame)
        npz[f"{table}_occupied"] = t.occupied
        has_rows = t.rows is not None and len(t.buckets)
        npz[f"{table}_rows"] = (
            np.asarray(t.rows, np.float32) if has_rows
            else np.zeros((spec.heads, 0, spec.head_dim), np.float32)
        )  # fmt: skip
        metrics["tables"][table] = _table_metrics(t)
        metrics["timings_s"][f"{table}_statistics"] = time.perf_counter() - t0

    if progress is not None:
        progress(len(TABLES) / (len(TABLES) + 1), "examples and table rows")
    for name, parts in frames.items():
        frame = pd.concat(parts, ignore_index=True) if parts else _empty(name)
        atomic_write_parquet(out / name, frame)
    atomic_write_parquet(out / "examples.parquet", examples_frame(census, sids))
    atomic_write_npz(out / "table_rows.npz", **npz)
    mf_all = pd.concat(frames["motif_families.parquet"], ignore_index=True)
    metrics["family_gates"] = family_gate_summary(mf_all).to_dict(orient="records")
    metrics["structures_per_family"] = {
        FAMILY_NAMES[i]: int(c) for i, c in enumerate(census.structures_per_family) if c
    }
    metrics["has_gate"] = census.has_gate
    return metrics


def _weighted_mean(motifs: pd.DataFrame) -> float | None:
    ok = motifs["gate_mean"].notna()
    if not ok.any():
        return None
    return float(np.average(motifs.loc[ok, "gate_mean"], weights=motifs.loc[ok, "count"]))


def _empty(name: str) -> pd.DataFrame:
    """An artifact with its schema's columns and no rows (e.g. no embedding)."""
    cols = {}
    for c in PARQUET_ARTIFACTS[name]:
        cols[c.name] = pd.Series(dtype="string" if c.dtype == "string" else c.dtype)
    return pd.DataFrame(cols)
