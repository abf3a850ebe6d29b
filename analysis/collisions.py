"""Collision statistics of hashed motif tables and the table-size advisor.

For ``n`` distinct observed motifs hashed uniformly into ``M`` buckets, a given motif
shares its bucket with at least one other with probability ``p = 1 - (1 - 1/M)^(n-1)``
and the expected number of occupied buckets is ``M (1 - (1 - 1/M)^n)``. With ``H``
independent heads whose lookups are concatenated, a motif is *ambiguous* only if it
collides in every head: expected rate ``p^H``. Observed rates are exact (from the
census keys), expectations are the uniform-hashing reference.

>>> ids = np.array([[0, 1], [0, 2], [1, 2], [3, 3]])  # 4 motifs, 2 heads, M = 4
>>> s = collision_stats(ids, np.array([5, 3, 1, 1]), 4)
>>> s["motif_collision_rate"].tolist()  # head 0, head 1, combined
[0.5, 0.5, 0.25]
>>> s["max_load"].tolist()
[2, 2, 1]
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from pamm.spec import MotifMemorySpec

__all__ = [
    "advisor",
    "colliding",
    "collision_stats",
    "expected_collision_rate",
    "expected_occupied",
]


def expected_occupied(n: int, buckets: int) -> float:
    """E[occupied buckets] for ``n`` keys hashed uniformly into ``buckets``.

    >>> expected_occupied(1, 10), round(expected_occupied(2, 2), 3)
    (1.0, 1.5)
    """
    return float(buckets * -np.expm1(n * np.log1p(-1.0 / buckets))) if buckets > 1 else float(n > 0)


def expected_collision_rate(n: int, buckets: int, heads: int = 1) -> float:
    """P[a motif collides in all ``heads``] under uniform, independent hashing.

    >>> expected_collision_rate(2, 2), expected_collision_rate(2, 2, heads=2)
    (0.5, 0.25)
    """
    if n <= 1:
        return 0.0
    p = -np.expm1((n - 1) * np.log1p(-1.0 / buckets)) if buckets > 1 else 1.0
    return float(p**heads)


def colliding(ids: np.ndarray) -> np.ndarray:
    """Bool ``[K, H]``: motif k shares its head-h bucket with another motif."""
    ids = np.asarray(ids, np.int64)
    out = np.zeros(ids.shape, bool)
    for h in range(ids.shape[1]):
        _, inv, cnt = np.unique(ids[:, h], return_inverse=True, return_counts=True)
        out[:, h] = cnt[inv] > 1
    return out


def _tuple_code(ids: np.ndarray) -> np.ndarray:
    """Dense int64 id of each row's bucket tuple (equal rows <-> equal ids)."""
    if ids.shape[0] == 0:
        return np.zeros(0, np.int64)
    code = np.zeros(ids.shape[0], np.int64)
    for h in range(ids.shape[1]):
        code = np.unique(code * (int(ids[:, h].max()) + 1) + ids[:, h], return_inverse=True)[1]
    return code.astype(np.int64)


def _max_load(labels: np.ndarray) -> int:
    if len(labels) == 0:
        return 0
    return int(np.unique(labels, return_counts=True)[1].max())


def collision_stats(ids: np.ndarray, counts: np.ndarray, buckets: int) -> pd.DataFrame:
    """Per-head rows and one combined row (``head = -1``) of collision statistics.

    ``ids`` [K, H] bucket of each observed motif per head; ``counts`` [K] occurrences.
    The combined row counts a motif as colliding only if it collides in every head;
    its ``occupied`` / ``max_load`` refer to distinct full bucket tuples.
    """
    ids = np.asarray(ids, np.int64)
    counts = np.asarray(counts, np.int64)
    n, heads = ids.shape
    total = max(int(counts.sum()), 1)
    hit = colliding(ids)  # [K, H]
    rows = []
    for h in range(heads):
        rows.append(
            {
                "head": h,
                "occupied": len(np.unique(ids[:, h])),
                "max_load": _max_load(ids[:, h]),
                "motif_collision_rate": float(hit[:, h].mean()) if n else 0.0,
                "mass_collision_rate": float(counts[hit[:, h]].sum() / total),
                "expected_occupied": expected_occupied(n, buckets),
                "expected_collision_rate": expected_collision_rate(n, buckets),
            }
        )
    both = hit.all(axis=1)
    code = _tuple_code(ids)  # [K] one id per distinct bucket tuple
    rows.append(
        {
            "head": -1,
            "occupied": len(np.unique(code)),
            "max_load": _max_load(code),
            "motif_collision_rate": float(both.mean()) if n else 0.0,
            "mass_collision_rate": float(counts[both].sum() / total),
            "expected_occupied": float("nan"),
            "expected_collision_rate": expected_collision_rate(n, buckets, heads),
        }
    )
    frame = pd.DataFrame(rows)
    frame.insert(1, "buckets", buckets)
    frame.insert(2, "n_motifs", n)
    frame.insert(4, "load_factor", n / buckets)
    return frame.astype({"head": "int64", "occupied": "int64", "max_load": "int64"})


def advisor(
    table: str,
    keys: np.ndarray,
    counts: np.ndarray,
    spec: MotifMemorySpec,
    *,
    sizes: Iterable[int] | None = None,
    heads: Iterable[int] = (1, 2, 3, 4),
) -> pd.DataFrame:
    """Predicted combined collision rates for other table sizes / head counts.

    Exact: the observed ``keys`` are re-hashed with ``pamm.hashing`` for each candidate
    ``(M, H)`` (same seed as the checkpoint), so the prediction is what a model with that
    spec would see on this data. Columns of ``advisor.parquet``.
    """
    from analysis.motifs import bucket_ids, table_size

    current_m = table_size(table, spec)
    if sizes is None:
        sizes = sorted({2**p for p in range(8, 18)} | {current_m})
    rows = []
    for m in sizes:
        for h in heads:
            ids = bucket_ids(table, keys, spec, heads=h, buckets=m)
            stats = collision_stats(ids, counts, m).iloc[-1]
            rows.append(
                {
                    "table": table,
                    "buckets": int(m),
                    "heads": int(h),
                    "motif_collision_rate": float(stats["motif_collision_rate"]),
                    "mass_collision_rate": float(stats["mass_collision_rate"]),
                    "expected_collision_rate": float(stats["expected_collision_rate"]),
                    "is_current": bool(m == current_m and h == spec.heads),
                }
            )
    frame = pd.DataFrame(rows)
    frame["table"] = frame["table"].astype("string")
    return frame
