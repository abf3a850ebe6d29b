"""Helpers of the Interventions page: cached probes, Δforce arrow view.

The probes (``analysis.probes.probe_run``) need the run's checkpoint and a forward/backward
pass per batch, so they are computed once per (run manifest, settings) with a progress
bar and kept in a process-wide cache; exact ablations of a picked bucket or motif are
cached the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import py3Dmol
import streamlit as st

from app.viewer import _CELL_EDGES, _cell_corners, _vec, viewer_document

__all__ = ["cached", "force_arrows_html"]

_LOCK = threading.Lock()


@st.cache_resource(max_entries=1)
def _store() -> dict:
    return {}


def cached(key: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per ``key`` in this process (a lock keeps sessions from racing)."""
    store = _store()
    with _LOCK:
        if key not in store:
            if len(store) > 32:
                store.pop(next(iter(store)))
            store[key] = compute()
        return store[key]


def force_arrows_html(
    atoms,
    dforces: np.ndarray,
    *,
    scale: float = 1.0,
    height: int = 420,
    script_url: str | None = None,
) -> str:
    """HTML: ``atoms`` with arrows ``scale * dforces`` [N, 3] at each atom.

    Self-contained unless ``script_url`` names where to load 3Dmol.js from
    (:func:`app.viewer.viewer_document`).

    >>> from ase.build import bulk
    >>> html = force_arrows_html(bulk("NaCl", "rocksalt", a=5.6), np.ones((2, 3)))
    >>> "data-pamm-arrows='2'" in html
    True
    >>> "data-pamm-arrows='0'" in force_arrows_html(bulk("Cu", "fcc", a=3.6), np.zeros((1, 3)))
    True
    """
    dforces = np.asarray(dforces, dtype=float).reshape(-1, 3)
    if len(dforces) != len(atoms):
        raise ValueError(f"{len(dforces)} force vectors for {len(atoms)} atoms")
    pos = atoms.get_positions()  # (N, 3)
    view = py3Dmol.view(width="100%", height=f"{height - 10}px", js="about:blank")
    lines = [str(len(atoms)), "PaMM interventions"]
    lines += [
        f"{s} {x:.5f} {y:.5f} {z:.5f}"
        for s, (x, y, z) in zip(atoms.get_chemical_symbols(), pos, strict=True)
    ]
    view.addModel("\n".join(lines) + "\n", "xyz")
    view.setStyle({}, {"sphere": {"scale": 0.3, "colorscheme": "Jmol"}})
    drawn = 0
    for p, d in zip(pos, dforces * scale, strict=True):
        if np.linalg.norm(d) < 1e-6:
            continue
        view.addArrow({"start": _vec(p), "end": _vec(p + d), "radius": 0.06, "color": "#d62728"})
        drawn += 1
    if atoms.cell.rank == 3:
        corners = _cell_corners(np.asarray(atoms.cell.array, dtype=float))
        for a, b in _CELL_EDGES:
            view.addLine({"start": _vec(corners[a]), "end": _vec(corners[b]), "color": "#555555"})
    view.zoomTo()
    attrs = f"data-pamm-natoms='{len(atoms)}' data-pamm-arrows='{drawn}'"
    return viewer_document(view, attrs=attrs, script_url=script_url)
