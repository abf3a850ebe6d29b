"""Figures whose size depends on the data: the embedding map stays one trace when a
categorical colour has many values, and every point keeps its bucket for selections."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.figures import embedding_map


@pytest.fixture
def emb() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 300
    pairs = [f"E{a}-E{b}" for a in range(8) for b in range(8)]  # 64 categories
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "y": rng.normal(size=n),
            "bucket": np.arange(n) * 3,
            "dominant_label": [f"m{i}" for i in range(n)],
            "mass": rng.integers(1, 100, n),
            "purity": rng.random(n),
            "element_pair": pd.Series(rng.choice(pairs, n), dtype="string"),
            "bin_lo": rng.random(n),
        }
    )


def test_many_categories_give_one_trace_with_per_point_colours(emb):
    fig = embedding_map(emb, "element_pair", method="UMAP", max_legend=24)
    assert len(fig.data) == 1
    trace = fig.data[0]
    colours = list(trace.marker.color)
    assert len(colours) == len(emb)
    # same category -> same colour; the palette distinguishes categories
    by_pair = pd.DataFrame({"pair": emb["element_pair"], "colour": colours})
    assert (by_pair.groupby("pair")["colour"].nunique() == 1).all()
    assert by_pair["colour"].nunique() > 10
    assert [int(c[0]) for c in trace.customdata] == emb["bucket"].tolist()
    assert "element_pair" in trace.hovertemplate


def test_few_categories_keep_a_legend(emb):
    few = emb.assign(element_pair=emb["element_pair"].str[:2])  # 8 categories
    fig = embedding_map(few, "element_pair", method="PCA", max_legend=24)
    assert sorted(t.name for t in fig.data) == sorted(few["element_pair"].unique())
    buckets = sorted(int(c[0]) for t in fig.data for c in t.customdata)
    assert buckets == sorted(emb["bucket"])


def test_numeric_colour_is_one_trace_with_a_colour_scale(emb):
    fig = embedding_map(emb, "bin_lo", method="UMAP")
    assert len(fig.data) == 1
    np.testing.assert_allclose(np.asarray(fig.data[0].marker.color), emb["bin_lo"])
    assert fig.layout.xaxis.title.text == "UMAP 1"


def test_usage_heatmap_draws_buckets_as_equal_categorical_cells():
    """Bucket ids spread over 0..4,500 must not be placed on a numeric axis (cells of
    very different widths): one category per bucket, in the grid's order."""
    from analysis.frames import usage_grid
    from app.figures import usage_heatmap

    rng = np.random.default_rng(0)
    buckets = rng.choice(4500, size=50, replace=False)
    fu = pd.DataFrame(
        {
            "family": np.repeat(["rattled-300", "aimd-from-PBE-1000-npt"], 50),
            "bucket": np.tile(buckets, 2),
            "count": rng.integers(1, 100, 100),
        }
    )
    fu["share"] = fu["count"] / fu.groupby("family")["count"].transform("sum")
    grid = usage_grid(fu, top_n=50)
    fig = usage_heatmap(grid, {"aimd-from-PBE-1000-npt"})
    assert fig.layout.xaxis.type == "category"
    assert list(fig.data[0].x) == [str(b) for b in grid.columns]
    assert len(set(fig.data[0].x)) == 50
    totals = fu.groupby("bucket")["count"].sum()
    assert list(grid.columns) == totals.sort_values(ascending=False, kind="stable").index.tolist()
    assert "aimd-from-PBE-1000-npt (held out)" in list(fig.data[0].y)
