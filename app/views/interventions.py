"""Interventions: what the memory *does* — ablate a bucket or motif, attribution, reliance."""

import numpy as np
import streamlit as st

from app.figures import agreement_scatter, gate_effect_scatter, reliance_bars
from app.loaders import current_run, manifest_stamp, run_model
from app.viewer import force_arrows_html
from app.widgets import cached, viewer_script_url

st.title("Interventions")
run = current_run()
st.caption(
    "Causal probes of the run's checkpoint: switch a bucket, a motif or a whole table off "
    "(zero or mean row) and measure ΔE (meV/atom) and ΔF (meV/Å); a first-order attribution "
    "of every occupied bucket, checked against exact ablation of the top buckets."
)
model = run_model(run)  # found under PAMM_CHECKPOINT_ROOT, never at the manifest's path
from analysis.io import RunError  # noqa: E402
from analysis.probe_artifacts import load_probes  # noqa: E402
from analysis.probes import ablation_effect, predict, probe_run, probe_structures  # noqa: E402
from pamm.ablation import Ablation  # noqa: E402

stamp = manifest_stamp(run.path)
try:  # written by `pamm analyze --probes N`; absent in most runs
    stored = cached(("probes-stored", str(run.path), stamp), lambda: load_probes(run.path))
except RunError as err:
    st.warning(f"Ignoring the stored probes of this run: {err}")
    stored = None
defaults = (stored or {}).get("settings") or {"n_structures": 24, "replace": "zero", "top_k": 10}

c1, c2, c3 = st.columns(3)
n_structures = c1.slider(
    "Structures probed", 1, max(200, defaults["n_structures"]), defaults["n_structures"], key="iv_n"
)
replace = c2.radio(
    "Replace by",
    ["zero", "mean"],
    index=["zero", "mean"].index(defaults["replace"]),
    horizontal=True,
    key="iv_replace",
)
top_k = c3.slider(
    "Exact ablations (top-k buckets)",
    1,
    max(50, defaults["top_k"]),
    defaults["top_k"],
    key="iv_topk",
)

try:  # the dataset is opened under PAMM_DATA_ROOT only
    atoms, families, indices = cached(
        ("structures", str(run.path), stamp, n_structures),
        lambda: probe_structures(run.manifest["dataset"], n_structures),
    )
except (OSError, ValueError, RuntimeError) as err:
    st.error(f"Cannot probe this run: {err}")
    st.stop()

settings = {"n_structures": n_structures, "replace": replace, "top_k": top_k}
if (
    stored is not None
    and all(stored["settings"][k] == v for k, v in settings.items())
    and stored["dataset_index"] == indices
):
    probes = stored
    st.caption(
        f"Probes stored in the run by `pamm analyze --probes {n_structures}` "
        f"(replace={replace}, top-k={top_k}); other settings are computed here."
    )
else:
    bar = st.progress(0.0, text="Probes (computed once per run and settings)…")
    probes = cached(
        ("probes", str(run.path), stamp, n_structures, replace, top_k),
        lambda: probe_run(
            model,
            atoms,
            families,
            replace=replace,
            top_k=top_k,
            progress=lambda f, msg: bar.progress(min(max(f, 0.0), 1.0), text=msg),
        ),
    )
    bar.empty()
    st.caption(
        "Probes computed here for these settings (kept while the app runs); "
        f"`pamm analyze --probes {n_structures}` stores them in the run."
    )

corr = probes["spearman"]
m1, m2, m3, m4 = st.columns(4)
m1.metric("occupied buckets", f"{len(probes['effects']):,}")
m2.metric("structures", f"{len(atoms)}")
m3.metric("Spearman |ΔE| first-order vs exact", f"{corr['spearman_abs_energy']:.2f}")
m4.metric("Spearman ΔE (signed)", f"{corr['spearman_energy']:.2f}")

tab_pick, tab_attr, tab_gate, tab_rel = st.tabs(
    ["Ablate a bucket or motif", "All-bucket attribution", "Gate vs effect", "Reliance"]
)

with tab_attr:
    st.subheader("First-order effect of every occupied bucket")
    st.dataframe(probes["effects"], hide_index=True, key="iv_effects")
    st.subheader(f"Agreement with exact ablation (top {len(probes['agreement'])})")
    agree = probes["agreement"]
    st.plotly_chart(agreement_scatter(agree), key="iv_agree_plot")
    st.dataframe(agree, hide_index=True, key="iv_agreement")

