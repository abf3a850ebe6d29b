"""Import the heavy packages in the background once the dashboard is up.

The 3D example panels open the dataset through fairchem (``.aselmdb``) and label
environments with pymatgen; Interventions and Try a structure load a checkpoint (torch,
fairchem). Imported on first use these cost ~10 s on 2 cores, paid by whoever first
opens such a page. :func:`start_prefetch` imports them in one low-priority daemon thread
a few seconds after the first page ran, then freezes the heap
(:func:`app.loaders.freeze_long_lived`).
Code that needs them calls :func:`wait_for_prefetch` first, so the two threads never
import the same packages at the same time. Off with ``PAMM_PREFETCH=0``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
import time
from collections.abc import Sequence

import streamlit as st

from app.loaders import freeze_long_lived

__all__ = [
    "ENV_PREFETCH",
    "PREFETCH_MODULES",
    "prefetch_imports",
    "start_prefetch",
    "wait_for_prefetch",
]

ENV_PREFETCH = "PAMM_PREFETCH"
#: what the 3D panels (dataset, CrystalNN) and the checkpoint pages import on first use
PREFETCH_MODULES = (
    "fairchem.core.datasets",
    "pymatgen.io.ase",
    "pymatgen.analysis.local_env",
    "pamm.checkpoint",
)
#: let the first page finish drawing (the browser needs the cores) before starting
PREFETCH_DELAY_S = 5.0


def prefetch_imports(modules: Sequence[str] = PREFETCH_MODULES, delay: float = 0.0) -> list[str]:
    """Import ``modules`` (after ``delay`` s), then freeze the heap; the names imported.

    A module that fails to import is skipped: the page that needs it reports the error.
    """
    time.sleep(delay)
    done = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:
            continue
        done.append(name)
    freeze_long_lived()
    return done


def _in_background(modules: Sequence[str], delay: float) -> None:
    """Thread body: lowest CPU priority where the OS allows it per thread (Linux), then
    :func:`prefetch_imports`."""
    with contextlib.suppress(AttributeError, OSError):  # best effort
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    prefetch_imports(modules, delay)


def _enabled() -> bool:
    return os.environ.get(ENV_PREFETCH, "1").strip().lower() not in {"0", "false", "no", "off"}


@st.cache_resource(show_spinner=False)
def start_prefetch() -> threading.Thread | None:
    """Start the prefetch thread (once per server process); None if switched off."""
    if not _enabled():
        return None
    thread = threading.Thread(
        target=_in_background,
        kwargs={"modules": PREFETCH_MODULES, "delay": PREFETCH_DELAY_S},
        name="pamm-prefetch",
        daemon=True,
    )
    thread.start()
    return thread


def wait_for_prefetch() -> None:
    """Block until the prefetch thread (if any) is done: call before heavy imports."""
    thread = start_prefetch()
    if thread is not None and thread is not threading.current_thread():
        thread.join()
