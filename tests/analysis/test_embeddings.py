"""2-D maps of table rows and nearest buckets."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.embeddings import nearest_buckets, project_2d


def test_pca_separates_two_clusters():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(10, 8)) * 0.1 + 5
    b = rng.normal(size=(10, 8)) * 0.1 - 5
    xy, method = project_2d(np.vstack([a, b]), method="pca")
    assert method == "pca" and xy.shape == (20, 2)
    assert np.sign(xy[:10, 0]).tolist() == [np.sign(xy[0, 0])] * 10
    assert np.sign(xy[10:, 0]).tolist() == [-np.sign(xy[0, 0])] * 10


def test_nearest_buckets_by_cosine():
    rows = np.zeros((2, 5, 3))
    rows[1, :, 0] = [1, 0.9, 0.0, -1, 0.5]
    rows[1, :, 1] = [0, 0.1, 1.0, 0, 0.5]
    near = nearest_buckets(rows, 1, 0, k=3)
    assert near["bucket"].tolist() == [1, 4, 2]
    assert near["cosine"].iloc[0] == pytest.approx(0.9 / np.hypot(0.9, 0.1))
    occ = np.ones((2, 5), bool)
    occ[1, 1] = False
    assert nearest_buckets(rows, 1, 0, k=1, occupied=occ)["bucket"].tolist() == [4]


@pytest.mark.slow
def test_umap_path_runs_on_enough_rows():
    # numba compiles UMAP on first use (tens of seconds on 2 loaded cores)
    rng = np.random.default_rng(0)
    rows = np.vstack([rng.normal(size=(20, 8)) + 4, rng.normal(size=(20, 8)) - 4])
    xy, method = project_2d(rows, min_umap=30)
    assert method == "umap" and xy.shape == (40, 2) and np.isfinite(xy).all()
    # the two clusters stay apart in the map
    gap = np.linalg.norm(xy[:20].mean(0) - xy[20:].mean(0))
    spread = max(xy[:20].std(0).max(), xy[20:].std(0).max())
    assert gap > 2 * spread