with tab_gate:
    st.subheader("Does a large gate mean a large causal effect?")
    st.plotly_chart(gate_effect_scatter(probes["effects"]), key="iv_gate_plot")
    st.dataframe(probes["gate_vs_effect"], hide_index=True, key="iv_gate_corr")

with tab_rel:
    st.subheader("Reliance: memory / pair table / triplet table switched off")
    fam = probes["summary"]["family"]
    st.dataframe(fam, hide_index=True, key="iv_rel_family")
    st.plotly_chart(reliance_bars(fam), key="iv_rel_plot")
    st.subheader("Per element: mean |ΔF| with the memory off (meV/Å)")
    st.dataframe(probes["summary"]["element"], hide_index=True, key="iv_rel_element")

with tab_pick:
    kind = st.radio("Switch off", ["bucket", "motif"], horizontal=True, key="iv_kind")
    if kind == "bucket":
        eff = probes["effects"]
        options = list(range(len(eff)))
        pick = st.selectbox(
            "Bucket (by first-order |ΔE|)",
            options,
            key="iv_bucket",
            format_func=lambda n: (
                f"{eff.at[n, 'table']} h{eff.at[n, 'head']} "
                f"#{eff.at[n, 'bucket']} — |ΔE|≈{eff.at[n, 'abs_d_energy']:.3g}"
            ),
        )
        row = eff.iloc[pick]
        ablation = Ablation(
            "bucket",
            table=row["table"],
            head=int(row["head"]),
            bucket=int(row["bucket"]),
            replace=replace,
        )
    else:
        table = st.radio("Table", ["pair", "triplet"], horizontal=True, key="iv_motif_table")
        motifs = run.motifs(table).sort_values("count", ascending=False).head(500)
        keys = motifs["key"].tolist()
        labels = dict(zip(keys, motifs["label"], strict=True))
        key = st.selectbox(
            "Motif (by count)", keys, key="iv_motif", format_func=lambda k: f"{labels[k]} (key {k})"
        )
        ablation = Ablation("motif", table=table, key=int(key), replace=replace)
    # unablated predictions once per structure set, shared by every pick (same batches)
    reference = cached(
        ("reference", str(run.path), stamp, n_structures), lambda: predict(model, atoms)
    )
    effect, per_atom = cached(
        ("ablation", str(run.path), stamp, n_structures, ablation),
        lambda: ablation_effect(model, atoms, ablation, per_atom=True, reference=reference),
    )
    fires = effect[(effect["d_energy"] != 0) | (effect["d_force"] != 0)].copy()
    if fires.empty:
        st.info("This ablation changes nothing on the probed structures (it never fires).")
        st.stop()
    fires["dataset_index"] = [indices[i] for i in fires["structure"]]
    fires["family"] = [families[i] for i in fires["structure"]]
    fires["formula"] = [atoms[i].get_chemical_formula() for i in fires["structure"]]
    fires = fires.sort_values("d_energy", key=np.abs, ascending=False, ignore_index=True)
    st.dataframe(fires, hide_index=True, key="iv_ranked")
    choice = st.selectbox(
        "Structure",
        list(range(len(fires))),
        key="iv_structure",
        format_func=lambda n: (
            f"#{fires.at[n, 'dataset_index']} {fires.at[n, 'formula']} "
            f"[{fires.at[n, 'family']}] ΔE={fires.at[n, 'd_energy']:.3g}"
        ),
    )
    srow = fires.iloc[choice]
    s = int(srow["structure"])
    e1, e2, e3 = st.columns(3)
    e1.metric("energy before (eV)", f"{srow['energy']:.4f}")
    e2.metric(
        "energy after (eV)",
        f"{srow['energy_ablated']:.4f}",
        delta=f"{srow['d_energy']:.3g} meV/atom",
    )
    e3.metric("mean |ΔF| (meV/Å)", f"{srow['d_force']:.3g}")
    atoms_rows = per_atom[per_atom["structure"] == s]
    dforce = atoms_rows[["dfx", "dfy", "dfz"]].to_numpy()  # (N, 3) eV/Å
    peak = float(np.linalg.norm(dforce, axis=1).max())
    scale = 1.5 / peak if peak > 0 else 1.0
    html = force_arrows_html(atoms[s], dforce, scale=scale, script_url=viewer_script_url())
    st.iframe(html, height=420)
    st.caption(
        f"Red arrows: ΔF per atom, scaled so the largest is 1.5 Å ({peak * 1000:.3g} meV/Å)."
    )
