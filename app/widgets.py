"""Small presentation helpers shared by the pages (pickers, labels, the 3D panel).

Nothing here computes statistics; it selects, joins and formats what ``analysis``
wrote. Cross-page selections live in ``st.session_state`` under the ``SEL_*`` keys.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st
from ase.data import chemical_symbols

from analysis.io import Run
from app.viewer import GATE_COLORSCALE, Scene, scene_html

__all__ = [
    "SEL_BUCKET",
    "SEL_MOTIF",
    "STATIC_3DMOL_URL",
    "bin_unit",
    "cached_figure",
    "element_symbols",
    "head_picker",
    "motif_elements",
    "show_scene",
    "table_picker",
    "viewer_script_url",
]

#: session keys of the linked selection: (table, key) and (table, head, bucket)
SEL_MOTIF = "selected_motif"
SEL_BUCKET = "selected_bucket"


def bin_unit(table: str) -> str:
    """Unit of the motif bin: Å for pair distances, degrees for triplet angles.

    >>> bin_unit("pair"), bin_unit("triplet")
    ('Å', '°')
    """
    return "Å" if table == "pair" else "°"


def element_symbols(z: pd.Series | np.ndarray) -> list[str]:
    """Element symbols of atomic numbers (negative numbers, i.e. 'no k', are dropped).

    >>> element_symbols(np.array([8, 26, -1]))
    ['O', 'Fe']
    """
    return [chemical_symbols[int(v)] for v in np.asarray(z) if 0 < int(v) < len(chemical_symbols)]


def motif_elements(motifs: pd.DataFrame) -> list[str]:
    """Sorted element symbols appearing in a motif table (any of j, i, k)."""
    zs = np.unique(np.concatenate([motifs[c].to_numpy() for c in ("zj", "zi", "zk")]))
    return sorted(element_symbols(zs))


def table_picker(key: str, *, default: str | None = None) -> str:
    """Radio for the motif table (pair or triplet)."""
    options = ["pair", "triplet"]
    index = options.index(default) if default in options else 0
    return st.radio("Table", options, index=index, horizontal=True, key=key)


def head_picker(run: Run, key: str, *, default: int = 0) -> int:
    """Selector for a hash head of the run's spec."""
    heads = list(range(int(run.manifest["spec"].get("heads", 1))))
    return st.selectbox("Head", heads, index=min(default, len(heads) - 1), key=key)


#: where ``streamlit run`` serves ``app/static/3Dmol-min.js`` when static serving is on
#: (relative to the page URL, so a ``server.baseUrlPath`` keeps working)
STATIC_3DMOL_URL = "app/static/3Dmol-min.js"


def viewer_script_url() -> str | None:
    """The 3Dmol.js URL the viewers load, or None to inline the library.

    With ``server.enableStaticServing`` on (``--server.enableStaticServing true`` or
    ``STREAMLIT_SERVER_ENABLE_STATIC_SERVING=true``; ``app.harness`` sets it) the browser
    fetches and compiles the 540 KB library once and reuses it; otherwise every viewer
    inlines it (always works, slower page switches).
    """
    return STATIC_3DMOL_URL if st.get_option("server.enableStaticServing") else None


def show_scene(scene: Scene, *, height: int = 420, caption: str | None = None) -> None:
    """Draw a scene with the offline 3Dmol viewer inside an iframe."""
    st.iframe(scene_html(scene, height=height, script_url=viewer_script_url()), height=height)
    if caption:
        st.caption(caption)
    if scene.bonds:
        st.caption(
            f"Bonds coloured by gate activation ({GATE_COLORSCALE}: dark = 0, yellow = 1; "
            "grey = not captured). Halos: red = i (centre), blue = j, green = k."
        )


#: figures kept per process by ``cached_figure`` (least recently used dropped first)
FIGURE_CACHE_SIZE = 64
_FIGURE_LOCK = threading.Lock()


@st.cache_resource(show_spinner=False, max_entries=1)
def _figure_store() -> OrderedDict:
    return OrderedDict()


def cached_figure(key: tuple, build: Callable[[], Any]) -> Any:
    """``build()`` once per ``key`` in this process, then the same figure object.

    Building a plotly express figure costs 0.1–2 s (one trace per colour category);
    revisiting a page with the same inputs should not pay it again. ``key`` must name
    every input of ``build`` (the run's manifest stamp, table, head, ...). Callers must
    not mutate the returned figure.
    """
    store = _figure_store()
    with _FIGURE_LOCK:
        if key in store:
            store.move_to_end(key)
            return store[key]
    figure = build()  # outside the lock: two sessions may build the same figure once each
    with _FIGURE_LOCK:
        store[key] = figure
        while len(store) > FIGURE_CACHE_SIZE:
            store.popitem(last=False)
    return figure
