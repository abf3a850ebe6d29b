"""Motif profiles: what the memory contributes along the bins of one element pair or triple."""

import streamlit as st

from app.figures import profile_chart
from app.loaders import current_run, manifest_stamp, stored_probes
from app.widgets import bin_unit, cached, cached_figure, motif_title, table_picker

st.title("Motif profiles")
run = current_run()
st.caption(
    "What the memory contributes along the distance bins of an element pair (neighbour j "
    "around centre i) or the angle bins of a triple (j–i–k, the angle at the centre i): per "
    "bin, the first-order energy change of taking away the table rows its lookups read, "
    "above how often the bin occurs. Known environments of common oxides are shaded."
)
probes = stored_probes(run)
if probes is None:
    st.info(
        "This run has no stored probes: run `pamm analyze --probes N` on it (e.g. N = 24) "
        "to get motif profiles."
    )
    st.stop()
n_probed = (probes.get("settings") or {}).get("n_structures", "N")
if "key" not in probes["attribution"]:
    st.info(
        "The stored probes of this run predate per-motif attribution: re-run "
        f"`pamm analyze --probes {n_probed}` to get motif profiles."
    )
    st.stop()

# torch (through pamm.keys): imported after stored_probes waited for the prefetch thread
from analysis.profiles import motif_profile, profile_elements, reference_ranges  # noqa: E402

stamp = manifest_stamp(run.path)
per = probes["attribution"]
c1, c2 = st.columns([1, 3])
with c1:
    table = table_picker("prof_table")
options = cached(
    ("profile-elements", str(run.path), stamp, table), lambda: profile_elements(per, table)
)
if options.empty:
    st.info(f"No {table} lookups in the {n_probed} probed structures.")
    st.stop()
counts = dict(zip(options["elements"], options["n_lookups"], strict=True))
with c2:
    choice = st.selectbox(
        "Elements (most used first)",
        list(options["elements"]),
        key=f"prof_elements_{table}",
        format_func=lambda e: (
            f"{motif_title(table, tuple(e.split('-')))} — {counts[e]:,.0f} lookups"
        ),
    )
elements = tuple(choice.split("-"))
profile = cached(
    ("profile", str(run.path), stamp, table, elements),
    lambda: motif_profile(per, table, elements, run.spec),
)
known = reference_ranges(table, elements)
ranges = [(r.lo, r.hi, r.tag) for r in known]
unit = bin_unit(table)
digits = 2 if table == "pair" else 0

peak = profile.loc[profile["contribution_mev"].abs().idxmax()]
m1, m2, m3, m4 = st.columns(4)
m1.metric("structures probed", f"{len(probes['dataset_index'] or [])}")
m2.metric("lookups of this motif", f"{profile['n_lookups'].sum():,.0f}")
m3.metric("peak bin", f"{peak['lo']:.{digits}f}–{peak['hi']:.{digits}f} {unit}")
m4.metric("peak contribution (meV/atom)", f"{peak['contribution_mev']:.3g}")

st.subheader(motif_title(table, elements))
fig = cached_figure(
    ("profile", str(run.path), stamp, table, elements),
    lambda: profile_chart(profile, unit=unit, ranges=ranges),
)
st.plotly_chart(fig, width="stretch", key="prof_chart")
replace = (probes.get("settings") or {}).get("replace", "zero")
st.caption(
    "Top: first-order contribution of the motif's lookups in each bin, i.e. minus the "
    f"first-order ΔE of replacing the rows they read by the {replace} row, summed over heads "
    "and probed structures and divided by the number of structures (meV/atom per structure; "
    "red raises the energy, blue lowers it). Bottom: occurrences over the probed structures "
    "(one head's lookups; with smooth lookups the weighted mass, so an edge split between "
    "two bins counts partly in each). "
    + (
        "Shaded: literature ranges of known environments in typical oxides "
        "(`analysis.profiles.REFERENCE_RANGES`): "
        + "; ".join(f"**{r.tag}** {r.lo:g}–{r.hi:g} {unit}, {r.label}" for r in known)
        + "."
        if known
        else "No reference ranges known for these elements."
    )
)
shown = profile[(profile["n_lookups"] > 0) | (profile["contribution_mev"] != 0)]
st.dataframe(shown, hide_index=True, width="stretch", key="prof_rows")
