"""Figures whose cost depends on the data's shape, built here so they can be tested.

Pages wrap them in :func:`app.widgets.cached_figure`.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

__all__ = ["MAX_LEGEND_CATEGORIES", "embedding_map"]

#: above this many categories a map is one trace coloured point by point (no legend):
#: one trace per category (~130 element pairs in the demo) takes seconds to build in
#: plotly express and seconds more for the browser to draw its legend
MAX_LEGEND_CATEGORIES = 24


def embedding_map(
    emb: pd.DataFrame, colour: str, *, method: str, max_legend: int = MAX_LEGEND_CATEGORIES
) -> go.Figure:
    """2-D map of table rows (``x``, ``y``, ``bucket``, ...) coloured by column ``colour``.

    Every point carries its bucket as ``customdata[0]`` (selections read it).

    >>> emb = pd.DataFrame({"x": [0.0, 1.0], "y": [1.0, 0.0], "bucket": [3, 7],
    ...     "dominant_label": ["a", "b"], "mass": [5, 2], "purity": [1.0, 0.5],
    ...     "element_pair": ["O-Fe", "O-O"]})
    >>> [t.name for t in embedding_map(emb, "element_pair", method="UMAP").data]
    ['O-Fe', 'O-O']
    >>> len(embedding_map(emb, "element_pair", method="UMAP", max_legend=1).data)
    1
    """
    numeric = emb[colour].dtype.kind in "biuf"
    many = not numeric and emb[colour].nunique() > max_legend
    fig = px.scatter(
        emb,
        x="x",
        y="y",
        color=None if many else colour,
        custom_data=["bucket"],
        hover_data=["bucket", "dominant_label", "mass", "purity", *([colour] if many else [])],
        labels={"x": f"{method} 1", "y": f"{method} 2"},
    )
    marker: dict = {"size": 7}
    if many:
        codes, _ = pd.factorize(emb[colour], sort=True)  # (n,) category index per point
        palette = px.colors.qualitative.Alphabet
        marker["color"] = [palette[c % len(palette)] for c in codes]
    fig.update_traces(marker=marker)
    fig.update_layout(height=520, margin={"t": 10, "b": 10})
    return fig
