"""Family comparison: bucket usage per family, divergences, family-specific motifs."""

import plotly.express as px
import streamlit as st

from app.loaders import current_run, manifest_stamp
from app.widgets import cached_figure, head_picker, table_picker

st.title("Family comparison")
run = current_run()
stamp = manifest_stamp(run.path)
heldout = set(run.manifest.get("heldout_families") or [])

c1, c2, c3 = st.columns([1, 1, 2])
with c1:
    table = table_picker("fam_table")
with c2:
    head = head_picker(run, "fam_head")
with c3:
    top_n = st.slider("Buckets shown (by total mass)", 10, 200, 50, step=10, key="fam_topn")

fu = run.frame("family_usage")
fu = fu[(fu["table"] == table) & (fu["head"] == head)]
st.subheader("Bucket usage across families")
if fu.empty:
    st.info("No family usage recorded for this table and head.")
else:
    top = fu.groupby("bucket")["count"].sum().nlargest(top_n).index
    grid = fu[fu["bucket"].isin(top)].pivot_table(
        index="family", columns="bucket", values="share", fill_value=0.0
    )
    grid = grid[list(top)]

    def _heatmap():
        fig = px.imshow(
            grid.to_numpy(),
            x=[str(b) for b in grid.columns],
            y=[f"{f} (held out)" if f in heldout else f for f in grid.index],
            aspect="auto",
            color_continuous_scale="Viridis",
            labels={"x": "bucket", "y": "family", "color": "share"},
        )
        fig.update_layout(height=120 + 30 * len(grid), margin={"t": 10, "b": 10})
        return fig

    fig = cached_figure(("fam_heatmap", stamp, table, head, top_n), _heatmap)
    st.plotly_chart(fig, width="stretch", key="fam_heatmap")

left, right = st.columns(2)
with left:
    st.subheader("Jensen–Shannon divergence of bucket usage")
    div = run.frame("family_divergence")
    div = div[(div["table"] == table) & (div["head"] == head)]
    if len(div):
        mat = div.pivot_table(index="family_a", columns="family_b", values="jsd")

        def _jsd():
            fig = px.imshow(
                mat.to_numpy(),
                x=list(mat.columns),
                y=list(mat.index),
                text_auto=".2f",
                color_continuous_scale="Magma_r",
                zmin=0,
                labels={"color": "JSD (bits)"},
            )
            fig.update_layout(height=420, margin={"t": 10, "b": 10})
            return fig

        fig = cached_figure(("fam_jsd", stamp, table, head), _jsd)
        st.plotly_chart(fig, width="stretch", key="fam_jsd")
with right:
    st.subheader("Family-specific motifs")
    motifs = run.motifs(table)
    family = st.selectbox("Family", run.families, key="fam_pick")
    spec = motifs[motifs["top_family"] == family].sort_values(
        ["specificity", "count"], ascending=False
    )
    st.dataframe(
        spec[["label", "count", "specificity", "gate_mean", "key"]].head(50),
        hide_index=True,
        width="stretch",
        key="fam_specific",
    )

st.subheader("Held-out families")
if not heldout:
    st.info("This run treats no family as held out.")
else:
    st.markdown(f"Held out: **{', '.join(sorted(heldout))}**. Motifs seen only there:")
    only = run.motifs(table)
    only = only[only["heldout_only"]].sort_values("count", ascending=False)
    st.caption(f"{len(only):,} {table} motifs occur only in held-out families")
    st.dataframe(
        only[["label", "count", "gate_mean", "top_family", "key"]],
        hide_index=True,
        width="stretch",
        key="fam_heldout",
    )
