"""Try a structure: upload CIF/POSCAR/extxyz, run the run's checkpoint, see what fires."""

import numpy as np
import streamlit as st

from app.figures import gate_histogram
from app.loaders import current_run, run_model
from app.uploads import ACCEPTED, UploadError, parse_upload
from app.viewer import environment_scene
from app.widgets import show_scene

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_ATOMS = 500


@st.cache_data(show_spinner=False, max_entries=16)
def _parse(name: str, data: bytes):
    return parse_upload(name, data, max_bytes=MAX_UPLOAD_BYTES, max_atoms=MAX_ATOMS)


st.title("Try a structure")
run = current_run()
st.caption(
    f"Upload a periodic structure ({ACCEPTED}; ≤ {MAX_UPLOAD_BYTES // 1024**2} MB, "
    f"≤ {MAX_ATOMS} atoms). The run's checkpoint predicts energy and forces; the table "
    "shows which motifs and buckets fire on each edge and how strongly the gate opens."
)
upload = st.file_uploader("Structure file", key="upload")
if upload is None:
    st.info("Waiting for a file.")
    st.stop()
try:
    atoms = _parse(upload.name, upload.getvalue())
except UploadError as err:
    st.error(str(err))
    st.stop()
model = run_model(run)  # found under PAMM_CHECKPOINT_ROOT, never at the manifest's path
from app.predict import predict_structure  # noqa: E402 (torch only once a file is there)

with st.spinner("Running the model…"):
    try:
        pred = predict_structure(model, atoms)
    except (OSError, ValueError, RuntimeError) as err:
        st.error(f"The model could not be run on this structure: {err}")
        st.stop()

st.subheader(f"{atoms.get_chemical_formula()} · {len(atoms)} atoms")
m = st.columns(4)
m[0].metric("Energy (eV)", f"{pred.energy:.4f}")
m[1].metric("Energy per atom (eV)", f"{pred.energy / len(atoms):.4f}")
m[2].metric("max |F| (eV/Å)", f"{np.linalg.norm(pred.forces, axis=1).max():.4f}")
m[3].metric("Edges / triplets", f"{len(pred.edges):,} / {len(pred.triplets):,}")

edges = pred.edges
centre = st.selectbox(
    "Centre atom for the 3D view",
    list(range(len(atoms))),
    format_func=lambda a: f"{a}: {atoms.get_chemical_symbols()[a]}",
    key="try_centre",
)
mine = edges[edges["i"] == centre].sort_values("distance").reset_index(drop=True)
view, side = st.columns([3, 2])
with view:
    gates = mine["gate_mean"].tolist() if "gate_mean" in mine else None
    scene = environment_scene(
        atoms, int(centre), mine["j"].to_numpy(), np.array(mine["offset"].tolist()), gates=gates
    )
    show_scene(scene, height=460)
with side:
    st.markdown(f"**Forces** on atom {centre}: `{np.round(pred.forces[centre], 4).tolist()}` eV/Å")
    if "gate_mean" in edges:
        fig = gate_histogram(edges, "gate_mean", title="gate mean, all edges", nbins=30)
        st.plotly_chart(fig, width="stretch", key="try_gate_hist")

st.subheader(f"Edges of atom {centre} (pair motifs and buckets)")
st.dataframe(mine.drop(columns=["i"]), hide_index=True, width="stretch", key="try_edges")
st.subheader("Triplet motifs on these edges")
trip = pred.triplets[pred.triplets["i"] == centre]
st.dataframe(trip, hide_index=True, width="stretch", key="try_triplets")
with st.expander("Forces on all atoms"):
    st.dataframe(
        {"atom": range(len(atoms)), "symbol": atoms.get_chemical_symbols(),
         "fx": pred.forces[:, 0], "fy": pred.forces[:, 1], "fz": pred.forces[:, 2]},
        hide_index=True, key="try_forces",
    )  # fmt: skip
