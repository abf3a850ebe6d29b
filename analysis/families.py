"""Family usage: bucket-usage distributions per family, their Jensen–Shannon divergences,
and the buckets / motifs most specific to a family.

The JSD is in bits (base 2), so it lies in [0, 1]: 0 for identical bucket usage and 1
for disjoint usage.

>>> jensen_shannon(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]))[0].tolist()
[0.0, 1.0, 0.0]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.census import FAMILY_NAMES, Census
from analysis.motifs import bucket_ids, family_matrix, table_size
from pamm.spec import MotifMemorySpec

__all__ = [
    "family_divergence",
    "family_usage",
    "jensen_shannon",
    "specific_buckets",
    "specific_motifs",
]


def jensen_shannon(dist: np.ndarray) -> np.ndarray:
    """Pairwise JSD (bits) ``[F, F]`` of the rows of ``dist`` ``[F, M]`` (normalised by
    scipy): the square of ``scipy.spatial.distance.jensenshannon(..., base=2)``.

    >>> jensen_shannon(np.array([[1, 0], [0, 1], [1, 1]])).round(3).tolist()
    [[0.0, 1.0, 0.311], [1.0, 0.0, 0.311], [0.311, 0.311, 0.0]]
    """
    from scipy.spatial.distance import jensenshannon

    dist = np.asarray(dist, np.float64)  # [F, M]
    distance = jensenshannon(dist[:, None, :], dist[None, :, :], base=2, axis=-1)  # [F, F]
    return np.clip(distance**2, 0.0, 1.0)


def _usage_matrix(
    census: Census, table: str, spec: MotifMemorySpec
) -> tuple[list[str], np.ndarray]:
    """(families present, counts [H, F', M]) of bucket usage per head and family."""
    keys, fam = family_matrix(census, table)  # [K], [K, F]
    present = np.flatnonzero(fam.sum(axis=0))
    ids = bucket_ids(table, keys, spec)  # [K, H]
    m = table_size(table, spec)
    out = np.zeros((ids.shape[1], len(present), m), np.int64)
    for h in range(ids.shape[1]):
        for f_out, f in enumerate(present):
            out[h, f_out] = np.bincount(ids[:, h], weights=fam[:, f], minlength=m)
    return [FAMILY_NAMES[f] for f in present], out


def family_usage(census: Census, table: str, spec: MotifMemorySpec) -> pd.DataFrame:
    """Non-zero bucket usage per (head, family): ``family_usage.parquet`` rows."""
    names, usage = _usage_matrix(census, table, spec)
    rows = []
    for h in range(usage.shape[0]):
        for f, name in enumerate(names):
            b = np.flatnonzero(usage[h, f])
            c = usage[h, f, b]
            rows.append(
                pd.DataFrame(
                    {"head": h, "family": name, "bucket": b, "count": c, "share": c / c.sum()}
                )
            )
    frame = pd.concat(rows, ignore_index=True) if rows else _empty_usage()
    frame.insert(0, "table", table)
    return frame.astype({"table": "string", "family": "string", "head": "int64"})


def _empty_usage() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "head": pd.Series(dtype="int64"),
            "family": pd.Series(dtype="string"),
            "bucket": pd.Series(dtype="int64"),
            "count": pd.Series(dtype="int64"),
            "share": pd.Series(dtype="float64"),
        }
    )


def family_divergence(census: Census, table: str, spec: MotifMemorySpec) -> pd.DataFrame:
    """Long JSD matrix per head (``family_divergence.parquet``), all ordered family pairs."""
    names, usage = _usage_matrix(census, table, spec)
    rows = []
    for h in range(usage.shape[0]):
        jsd = jensen_shannon(usage[h])
        for a, fa in enumerate(names):
            for b, fb in enumerate(names):
                rows.append((table, h, fa, fb, float(jsd[a, b])))
    frame = pd.DataFrame(rows, columns=["table", "head", "family_a", "family_b", "jsd"])
    return frame.astype(
        {"table": "string", "head": "int64", "family_a": "string", "family_b": "string"}
    )


def _specific(frame: pd.DataFrame, item: str, family: str, n: int, min_count: int) -> pd.DataFrame:
    """Rank ``item`` rows by log2 lift of ``family``'s share over the other families'."""
    wide = frame.pivot_table(index=item, columns="family", values="count", aggfunc="sum").fillna(0)
    if family not in wide.columns:
        raise KeyError(f"family {family!r} not in census; present: {list(wide.columns)}")
    own = wide[family]
    rest = wide.drop(columns=family).sum(axis=1)
    p_own = (own + 0.5) / (own.sum() + 0.5 * len(wide))
    p_rest = (rest + 0.5) / (rest.sum() + 0.5 * len(wide))
    out = pd.DataFrame({"count": own, "other_count": rest, "log2_lift": np.log2(p_own / p_rest)})
    out = out[out["count"] >= min_count]
    return out.sort_values("log2_lift", ascending=False).head(n).reset_index()


def specific_buckets(
    usage: pd.DataFrame, family: str, *, head: int = 0, n: int = 20, min_count: int = 5
) -> pd.DataFrame:
    """Buckets most specific to ``family`` (from ``family_usage.parquet`` rows of one table)."""
    return _specific(usage[usage["head"] == head], "bucket", family, n, min_count)


def specific_motifs(
    motif_families: pd.DataFrame, family: str, *, n: int = 20, min_count: int = 5
) -> pd.DataFrame:
    """Motifs most specific to ``family`` (from ``motif_families.parquet`` rows of one table)."""
    return _specific(motif_families, "key", family, n, min_count)
