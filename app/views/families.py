"""Family comparison: bucket usage per family, divergences, family-specific motifs."""

import streamlit as st

from analysis.frames import usage_grid
from app.figures import jsd_heatmap, usage_heatmap
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

fu = run.select("family_usage", table=table, head=head)
st.subheader("Bucket usage across families")
if fu.empty:
    st.info("No family usage recorded for this table and head.")
else:
    grid = usage_grid(fu, top_n)
    fig = cached_figure(
        ("fam_heatmap", stamp, table, head, top_n), lambda: usage_heatmap(grid, heldout)
    )
    st.plotly_chart(fig, width="stretch", key="fam_heatmap")

left, right = st.columns(2)
with left:
    st.subheader("Jensen–Shannon divergence of bucket usage")
    div = run.select("family_divergence", table=table, head=head)
    if len(div):
        fig = cached_figure(("fam_jsd", stamp, table, head), lambda: jsd_heatmap(div))
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
