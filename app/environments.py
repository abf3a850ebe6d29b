"""Example environments: load an analysed structure and show one motif occurrence in 3D.

An ``examples.parquet`` row names a structure (its index in the analysed dataset), the
centre i, neighbour j and partner k with their periodic images. The panel draws the
centre's neighbourhood with i/j/k highlighted and the j→i bond coloured by the
example's gate, beside a CrystalNN coordination label (ChemEnv on demand).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
from ase import Atoms
from ase.neighborlist import neighbor_list

from analysis import Run, StructureSource
from analysis.data import dataset_paths
from app.loaders import freeze_long_lived
from app.prefetch import wait_for_prefetch
from app.viewer import Bond, Scene, environment_scene
from app.widgets import show_scene

__all__ = ["crystalnn_label", "example_panel", "example_scene", "load_structure"]


@st.cache_resource(show_spinner="Opening the dataset…", max_entries=2)
def _open_source(paths: tuple[str, ...]) -> StructureSource:
    """The run's dataset, opened once per process (indexing as in the census)."""
    wait_for_prefetch()  # fairchem's reader is being imported in the background
    source = StructureSource.open(list(paths))
    freeze_long_lived()
    return source


def load_structure(run: Run, index: int) -> Atoms:
    """Structure ``index`` of the run's analysed dataset (``analysis.data`` indexing)."""
    paths = dataset_paths(run.manifest["dataset"])  # only under PAMM_DATA_ROOT
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise FileNotFoundError(f"dataset of this run not found: {missing[0]}")
    return _open_source(tuple(paths)).get_atoms(index)


def _find_image(nbr: np.ndarray, shifts: np.ndarray, atom: int, offset) -> int | None:
    hit = np.nonzero((nbr == atom) & np.all(shifts == np.asarray(offset, dtype=int), axis=1))[0]
    return int(hit[0]) if len(hit) else None


def example_scene(atoms: Atoms, row: pd.Series, *, radius: float) -> Scene:
    """The centre's neighbourhood (within ``radius`` Å) with this occurrence's i, j, k."""
    centre = int(row["centre"])
    i_idx, j_idx, shifts = neighbor_list("ijS", atoms, radius)  # i = centre, j = neighbour
    mine = i_idx == centre
    nbr, off = j_idx[mine], shifts[mine]  # (n,), (n, 3)
    extra = [(int(row["neighbour"]), list(row["offset_j"]))]
    if int(row["partner"]) >= 0:
        extra.append((int(row["partner"]), list(row["offset_k"])))
    roles = []
    for atom, offset in extra:
        pos = _find_image(nbr, off, atom, offset)
        if pos is None:  # outside the drawing radius: add it anyway
            nbr = np.append(nbr, atom)
            off = np.vstack([off, np.asarray(offset, dtype=int)[None, :]])
            pos = len(nbr) - 1
        roles.append(pos)
    gates: list[float | None] = [None] * len(nbr)
    gates[roles[0]] = float(row["gate"])
    scene = environment_scene(
        atoms, centre, nbr, off, gates=gates, j=roles[0], k=roles[1] if len(roles) > 1 else None
    )
    if len(roles) > 1:  # the triplet's second edge k -> i, gate unknown
        k_bond = Bond(roles[0] + 1, roles[1] + 1)
        scene = Scene(**{**scene.__dict__, "bonds": (*scene.bonds, k_bond)})
    return scene


def _coordination_label(atoms: Atoms, structure_key: str, centre: int, chemenv: bool) -> str:
    wait_for_prefetch()
    from pymatgen.io.ase import AseAtomsAdaptor

    from analysis.environments import coordination

    structure = AseAtomsAdaptor.get_structure(atoms)
    with warnings.catch_warnings():  # "no oxidation states" advice, expected here
        warnings.simplefilter("ignore", UserWarning)
        info = coordination(structure, centre, key=structure_key, chemenv=chemenv)
    if chemenv:
        return str(info.get("chemenv"))
    counts = pd.Series(info["neighbours"], dtype=object).value_counts().sort_index()
    return f"CN {info['cn']} (" + " ".join(f"{el}{n}" for el, n in counts.items()) + ")"


def crystalnn_label(atoms: Atoms, structure_key: str, centre: int) -> str:
    """CrystalNN coordination number and neighbour elements of atom ``centre``."""
    return _coordination_label(atoms, structure_key, centre, chemenv=False)


def chemenv_label(atoms: Atoms, structure_key: str, centre: int) -> str:
    """ChemEnv's coordination geometry of atom ``centre`` (slow: on demand only)."""
    with st.spinner("ChemEnv (a few seconds)…"):
        return _coordination_label(atoms, structure_key, centre, chemenv=True)


def example_panel(run: Run, table: str, key: int, *, widget_key: str, height: int = 420) -> None:
    """Pick one stored example of motif ``key`` and show its environment in 3D."""
    ex = run.select("examples", table=table, key=key).reset_index(drop=True)
    if ex.empty:
        st.info("No example occurrences were stored for this motif.")
        return
    pick = st.selectbox(
        "Example",
        list(range(len(ex))),
        format_func=lambda n: (
            f"{ex.at[n, 'sid']} [{ex.at[n, 'family']}]  i={ex.at[n, 'centre']} "
            f"j={ex.at[n, 'neighbour']}"
            + (f" k={ex.at[n, 'partner']}" if ex.at[n, "partner"] >= 0 else "")
            + f"  gate={ex.at[n, 'gate']:.2f}"
        ),
        key=widget_key,
    )
    row = ex.iloc[pick]
    try:
        atoms = load_structure(run, int(row["structure"]))
    except (FileNotFoundError, IndexError, KeyError, ValueError) as err:
        st.warning(f"Cannot show this environment: {err}")
        return
    spec = run.manifest["spec"]
    radius = float(spec.get("triplet_cutoff", 4.0)) if table == "triplet" else 3.5
    scene = example_scene(atoms, row, radius=radius)
    view, side = st.columns([3, 1])
    with view:
        show_scene(scene, height=height)
    with side:
        skey = f"{run.manifest['dataset'].get('fingerprint')}:{int(row['structure'])}"
        st.markdown(f"**{atoms.get_chemical_formula()}** · {len(atoms)} atoms")
        st.markdown(f"structure `{row['sid']}` · family `{row['family']}`")
        st.metric("CrystalNN at i", crystalnn_label(atoms, skey, int(row["centre"])))
        if st.button("ChemEnv label", key=f"{widget_key}_chemenv"):
            st.metric("ChemEnv at i", chemenv_label(atoms, skey, int(row["centre"])))
