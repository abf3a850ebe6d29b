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
    "FIGURES",
    "RESULTS",
    "SEL_BUCKET",
    "SEL_MOTIF",
    "STATIC_3DMOL_URL",
    "ProcessCache",
    "bin_unit",
    "cached",
    "cached_figure",
    "element_symbols",
    "head_picker",
    "motif_elements",
    "motif_title",
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


def motif_title(table: str, elements: tuple[str, ...]) -> str:
    """An unambiguous name of a motif's elements, given in key order: (Zj, Zi) =
    (neighbour, centre) for pairs, (Zj, Zi, Zk) with the angle at the centre i.

    >>> motif_title("pair", ("O", "Si")), motif_title("triplet", ("O", "Ti", "O"))
    ('O around Si', 'O–Ti–O (angle at Ti)')
    """
    if table == "pair":
        neighbour, centre = elements
        return f"{neighbour} around {centre}"
    return f"{'–'.join(elements)} (angle at {elements[1]})"


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


class ProcessCache:
    """A per-process LRU of values computed from a key naming every input.

    Each key is computed once even when several sessions ask at the same time (one lock
    per key: a minutes-long probe computation does not hold up a figure elsewhere).
    Callers must not mutate what they get.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[tuple, threading.Lock] = {}

    def get(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """The value of ``key``, from ``compute()`` the first time."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
            key_lock = self._computing.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._values:
                    return self._values[key]
            value = compute()
            with self._lock:
                self._values[key] = value
                while len(self._values) > self.size:
                    self._values.popitem(last=False)
                self._computing.pop(key, None)
        return value

    def __iter__(self):
        """The keys held now (a snapshot, least recently used first)."""
        with self._lock:
            return iter(list(self._values))

    def __len__(self) -> int:
        return len(self._values)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


#: plotly figures (0.1-2 s to build in plotly express) and computed results such as the
#: Interventions probes (minutes), per process
FIGURES = ProcessCache(64)
RESULTS = ProcessCache(32)


def cached_figure(key: tuple, build: Callable[[], Any]) -> Any:
    """``build()`` once per ``key`` (every input of the figure, incl. the run's manifest
    stamp) in this process, then the same figure object."""
    return FIGURES.get(key, build)


def cached(key: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per ``key`` in this process (probes, ablations, ...)."""
    return RESULTS.get(key, compute)
