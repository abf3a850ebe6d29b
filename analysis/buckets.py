"""Bucket → motif maps: observed (with mass shares and purity) and exact over the key space.

Observed map: every (table, head, bucket) with the motifs that landed there, each motif's
share of the bucket mass, and the bucket's purity (dominant motif share). Theoretical
map: because the key space is finite, ``key_space`` enumerates it (optionally restricted
to some elements) and ``inverse_map`` returns, for each bucket, every key hashing there.

>>> from pamm.spec import MotifMemorySpec
>>> spec = MotifMemorySpec(pair_buckets=16, heads=1)
>>> inv = inverse_map("pair", spec, elements=[1, 8])
>>> len(inv) == len(key_space("pair", spec, elements=[1, 8]))
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.motifs import bucket_ids, table_size
from pamm.keys import MAX_Z, pack_pair_key, pack_triplet_key
from pamm.spec import MotifMemorySpec

__all__ = ["bucket_motifs", "bucket_summary", "inverse_map", "key_space"]


def bucket_motifs(motifs: pd.DataFrame, table: str, heads: int) -> pd.DataFrame:
    """Long map (``bucket_motifs.parquet``): table, head, bucket, key, label, count, share."""
    parts = []
    for h in range(heads):
        part = motifs[["key", "label", "count", f"bucket_{h}"]].rename(
            columns={f"bucket_{h}": "bucket"}
        )
        part.insert(0, "head", h)
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    mass = frame.groupby(["head", "bucket"])["count"].transform("sum")
    frame["share"] = frame["count"] / mass.clip(lower=1)
    frame.insert(0, "table", pd.array([table] * len(frame), dtype="string"))
    frame = frame.sort_values(
        ["head", "bucket", "count", "key"], ascending=[True, True, False, True], kind="stable"
    )
    return frame[["table", "head", "bucket", "key", "label", "count", "share"]].reset_index(
        drop=True
    )


def bucket_summary(motifs: pd.DataFrame, table: str, heads: int) -> pd.DataFrame:
    """One row per occupied bucket (``buckets.parquet``)."""
    long = bucket_motifs(motifs, table, heads)  # sorted: dominant motif first per bucket
    gate = motifs.set_index("key")["gate_mean"]
    long["gate_w"] = long["key"].map(gate).to_numpy() * long["count"].to_numpy()
    grouped = long.groupby(["head", "bucket"], sort=True)
    first = grouped.first()
    out = pd.DataFrame(
        {
            "n_motifs": grouped.size(),
            "mass": grouped["count"].sum(),
            "purity": first["share"],
            "dominant_key": first["key"],
            "dominant_label": first["label"],
            "gate_mean": grouped["gate_w"].sum(min_count=1) / grouped["count"].sum().clip(lower=1),
        }
    ).reset_index()
    out.insert(0, "table", pd.array([table] * len(out), dtype="string"))
    return out.astype({"n_motifs": "int64", "mass": "int64", "dominant_key": "int64"})


def key_space(
    table: str, spec: MotifMemorySpec, *, elements: Sequence[int] | None = None
) -> np.ndarray:
    """Every packed key of ``table`` over ``elements`` (default: all Z < 128), sorted.

    The full triplet space is 128^3 · n_θ ≈ 38 M keys: restrict ``elements`` for speed.
    """
    z = np.arange(MAX_Z) if elements is None else np.unique(np.asarray(elements, np.int64))
    if table == "pair":
        zj, zi, b = np.meshgrid(z, z, np.arange(spec.n_pair_bins), indexing="ij")
        keys = pack_pair_key(zj.ravel(), zi.ravel(), b.ravel())
    elif table == "triplet":
        zj, zi, zk, b = np.meshgrid(z, z, z, np.arange(spec.n_angle_bins), indexing="ij")
        keys = pack_triplet_key(zj.ravel(), zi.ravel(), zk.ravel(), b.ravel())
    else:
        raise ValueError(f"table must be 'pair' or 'triplet', got {table!r}")
    return np.sort(np.asarray(keys, np.int64))


def inverse_map(
    table: str,
    spec: MotifMemorySpec,
    *,
    elements: Sequence[int] | None = None,
    chunk: int = 4_000_000,
) -> pd.DataFrame:
    """Exact bucket → key map over the key space: columns ``head, bucket, key``.

    Sorted by (head, bucket, key); ``frame.groupby(["head", "bucket"]).size()`` gives the
    pre-image size of every bucket (the theoretical load under this hash).
    """
    keys = key_space(table, spec, elements=elements)
    parts = []
    for start in range(0, len(keys), chunk):
        k = keys[start : start + chunk]
        parts.append(bucket_ids(table, k, spec))  # [n, H]
    ids = np.concatenate(parts) if parts else np.zeros((0, spec.heads), np.int64)
    frames = []
    for h in range(ids.shape[1]):
        order = np.lexsort((keys, ids[:, h]))
        frames.append(pd.DataFrame({"head": h, "bucket": ids[order, h], "key": keys[order]}))
    frame = pd.concat(frames, ignore_index=True)
    m = table_size(table, spec)
    if len(frame) and (frame["bucket"].max() >= m or frame["bucket"].min() < 0):
        raise RuntimeError(f"hash produced a bucket outside [0, {m})")
    return frame
