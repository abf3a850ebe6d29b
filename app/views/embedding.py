"""Embedding map: 2-D map of table rows; a box/lasso selection drives a table and 3D view."""

import plotly.express as px
import streamlit as st

from app.environments import example_panel
from app.loaders import current_run
from app.widgets import SEL_BUCKET, SEL_MOTIF, head_picker, table_picker

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
emb = run.frame("embedding_2d")
emb = emb[(emb["table"] == table) & (emb["head"] == head)].reset_index(drop=True)
if emb.empty:
    st.info("No embedding for this table and head.")
    st.stop()
method = str(emb["method"].iloc[0]).upper()
fig = px.scatter(
    emb,
    x="x",
    y="y",
    color=colour,
    custom_data=["bucket"],
    hover_data=["bucket", "dominant_label", "mass", "purity"],
    labels={"x": f"{method} 1", "y": f"{method} 2"},
)
fig.update_traces(marker={"size": 7})
fig.update_layout(height=520, margin={"t": 10, "b": 10})
st.caption(
    f"{len(emb):,} occupied rows of the {table} table, head {head} ({method}). "
    "Click a point or draw a box/lasso to select buckets."
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

buckets = run.frame("buckets")
chosen = buckets[
    (buckets["table"] == table) & (buckets["head"] == head) & buckets["bucket"].isin(picked)
].sort_values("mass", ascending=False)
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
