"""First start of the demo: compute the analysis run with a progress display.

The bundled demo ships a dataset and checkpoints, not the analysis run; the first
page view computes it once with ``analysis.run_analysis`` (atomic writes, so an
interrupted start leaves nothing half-written) while the page shows a progress bar.
A process-wide lock keeps two browser sessions from computing it twice.
"""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import streamlit as st

from pamm.plumbing import configured_roots

__all__ = ["build_demo_run", "demo_inputs"]

_LOCK = threading.Lock()
#: preferred demo checkpoint names, first found wins (under the checkpoint root)
_CHECKPOINT_PATTERNS = ("checkpoints/demo*.pt", "checkpoints/*gate*.pt", "checkpoints/*.pt", "*.pt")


def demo_inputs() -> tuple[Path, Path]:
    """(checkpoint, dataset) of the bundled demo under the configured roots.

    Raises FileNotFoundError naming what is missing and the variable that moves it.
    """
    roots = configured_roots()
    checkpoint = None
    for pattern in _CHECKPOINT_PATTERNS:
        found = sorted(roots.checkpoints.glob(pattern))
        if found:
            checkpoint = found[0]
            break
    if checkpoint is None:
        raise FileNotFoundError(
            f"no demo checkpoint (*.pt) under {roots.checkpoints / 'checkpoints'} "
            "(set PAMM_CHECKPOINT_ROOT)"
        )
    data = roots.data / "data" if (roots.data / "data").is_dir() else roots.data
    if not any(data.rglob("*.aselmdb")):
        raise FileNotFoundError(f"no .aselmdb dataset under {data} (set PAMM_DATA_ROOT)")
    return checkpoint, data


#: structures per family analysed for the bundled demo (8 families -> 320 structures), so the
#: first start stays within a few minutes on 2 CPU cores; recorded in the run's manifest.
DEMO_STRUCTURES_PER_FAMILY = 40
#: structures whose causal probes are stored in the demo run, so the Interventions page
#: opens without computing them (``pamm analyze --probes``)
DEMO_PROBES = 24
#: ``analysis.run_analysis`` settings of the demo run (the app's first start and
#: ``pamm demo --prepare`` build the same run)
DEMO_ANALYSIS = {"max_per_family": DEMO_STRUCTURES_PER_FAMILY, "probes": DEMO_PROBES}


def build_demo_run(run_dir: Path) -> None:
    """Compute the demo analysis into ``run_dir`` with an ``st.progress`` bar, then rerun."""
    try:
        checkpoint, data = demo_inputs()
    except FileNotFoundError as err:
        st.error(f"The demo analysis run does not exist yet and cannot be built: {err}")
        st.stop()
    from analysis import run_analysis

    st.info(
        f"First start: computing the demo analysis run from `{checkpoint.name}` on "
        f"`{data}` (once; later starts are instant)."
    )
    bar = st.progress(0.0, text="Starting the analysis…")

    def progress(fraction: float, message: str = "") -> None:
        bar.progress(min(max(float(fraction), 0.0), 1.0), text=message or "Analysing…")

    with _LOCK:
        if not (run_dir / "manifest.json").is_file():
            try:
                run_analysis(
                    checkpoint,
                    data,
                    run_dir,
                    progress=progress,
                    **DEMO_ANALYSIS,
                )
            except Exception as err:  # shown to the user, not as a traceback
                st.error(f"Computing the demo analysis failed: {type(err).__name__}: {err}")
                st.stop()
    bar.progress(1.0, text="Done")
    gc.collect()  # the analysis's garbage, before open_run freezes the heap (app.loaders)
    st.rerun()
