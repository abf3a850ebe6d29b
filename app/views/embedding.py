"""Embedding map: 2-D map of table rows; a box/lasso selection drives a table and 3D view."""

import streamlit as st

from app.environments import example_panel
from app.figures import embedding_map
from app.loaders import current_run, manifest_stamp
from app.widgets import SEL_BUCKET, SEL_MOTIF, cached_figure, head_picker, table_picker

st.title("Embedding map")
run = current_run()

c1, c2, c3 = st.columns([1, 1, 2])
with c1:
    table = table_picker("emb_table")
with c2:
    head = head_picker(run, "emb_head")
with c3:
    colour = st.selectbox(
        "Colour by", ["element_pair", "bin_lo", "purity", "mass"], key="emb_colour"
    )
emb = run.select("embedding_2d", table=table, head=head).reset_index(drop=True)
if emb.empty:
    st.info("No embedding for this table and head.")
    st.stop()
method = str(emb["method"].iloc[0]).upper()
fig = cached_figure(
    ("emb_map", manifest_stamp(run.path), table, head, colour),
    lambda: embedding_map(emb, colour, method=method),
)
st.caption(
    f"{len(emb):,} occupied rows of the {table} table, head {head} ({method}). "
    "Click a point or draw a box/lasso to select buckets."
    + (
        f" Colour: {emb[colour].nunique()} {colour} values (see the hover; no legend)."
        if len(fig.data) == 1 and emb[colour].dtype.kind not in "biuf"
        else ""
    )
)
event = st.plotly_chart(
    fig,
    width="stretch",
    key="emb_map",
    on_select="rerun",
    selection_mode=("points", "box", "lasso"),
)
points = (event or {}).get("selection", {}).get("points", []) if event else []
picked = sorted({int(p["customdata"][0]) for p in points if p.get("customdata")})
if not picked:
    st.info("Nothing selected yet: click a point or draw a lasso on the map.")
    st.stop()

chosen = run.select("buckets", table=table, head=head, bucket=picked)
chosen = chosen.sort_values("mass", ascending=False)
st.subheader(f"{len(chosen)} selected bucket(s)")
st.dataframe(
    chosen[["bucket", "n_motifs", "mass", "purity", "gate_mean", "dominant_label", "dominant_key"]],
    hide_index=True,
    width="stretch",
    key="emb_selected",
)
ids = chosen["bucket"].tolist()
focus = st.selectbox("Show in 3D: dominant motif of bucket", ids, key="emb_focus")
dominant = int(chosen.set_index("bucket").at[focus, "dominant_key"])
st.session_state[SEL_BUCKET] = (table, int(head), int(focus))
st.session_state[SEL_MOTIF] = (table, dominant)
example_panel(run, table, dominant, widget_key="emb_example")
