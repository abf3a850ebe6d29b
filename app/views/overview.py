"""Overview: what was analysed (manifest) and the headline numbers of the memory."""

import pandas as pd
import streamlit as st

from app.figures import advisor_chart
from app.loaders import current_run, manifest_stamp, sibling_evaluations
from app.widgets import cached_figure

st.title("PaMM Lab — overview")
run = current_run()
man = run.manifest

left, right = st.columns([3, 2])
with left:
    st.subheader("Run")
    ckpt, data = man["checkpoint"], man["dataset"]
    st.markdown(
        f"- **Checkpoint**: `{ckpt.get('path')}` (sha256 `{str(ckpt.get('sha256'))[:12]}…`)\n"
        f"- **Dataset**: `{data.get('path') or data.get('paths')}` — "
        f"{data.get('n_structures', '?')} structures, fingerprint `{data.get('fingerprint')}`\n"
        f"- **Families**: {', '.join(run.families)}\n"
        f"- **Held out**: {', '.join(man.get('heldout_families') or []) or 'none'}\n"
        f"- **Created**: {man.get('created')}"
    )
with right:
    st.subheader("PaMM spec")
    st.dataframe(
        pd.DataFrame({"value": [str(v) for v in man["spec"].values()]}, index=list(man["spec"])),
        width="stretch",
    )

st.subheader("Headline numbers")
coll = run.frame("collisions")
cols = st.columns(4)
for n, table in enumerate(("pair", "triplet")):
    motifs = run.motifs(table)
    combined = run.select("collisions", table=table, head=-1)
    occupancy = run.metrics["tables"].get(table, {}).get("occupancy")
    cols[2 * n].metric(f"{table} motifs", f"{len(motifs):,}", help="distinct observed keys")
    if occupancy is not None:
        cols[2 * n].metric(f"{table} occupancy", f"{occupancy:.1%}", help="mean over heads")
    if len(combined):
        row = combined.iloc[0]
        cols[2 * n + 1].metric(
            f"{table} ambiguous (all heads)",
            f"{row['motif_collision_rate']:.2%}",
            help="motifs colliding in every head",
        )
        cols[2 * n + 1].metric(f"{table} mass ambiguous", f"{row['mass_collision_rate']:.2%}")

st.markdown("**Collision statistics per table and head** (head −1 = all heads combined)")
st.dataframe(coll, width="stretch", hide_index=True)

adv = run.frame("advisor")
if len(adv):
    st.subheader("Table-size advisor")
    fig = cached_figure(("advisor_chart", manifest_stamp(run.path)), lambda: advisor_chart(adv))
    st.plotly_chart(fig, width="stretch", key="advisor_chart")

st.subheader("Metrics")
metrics = run.metrics
model_rows = {k: v for k, v in metrics.items() if isinstance(v, dict) and "energy_mae" in v}
if model_rows:  # e.g. {"pamm": {"energy_mae": ..}, "baseline": {...}}
    st.markdown("**Model vs baseline**")
    st.dataframe(pd.DataFrame(model_rows).T, width="stretch", key="model_metrics")
elif evals := sibling_evaluations(run.manifest["checkpoint"].get("path")):
    st.markdown("**Model vs baseline** (evaluations stored beside the checkpoints)")
    frame = pd.DataFrame(evals)
    st.dataframe(frame, hide_index=True, width="stretch", key="model_metrics")
else:
    st.caption("No model-vs-baseline evaluation found for this run's checkpoint.")
with st.expander("metrics.json"):
    st.json(metrics, expanded=False)
