"""Every figure of the dashboard, built from ``analysis`` frames (pages only place them).

Pure functions of their inputs, so they can be tested and cached: pages wrap them in
:func:`app.widgets.cached_figure` with a key naming every input.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "MAX_LEGEND_CATEGORIES",
    "advisor_chart",
    "agreement_scatter",
    "bucket_map",
    "bucket_shares",
    "embedding_map",
    "family_usage_bar",
    "gate_effect_scatter",
    "gate_histogram",
    "gate_per_family",
    "jsd_heatmap",
    "mass_histogram",
    "profile_chart",
    "reliance_bars",
    "usage_heatmap",
]

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


def _compact(fig: go.Figure, height: int) -> go.Figure:
    fig.update_layout(height=height, margin={"t": 10, "b": 10})
    return fig


def advisor_chart(adv: pd.DataFrame) -> go.Figure:
    """Motifs ambiguous in every head vs table size M, one line per head count H, one
    facet per table; a star at the checkpoint's own (M, H)."""
    fig = px.line(
        adv.sort_values("buckets"), x="buckets", y="motif_collision_rate", color="heads",
        facet_col="table", markers=True, log_x=True,
        labels={"motif_collision_rate": "motifs ambiguous in every head"},
    )  # fmt: skip
    for _, row in adv[adv["is_current"]].iterrows():
        col = 1 if row["table"] == "pair" else 2
        fig.add_scatter(
            x=[row["buckets"]], y=[row["motif_collision_rate"]], mode="markers",
            marker={"size": 14, "symbol": "star", "color": "black"}, name="this checkpoint",
            showlegend=col == 1, row=1, col=col,
        )  # fmt: skip
    return fig


def gate_histogram(frame: pd.DataFrame, column: str, *, colour: str | None = None,
                   title: str = "gate", nbins: int = 20) -> go.Figure:  # fmt: skip
    """Histogram of a gate column (overlaid per ``colour`` group when given)."""
    fig = px.histogram(frame, x=column, color=colour, nbins=nbins, barmode="overlay",
                       opacity=0.7 if colour else None)  # fmt: skip
    fig.update_layout(xaxis_title=title)
    return _compact(fig, 260)


def gate_per_family(mf: pd.DataFrame) -> go.Figure:
    """Mean ± std gate of one motif per family (rows of ``motif_families``)."""
    fig = px.bar(mf, x="family", y="gate_mean", error_y="gate_std", hover_data=["count"])
    fig.update_layout(yaxis_title="gate mean ± std")
    return _compact(fig, 260)


def bucket_shares(here: pd.DataFrame) -> go.Figure:
    """Share of a bucket's mass per motif hashed there (rows of ``bucket_motifs``)."""
    fig = px.bar(here, x="share", y="label", orientation="h")
    fig.update_layout(yaxis_title="")
    return _compact(fig, 40 + 28 * len(here))


def family_usage_bar(fu: pd.DataFrame) -> go.Figure:
    """Occurrences per family landing in one bucket (rows of ``family_usage``)."""
    return _compact(px.bar(fu, x="family", y="count", hover_data=["share"]), 260)


def mass_histogram(buckets: pd.DataFrame, bucket: int, mass: float) -> go.Figure:
    """Bucket masses of one (table, head), with ``bucket``'s marked."""
    fig = px.histogram(buckets, x="mass", nbins=40, log_y=True)
    fig.add_vline(x=float(mass), line_color="red", annotation_text=f"bucket {bucket}")
    fig.update_layout(xaxis_title="bucket mass")
    return _compact(fig, 220)


def bucket_map(emb: pd.DataFrame, bucket: int) -> go.Figure:
    """The embedding of one (table, head) in grey with ``bucket`` in red (WebGL: ~1,000
    points as SVG cost the browser ~0.25 s)."""
    here = emb.assign(this=emb["bucket"] == bucket)
    fig = px.scatter(
        here, x="x", y="y", color="this", size=here["this"].map({True: 14, False: 4}),
        hover_data=["bucket", "dominant_label"], render_mode="webgl",
        color_discrete_map={True: "red", False: "lightgrey"},
    )  # fmt: skip
    fig.update_layout(showlegend=False)
    return _compact(fig, 300)


