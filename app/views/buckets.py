"""Bucket inspector: one table row (table, head, bucket) and the motifs hashed there."""

import streamlit as st

from analysis import nearest_buckets
from app.figures import bucket_map, bucket_shares, family_usage_bar, mass_histogram
from app.loaders import current_run, manifest_stamp
from app.widgets import SEL_BUCKET, cached_figure, head_picker, table_picker

#: how many buckets (the heaviest) the picker lists; the others are reached by their id
PICKER_BUCKETS = 200

st.title("Bucket inspector")
run = current_run()
stamp = manifest_stamp(run.path)
sel = st.session_state.get(SEL_BUCKET)

c1, c2, c3, c4 = st.columns([1, 1, 3, 1])
with c1:
    table = table_picker("bucket_table", default=sel[0] if sel else None)
with c2:
    head = head_picker(run, "bucket_head", default=sel[1] if sel else 0)
occupied = run.select("buckets", table=table, head=head).sort_values("mass", ascending=False)
if occupied.empty:
    st.info(f"No occupied bucket in the {table} table, head {head}.")
    st.stop()
occupied_ids = set(occupied["bucket"].tolist())


def _jump() -> None:
    """Go to the bucket typed into the id box (then clear the box)."""
    typed = st.session_state.get("bucket_jump")
    if typed is not None and int(typed) in occupied_ids:
        st.session_state["bucket_pick"] = int(typed)
        st.session_state["bucket_jump"] = None
    elif typed is not None:
        st.session_state["bucket_missing"] = int(typed)
        st.session_state["bucket_jump"] = None


if st.session_state.get("bucket_pick") not in occupied_ids:
    want = sel[2] if sel and sel[:2] == (table, head) else None
    heaviest = int(occupied["bucket"].iloc[0])
    st.session_state["bucket_pick"] = want if want in occupied_ids else heaviest
picked = st.session_state["bucket_pick"]
# The picker lists the heaviest buckets (a selectbox of thousands of options costs the
# browser ~1 s per page switch); any other occupied bucket is reached by its id.
choices = occupied.head(PICKER_BUCKETS)
if picked not in set(choices["bucket"].tolist()):
    choices = occupied[occupied.index.isin(choices.index) | (occupied["bucket"] == picked)]
ids = choices["bucket"].tolist()
info = occupied.set_index("bucket")
# One label per bucket, built column-wise (a per-option lookup is slow for many buckets).
labels = dict(
    zip(
        ids,
        choices["bucket"].astype(str)
        + " — mass "
        + choices["mass"].map("{:,}".format)
        + ", "
        + choices["n_motifs"].astype(str)
        + " motif(s), dominant "
        + choices["dominant_label"].astype(str),
        strict=True,
    )
)
with c3:
    bucket = st.selectbox(
        f"Bucket (by mass: the {min(PICKER_BUCKETS, len(occupied)):,} heaviest of "
        f"{len(occupied):,} occupied)",
        ids,
        format_func=labels.__getitem__,
        key="bucket_pick",
    )
with c4:
    st.number_input(
        "…or bucket id",
        min_value=0,
        max_value=int(run.manifest["spec"][f"{table}_buckets"]) - 1,
        value=None,
        step=1,
        placeholder="any occupied id",
        key="bucket_jump",
        on_change=_jump,
    )
if (missing := st.session_state.pop("bucket_missing", None)) is not None:
    st.warning(f"Bucket {missing} ({table} table, head {head}) is empty: no motif hashes there.")
st.session_state[SEL_BUCKET] = (table, int(head), int(bucket))
row = info.loc[bucket]

m = st.columns(4)
m[0].metric("Motifs here", int(row["n_motifs"]))
m[1].metric("Mass", f"{int(row['mass']):,}")
m[2].metric("Purity", f"{row['purity']:.2f}", help="dominant motif's share of the mass")
m[3].metric("Gate mean", f"{row['gate_mean']:.3f}")

left, right = st.columns(2)
with left:
    st.subheader("Motifs mapped here")
    here = run.select("bucket_motifs", table=table, head=head, bucket=bucket)
    here = here.sort_values("share", ascending=False)
    st.dataframe(
        here[["label", "count", "share", "key"]], hide_index=True, width="stretch", key="bucket_m"
    )
    fig = cached_figure(("bucket_shares", stamp, table, head, bucket), lambda: bucket_shares(here))
    st.plotly_chart(fig, width="stretch", key="bucket_shares")
    st.subheader("Nearest buckets (cosine of table rows)")
    arrays = run.table_rows()
    near = nearest_buckets(
        arrays[f"{table}_rows"], head, int(bucket), k=8, occupied=arrays.get(f"{table}_occupied")
    ).drop(columns="head")
    near = near.join(info[["dominant_label", "mass"]], on="bucket")
    st.dataframe(near, hide_index=True, width="stretch", key="bucket_near")
with right:
    st.subheader("Usage by family")
    fu = run.select("family_usage", table=table, head=head, bucket=bucket)
    fig = cached_figure(("bucket_usage", stamp, table, head, bucket), lambda: family_usage_bar(fu))
    st.plotly_chart(fig, width="stretch", key="bucket_usage")
    st.subheader("Where it sits")
    fig = cached_figure(
        ("bucket_mass_hist", stamp, table, head, bucket),
        lambda: mass_histogram(occupied, bucket, row["mass"]),
    )
    st.plotly_chart(fig, width="stretch", key="bucket_mass_hist")
    emb = run.select("embedding_2d", table=table, head=head)
    if len(emb):
        fig = cached_figure(
            ("bucket_map", stamp, table, head, bucket), lambda: bucket_map(emb, bucket)
        )
        st.plotly_chart(fig, width="stretch", key="bucket_map")
