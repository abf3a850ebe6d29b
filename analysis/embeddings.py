"""2-D maps of occupied table rows (UMAP, PCA fallback) and nearest buckets by cosine.

Only occupied rows (buckets that at least one observed motif hashes to) are embedded,
capped at ``max_points`` by mass, so the cost does not depend on the table size. UMAP
(umap-learn) needs a few dozen points; below ``min_umap`` rows, or if asked, a PCA via
SVD is used instead. Each point carries its dominant motif's attributes for colouring.

>>> rows = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
>>> xy, method = project_2d(rows)
>>> xy.shape, method
((5, 2), 'pca')
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

__all__ = ["embed_table", "nearest_buckets", "project_2d"]


def project_2d(
    rows: np.ndarray, *, method: str = "auto", min_umap: int = 30, seed: int = 0
) -> tuple[np.ndarray, str]:
    """Project ``rows`` [N, D] to [N, 2]: UMAP (cosine) when ``N >= min_umap``, else PCA."""
    rows = np.asarray(rows, np.float64)
    if method not in ("auto", "umap", "pca"):
        raise ValueError(f"method={method!r} must be 'auto', 'umap' or 'pca'")
    n = rows.shape[0]
    if method == "umap" or (method == "auto" and n >= min_umap):
        import umap  # heavy import (numba): only when used

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reducer = umap.UMAP(
                n_components=2,
                n_neighbors=min(15, max(2, n - 1)),
                metric="cosine",
                random_state=seed,
                n_jobs=1,
            )
            return reducer.fit_transform(rows), "umap"
    centred = rows - rows.mean(axis=0, keepdims=True)  # [N, D]
    if n < 2:
        return np.zeros((n, 2)), "pca"
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    xy = u[:, :2] * s[:2]  # [N, <=2]
    if xy.shape[1] < 2:
        xy = np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))
    return xy, "pca"


def embed_table(
    table: str,
    rows: np.ndarray,
    buckets: pd.DataFrame,
    motifs: pd.DataFrame,
    *,
    max_points: int = 2000,
    method: str = "auto",
    seed: int = 0,
) -> pd.DataFrame:
    """``embedding_2d.parquet`` rows for one table.

    ``rows`` [H, M, D] table contents; ``buckets`` / ``motifs``: this table's rows of
    ``buckets.parquet`` / ``{table}_motifs.parquet``.
    """
    occ = buckets.sort_values("mass", ascending=False).head(max_points)
    vecs = rows[occ["head"].to_numpy(), occ["bucket"].to_numpy()]  # [N, D]
    xy, used = project_2d(vecs, method=method, seed=seed)
    attrs = motifs.set_index("key")
    dom = occ["dominant_key"].to_numpy()
    labels = attrs.loc[dom, "label"].astype(str).to_numpy()
    element = np.array([lab.split(" ")[0] for lab in labels], dtype=object)
    return pd.DataFrame(
        {
            "table": pd.array([table] * len(occ), dtype="string"),
            "head": occ["head"].to_numpy(np.int64),
            "bucket": occ["bucket"].to_numpy(np.int64),
            "x": xy[:, 0].astype(np.float64),
            "y": xy[:, 1].astype(np.float64),
            "method": pd.array([used] * len(occ), dtype="string"),
            "mass": occ["mass"].to_numpy(np.int64),
            "purity": occ["purity"].to_numpy(np.float64),
            "dominant_label": pd.array(labels, dtype="string"),
            "element_pair": pd.array(element, dtype="string"),
            "bin_lo": attrs.loc[dom, "bin_lo"].to_numpy(np.float64),
        }
    )


def nearest_buckets(
    rows: np.ndarray, head: int, bucket: int, *, k: int = 10, occupied: np.ndarray | None = None
) -> pd.DataFrame:
    """The ``k`` buckets of the same head whose rows are most cosine-similar to ``bucket``.

    ``rows`` [H, M, D]; ``occupied`` optional bool [H, M] restricting the candidates.

    >>> r = np.zeros((1, 3, 2)); r[0, :, 0] = 1; r[0, 2] = [0, 1]
    >>> nearest_buckets(r, 0, 0, k=2)["bucket"].tolist()
    [1, 2]
    """
    table = np.asarray(rows[head], np.float64)  # [M, D]
    if not 0 <= bucket < table.shape[0]:
        raise IndexError(f"bucket {bucket} outside [0, {table.shape[0]})")
    norm = np.linalg.norm(table, axis=1).clip(1e-12)  # [M]
    sim = table @ table[bucket] / (norm * norm[bucket])  # [M]
    cand = np.ones(len(sim), bool) if occupied is None else np.asarray(occupied[head], bool).copy()
    cand[bucket] = False
    idx = np.flatnonzero(cand)
    top = idx[np.argsort(-sim[idx], kind="stable")[:k]]
    return pd.DataFrame({"head": head, "bucket": top, "cosine": sim[top]})