def usage_heatmap(
    grid: pd.DataFrame, heldout: set[str] | frozenset[str] = frozenset()
) -> go.Figure:
    """Family × bucket shares (``analysis.families.usage_grid``) on a *categorical* bucket
    axis: one equal cell per bucket, in the grid's order, whatever the ids.

    >>> grid = pd.DataFrame([[0.5, 0.1]], index=["aimd"], columns=[4095, 7])
    >>> fig = usage_heatmap(grid)
    >>> fig.layout.xaxis.type, list(fig.data[0].x)
    ('category', ['4095', '7'])
    """
    fig = px.imshow(
        grid.to_numpy(), x=[str(b) for b in grid.columns],
        y=[f"{f} (held out)" if f in heldout else f for f in grid.index],
        aspect="auto", color_continuous_scale="Viridis",
        labels={"x": "bucket", "y": "family", "color": "share"},
    )  # fmt: skip
    fig.update_xaxes(type="category")  # ids look numeric: plotly would place them by value
    return _compact(fig, 120 + 30 * len(grid))


def jsd_heatmap(div: pd.DataFrame) -> go.Figure:
    """Jensen–Shannon divergences between families (rows of ``family_divergence``)."""
    mat = div.pivot_table(index="family_a", columns="family_b", values="jsd")
    fig = px.imshow(
        mat.to_numpy(), x=list(mat.columns), y=list(mat.index), text_auto=".2f",
        color_continuous_scale="Magma_r", zmin=0, labels={"color": "JSD (bits)"},
    )  # fmt: skip
    return _compact(fig, 420)


def agreement_scatter(agree: pd.DataFrame) -> go.Figure:
    """First-order vs exact ΔE of the top buckets (``attribution_agreement``)."""
    return px.scatter(
        agree, x="d_energy", y="exact_d_energy", color="table",
        hover_data=["head", "bucket", "n_structures"],
        labels={"d_energy": "first-order ΔE (meV/atom)", "exact_d_energy": "exact ΔE (meV/atom)"},
    )  # fmt: skip


def gate_effect_scatter(effects: pd.DataFrame) -> go.Figure:
    """Mean gate vs first-order |ΔE| of every occupied bucket (``bucket_effects``)."""
    return px.scatter(
        effects, x="gate_mean", y="abs_d_energy", color="table", log_y=True,
        hover_data=["head", "bucket", "n_lookups"],
        labels={"gate_mean": "mean gate over lookups",
                "abs_d_energy": "first-order |ΔE| (meV/atom)"},
    )  # fmt: skip


#: reliance columns -> what was switched off
_SWITCHED_OFF = {
    "d_energy": "memory", "d_energy_pair": "pair table", "d_energy_triplet": "triplet table",
}  # fmt: skip


def reliance_bars(per_family: pd.DataFrame) -> go.Figure:
    """|ΔE| per family with the memory, the pair or the triplet table switched off
    (``reliance_summary(...)["family"]``), grouped bars."""
    long = per_family.melt(
        id_vars="family", value_vars=[c for c in per_family if c in _SWITCHED_OFF],
        var_name="switched off", value_name="|ΔE| (meV/atom)",
    )  # fmt: skip
    long["switched off"] = long["switched off"].map(_SWITCHED_OFF)
    return px.bar(long, x="family", y="|ΔE| (meV/atom)", color="switched off", barmode="group")


#: colours of the profile bars: the memory raises / lowers the energy
_RAISES, _LOWERS, _COUNTS = "#d62728", "#1f77b4", "#7f7f7f"


