"""Gate statistics: which motifs the model leans on most and least, per-family gates.

The gate ``g`` of the fusion (per edge, averaged over its width) says how much of the
memory's value vector enters ``x_edge``; a motif's gate is the mean over its
occurrences (triplet occurrences carry the gate of their edge j -> i).

>>> m = pd.DataFrame({"key": [1, 2, 3], "label": ["a", "b", "c"], "count": [10, 10, 1],
...                   "gate_mean": [0.9, 0.1, 0.99], "gate_std": [0.0, 0.0, 0.0]})
>>> gate_ranking(m, n=1, min_count=5)["label"].tolist()
['a', 'b']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["family_gate_summary", "gate_histogram", "gate_ranking"]


def gate_ranking(motifs: pd.DataFrame, *, n: int = 20, min_count: int = 10) -> pd.DataFrame:
    """Top-``n`` and bottom-``n`` motifs by mean gate (count >= ``min_count``).

    Returns the motif rows with a ``rank_group`` column (``"most"`` / ``"least"``).
    """
    ok = motifs[(motifs["count"] >= min_count) & motifs["gate_mean"].notna()]
    ordered = ok.sort_values(["gate_mean", "count"], ascending=[False, False])
    most = ordered.head(n).assign(rank_group="most")
    least = ordered.iloc[::-1].head(n).assign(rank_group="least")
    least = least[~least["key"].isin(most["key"])]
    return pd.concat([most, least], ignore_index=True)


def family_gate_summary(motif_families: pd.DataFrame) -> pd.DataFrame:
    """Occurrence-weighted gate mean, std and quantiles per (table, family).

    The std combines within-motif and between-motif variance (law of total variance).
    """
    rows = []
    for (table, family), grp in motif_families.groupby(["table", "family"], sort=True):
        w = grp["count"].to_numpy(np.float64)
        mu = grp["gate_mean"].to_numpy(np.float64)
        sd = grp["gate_std"].to_numpy(np.float64)
        if not np.isfinite(mu).any() or w.sum() == 0:
            continue
        mean = float(np.average(mu, weights=w))
        var = float(np.average(sd**2 + (mu - mean) ** 2, weights=w))
        order = np.argsort(mu)
        cdf = np.cumsum(w[order]) / w.sum()
        q = {f"q{int(p * 100):02d}": float(mu[order][np.searchsorted(cdf, p)]) for p in
             (0.1, 0.5, 0.9)}  # fmt: skip
        rows.append(
            {"table": table, "family": family, "count": int(w.sum()), "gate_mean": mean,
             "gate_std": var**0.5, **q}
        )  # fmt: skip
    return pd.DataFrame(rows)


def gate_histogram(motif_families: pd.DataFrame, *, bins: int = 20) -> pd.DataFrame:
    """Occurrence-weighted histogram of motif mean gates per (table, family): long format."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows = []
    for (table, family), grp in motif_families.groupby(["table", "family"], sort=True):
        ok = grp["gate_mean"].notna()
        hist, _ = np.histogram(grp.loc[ok, "gate_mean"], bins=edges, weights=grp.loc[ok, "count"])
        total = max(hist.sum(), 1)
        rows.append(
            pd.DataFrame({"table": table, "family": family, "gate_lo": edges[:-1],
                          "gate_hi": edges[1:], "share": hist / total})
        )  # fmt: skip
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
