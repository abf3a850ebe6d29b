"""Motif browser: filter and sort the observed motifs; open one motif's detail."""

import pandas as pd
import streamlit as st

from app.environments import example_panel
from app.figures import gate_histogram, gate_per_family
from app.loaders import current_run, manifest_stamp
from app.widgets import (
    SEL_MOTIF,
    bin_unit,
    cached_figure,
    element_symbols,
    motif_elements,
    table_picker,
)

st.title("Motif browser")
run = current_run()
stamp = manifest_stamp(run.path)
sel = st.session_state.get(SEL_MOTIF)
heads = int(run.manifest["spec"].get("heads", 1))

c1, c2, c3, c4 = st.columns([1, 2, 2, 2])
with c1:
    table = table_picker("motif_table_kind", default=sel[0] if sel else None)
motifs = run.motifs(table)
unit = bin_unit(table)
with c2:
    elements = st.multiselect("Contains elements", motif_elements(motifs), key="motif_elements")
with c3:
    lo, hi = float(motifs["bin_lo"].min()), float(motifs["bin_hi"].max())
    rng = st.slider(f"Bin range ({unit})", lo, hi, (lo, hi), key=f"motif_range_{table}")
with c4:
    families = st.multiselect("Top family", sorted(motifs["top_family"].unique()), key="motif_fam")


@st.cache_data(show_spinner=False, max_entries=8)
def _motif_view(_run, stamp: str, table: str) -> pd.DataFrame:
    """The motif table with its element string (cached per run ``stamp``)."""
    view = _run.motifs(table).copy()
    view["elements"] = [
        "–".join(element_symbols([zj, zi, zk]))
        for zj, zi, zk in zip(view["zj"], view["zi"], view["zk"], strict=True)
    ]
    return view


view = _motif_view(run, stamp, table)

mask = (view["bin_lo"] >= rng[0] - 1e-9) & (view["bin_hi"] <= rng[1] + 1e-9)
for el in elements:
    mask &= view["elements"].str.split("–").apply(lambda syms, el=el: el in syms)
if families:
    mask &= view["top_family"].isin(families)
sort_options = {
    "count": "count",
    "gate (mean)": "gate_mean",
    "collisions (all heads)": "shared_all_heads",
    "family specificity": "specificity",
}
s1, s2 = st.columns([2, 1])
sort_by = s1.selectbox("Sort by", list(sort_options), key="motif_sort")
ascending = s2.toggle("Ascending", value=False, key="motif_asc")
shown = view[mask].sort_values(sort_options[sort_by], ascending=ascending, kind="stable")
cols = ["label", "elements", "count", "share", "gate_mean", "gate_std", "top_family"]
cols += ["specificity", *[f"bucket_{h}" for h in range(heads)], "shared_all_heads", "key"]
st.caption(f"{len(shown):,} of {len(view):,} {table} motifs")
keys = shown["key"].tolist()
st.session_state["motif_table_keys"] = keys


def _table_selected() -> None:
    rows = st.session_state["motif_table"]["selection"]["rows"]
    if rows:
        st.session_state["motif_pick"] = st.session_state["motif_table_keys"][rows[0]]


st.dataframe(
    shown[cols],
    width="stretch",
    hide_index=True,
    on_select=_table_selected,
    selection_mode="single-row",
    key="motif_table",
    height=300,
)
if not keys:
    st.info("No motif matches these filters.")
    st.stop()
if st.session_state.get("motif_pick") not in keys:
    remembered = sel is not None and sel[0] == table and sel[1] in keys
    st.session_state["motif_pick"] = sel[1] if remembered else keys[0]
labels = dict(zip(shown["key"], shown["label"], strict=True))
key = st.selectbox("Motif", keys, format_func=lambda k: f"{labels[k]}  (key {k})", key="motif_pick")
st.session_state[SEL_MOTIF] = (table, int(key))
motif = view.set_index("key").loc[key]

st.header(f"{motif['label']}")
m1, m2, m3, m4 = st.columns(4)
m1.metric("Occurrences", f"{int(motif['count']):,}")
m2.metric("Gate mean", f"{motif['gate_mean']:.3f}", help=f"std {motif['gate_std']:.3f}")
m3.metric("Top family", str(motif["top_family"]), help=f"specificity {motif['specificity']:.2f}")
m4.metric("Colliding in every head", int(motif["shared_all_heads"]))

d1, d2 = st.columns(2)
with d1:
    st.subheader("Buckets per head")
    rows = []
    for h in range(heads):
        b = int(motif[f"bucket_{h}"])
        match = run.select("buckets", table=table, head=h, bucket=b)
        info = match.iloc[0] if len(match) else pd.Series(dtype=object)
        rows.append(
            {
                "head": h,
                "bucket": b,
                "motifs in bucket": info.get("n_motifs"),
                "purity": info.get("purity"),
                "dominant": info.get("dominant_label"),
            }
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="motif_buckets")
    st.subheader("Colliding neighbours")
    neighbours = []
    for h in range(heads):
        same = run.select("bucket_motifs", table=table, head=h, bucket=int(motif[f"bucket_{h}"]))
        neighbours.append(same[same["key"] != key].assign(head=h))
    neigh = pd.concat(neighbours) if neighbours else pd.DataFrame()
    if len(neigh):
        st.dataframe(
            neigh[["head", "bucket", "label", "count", "share", "key"]].sort_values(
                ["head", "count"], ascending=[True, False]
            ),
            hide_index=True,
            width="stretch",
            key="motif_neighbours",
        )
    else:
        st.success("This motif has a bucket to itself in every head.")
with d2:
    st.subheader("Gate per family")
    ex = run.select("examples", table=table, key=key)
    if len(ex):
        fig = cached_figure(
            ("motif_gate_hist", stamp, table, int(key)),
            lambda: gate_histogram(ex, "gate", colour="family", title="gate (example edges)"),
        )
        st.plotly_chart(fig, width="stretch", key="motif_gate_hist")
    mf = run.select("motif_families", table=table, key=key)
    mf = mf[mf["count"] > 0]
    if len(mf):
        fig = cached_figure(("motif_gate_fam", stamp, table, int(key)), lambda: gate_per_family(mf))
        st.plotly_chart(fig, width="stretch", key="motif_gate_fam")

st.subheader("Top example environments")
example_panel(run, table, int(key), widget_key="motif_example")
