"""Environment viewer: a stored motif occurrence in 3D with i, j, k highlighted."""

import streamlit as st

from app.environments import example_panel
from app.loaders import current_run
from app.widgets import SEL_MOTIF, table_picker

st.title("Environment viewer")
run = current_run()
sel = st.session_state.get(SEL_MOTIF)

c1, c2 = st.columns([1, 4])
with c1:
    table = table_picker("env_table", default=sel[0] if sel else None)
motifs = run.motifs(table).sort_values("count", ascending=False)
with_examples = set(run.select("examples", table=table)["key"].tolist())
motifs = motifs[motifs["key"].isin(with_examples)]
if motifs.empty:
    st.info(f"No stored example occurrences for {table} motifs in this run.")
    st.stop()
keys = motifs["key"].tolist()
labels = dict(zip(motifs["key"], motifs["label"], strict=True))
if st.session_state.get("env_motif") not in keys:
    remembered = sel is not None and sel[0] == table and sel[1] in keys
    st.session_state["env_motif"] = sel[1] if remembered else keys[0]
with c2:
    key = st.selectbox(
        "Motif (with stored examples, by count)",
        keys,
        format_func=lambda k: f"{labels[k]}  (key {k})",
        key="env_motif",
    )
st.session_state[SEL_MOTIF] = (table, int(key))
example_panel(run, table, int(key), widget_key="env_example", height=520)