def profile_chart(
    profile: pd.DataFrame,
    *,
    unit: str,
    ranges: Sequence[tuple[float, float, str]] = (),
    pad_bins: int = 2,
) -> go.Figure:
    """A motif profile (``analysis.profiles.motif_profile``): the memory's contribution per
    bin (bars, top) over the occurrence histogram (bars, bottom), sharing the bin axis;
    ``ranges`` (lo, hi, short label) are shaded on both. The axis spans the occupied bins and
    the ranges, ``pad_bins`` bins either side.

    >>> prof = pd.DataFrame({"bin": [0, 1, 2], "lo": [0.0, 0.1, 0.2], "hi": [0.1, 0.2, 0.3],
    ...     "n_lookups": [0.0, 4.0, 1.0], "contribution_mev": [0.0, -2.5, 0.5]})
    >>> fig = profile_chart(prof, unit="Å", ranges=[(0.12, 0.18, "known")])
    >>> fig.data[0].y.tolist(), fig.data[1].y.tolist()
    ([0.0, -2.5, 0.5], [0.0, 4.0, 1.0])
    >>> [(s.x0, s.x1) for s in fig.layout.shapes if s.type == "rect"]  # one per subplot
    [(0.12, 0.18), (0.12, 0.18)]
    """
    centre = ((profile["lo"] + profile["hi"]) / 2).to_numpy()  # [B]
    width = (profile["hi"] - profile["lo"]).to_numpy()  # [B]
    contribution = profile["contribution_mev"].to_numpy(dtype=float)  # [B]
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.65, 0.35], vertical_spacing=0.04,
    )  # fmt: skip
    hover = "%{customdata[0]:.4g}–%{customdata[1]:.4g} " + unit
    fig.add_bar(
        x=centre, y=contribution, width=width, name="contribution",
        marker_color=[_RAISES if v > 0 else _LOWERS for v in contribution],
        customdata=profile[["lo", "hi"]].to_numpy(),
        hovertemplate=hover + "<br>%{y:.4g} meV/atom<extra></extra>", row=1, col=1,
    )  # fmt: skip
    fig.add_bar(
        x=centre, y=profile["n_lookups"].to_numpy(dtype=float), width=width, name="occurrences",
        marker_color=_COUNTS, customdata=profile[["lo", "hi"]].to_numpy(),
        hovertemplate=hover + "<br>%{y:.4g} lookups<extra></extra>", row=2, col=1,
    )  # fmt: skip
    for n, (lo, hi, label) in enumerate(ranges):  # labels staggered: ranges may be close
        shade = {"x0": lo, "x1": hi, "fillcolor": "#2ca02c", "opacity": 0.2, "line_width": 0,
                 "layer": "below"}  # fmt: skip
        fig.add_vrect(
            **shade, row=1, col=1, annotation_text=label, annotation_position="top left",
            annotation_font_size=11, annotation_yshift=-14 * (n % 2),
        )  # fmt: skip
        fig.add_vrect(**shade, row=2, col=1)
    used = profile[(profile["n_lookups"] > 0) | (contribution != 0)]
    if len(used) or len(ranges):
        step = float(width.max()) if len(width) else 0.0
        los = [*used["lo"], *(r[0] for r in ranges)]
        his = [*used["hi"], *(r[1] for r in ranges)]
        lo = max(min(los) - pad_bins * step, float(profile["lo"].min()))
        hi = min(max(his) + pad_bins * step, float(profile["hi"].max()))
        fig.update_xaxes(range=[lo, hi])
    fig.add_hline(y=0, line_width=1, line_color="black", row=1, col=1)
    fig.update_yaxes(title_text="contribution (meV/atom)", row=1, col=1)
    fig.update_yaxes(title_text="occurrences", row=2, col=1)
    fig.update_xaxes(title_text=f"bin ({unit})", row=2, col=1)
    fig.update_layout(height=460, margin={"t": 30, "b": 10}, showlegend=False, bargap=0.05)
    return fig
