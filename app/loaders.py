"""Which run the dashboard shows, and cached access to it.

The app reads only under the roots of :mod:`pamm.plumbing` (``PAMM_RUNS_ROOT``,
``PAMM_DATA_ROOT``, ``PAMM_CHECKPOINT_ROOT``). The run shown is a *name* under the
runs root: ``PAMM_RUN`` (default ``demo``), switchable in the sidebar among the
runs found there. Loaders are cached on the run's manifest bytes, so a re-written
run is picked up and switching pages is instant. A path stored in a manifest is never
opened as it stands: the run's checkpoint is looked up under the checkpoint root by
name and sha256 (:func:`run_model`), its dataset under the data root
(``analysis.data.open_dataset``).
"""

from __future__ import annotations

import gc
import hashlib
import os
import time
from pathlib import Path

import streamlit as st

from analysis.io import Run, RunError, load_run
from pamm.plumbing import (
    PathOutsideRootError,
    configured_roots,
    find_checkpoint,
    list_under,
    load_checked_model,
    resolve_under,
    stored_path_under,
)

__all__ = [
    "DEMO_RUN",
    "ENV_RUN",
    "current_run",
    "freeze_long_lived",
    "manifest_stamp",
    "open_run",
    "run_model",
    "run_names",
    "sibling_evaluations",
    "stored_probes",
]

ENV_RUN = "PAMM_RUN"
DEMO_RUN = "demo"


def freeze_long_lived() -> None:
    """Exempt everything alive now (imported packages, a loaded run or model) from the
    cyclic garbage collector (``gc.freeze()``).

    Call after loading something big that lives as long as the server. Without it every
    few page switches a full collection walks torch/fairchem/pandas objects (0.5 s on 2
    cores, measured) and stalls the page, as the server holds the GIL meanwhile. No
    collection first (it would cost the same 0.5 s once, on the way to a page), so cyclic
    garbage alive at that moment is kept for good (once per load).
    """
    gc.freeze()


def manifest_stamp(run_dir: Path) -> str:
    """sha256 of the run's ``manifest.json`` ('' if absent): the cache key of a run."""
    path = Path(run_dir) / "manifest.json"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


@st.cache_resource(show_spinner="Loading analysis run…", max_entries=4)
def open_run(run_dir: str, stamp: str) -> Run:
    """The validated run at ``run_dir`` (cached per manifest ``stamp``)."""
    del stamp  # part of the cache key only
    run = load_run(run_dir)
    freeze_long_lived()
    return run


def run_names() -> list[str]:
    """Names of the run directories (with a manifest) under the runs root."""
    runs_root = configured_roots().runs
    return [Path(n).parent.as_posix() for n in list_under(runs_root, "*/manifest.json")]


def _chosen_name() -> str:
    default = os.environ.get(ENV_RUN, "").strip() or DEMO_RUN
    names = run_names()
    if default not in names:
        names = [default, *names]
    if len(names) > 1:
        return st.sidebar.selectbox("Analysis run", names, index=names.index(default), key="run")
    st.sidebar.caption(f"Analysis run: **{default}**")
    return default


def _first_start(run_dir: Path) -> None:
    """Show the demo's first start (starting it if nobody has) until the run exists.

    The analysis runs in its own process (:mod:`app.first_start`): closing the tab does
    not stop it, and every visitor watches the same one. Reruns the page every second.
    """
    from app import first_start

    state = first_start.status(run_dir)
    if state.state == "failed":
        st.error(f"Computing the demo analysis run failed: {state.message}")
        if st.button("Try again", key="first_start_retry"):
            first_start.start(run_dir)
            st.rerun()
        st.stop()
    if state.state == "absent":
        try:
            first_start.demo_inputs()
        except FileNotFoundError as err:
            st.error(f"The demo analysis run does not exist yet and cannot be built: {err}")
            st.stop()
        first_start.start(run_dir)
    if state.state != "done":
        st.info(
            "First start: the demo analysis run is being computed in the background (once; "
            "later starts are instant). It goes on if you close this tab."
        )
        st.progress(min(max(state.fraction, 0.0), 1.0), text=state.message or "Starting…")
        time.sleep(1.0)
        st.rerun()


def current_run() -> Run:
    """The run chosen in the sidebar; builds the demo run on first start.

    Stops the page with a clear message (never a traceback) if the run is unusable.
    """
    roots = configured_roots()
    name = _chosen_name()
    try:
        run_dir = resolve_under(roots.runs, name)
    except ValueError as err:
        st.error(f"Run name {name!r} is not usable: {err}")
        st.stop()
    if name == DEMO_RUN:
        _first_start(run_dir)  # returns at once when the run is there (and current)
    elif not (run_dir / "manifest.json").is_file():
        st.error(
            f"No analysis run named {name!r} under {roots.runs} (set PAMM_RUNS_ROOT / "
            f"PAMM_RUN, or write one with `pamm analyze --out {run_dir}`)."
        )
        st.stop()
    try:
        return open_run(str(run_dir), manifest_stamp(run_dir))
    except RunError as err:
        st.error(f"The analysis run {name!r} cannot be read: {err}")
        st.stop()


def sibling_evaluations(checkpoint: str | None) -> list[dict]:
    """Overall MAEs from ``*.metrics.json`` beside the run's checkpoint (one row per
    checkpoint and split), read only if the checkpoint lies under the checkpoint root."""
    import json

    if not checkpoint:
        return []
    try:
        folder = stored_path_under(configured_roots().checkpoints, checkpoint).parent
    except PathOutsideRootError:
        return []
    rows = []
    for path in sorted(folder.glob("*.metrics.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for split, block in sorted((data.get("metrics") or {}).items()):
            overall = block.get("overall") if isinstance(block, dict) else None
            if isinstance(overall, dict):
                rows.append({"checkpoint": data.get("checkpoint", path.name), "split": split,
                             **overall})  # fmt: skip
    return rows


@st.cache_data(show_spinner=False, max_entries=8)
def _checkpoint_under_root(root: str, stored: str, sha256: str) -> str | None:
    found = find_checkpoint(root, stored, sha256)
    return None if found is None else str(found)


@st.cache_resource(show_spinner="Loading the checkpoint…", max_entries=2)
def _load_model(path: str, sha256: str):
    from app.prefetch import wait_for_prefetch

    wait_for_prefetch()  # torch/fairchem may be importing in the background
    model = load_checked_model(path, sha256=sha256)
    freeze_long_lived()
    return model


def run_model(run: Run):
    """The run's model, from its checkpoint found under ``PAMM_CHECKPOINT_ROOT`` (same
    file name and sha256; :func:`pamm.plumbing.find_checkpoint`) and loaded checked
    (:func:`pamm.plumbing.load_checked_model`), cached per process.

    Stops the page with a message when there is none or it cannot be loaded.
    """
    ckpt = run.manifest["checkpoint"]
    stored, sha256 = ckpt.get("path"), str(ckpt.get("sha256"))
    if not stored:
        st.warning("This run was computed from an in-memory model: no checkpoint to run.")
        st.stop()
    path = _checkpoint_under_root(str(configured_roots().checkpoints), stored, sha256)
    if path is None:
        st.warning(
            f"The run's checkpoint `{Path(stored).name}` (sha256 {sha256[:12]}…) is not under "
            "PAMM_CHECKPOINT_ROOT: nothing to run."
        )
        st.stop()
    try:
        return _load_model(path, sha256)
    except (OSError, ValueError, RuntimeError) as err:
        st.error(f"The run's checkpoint cannot be loaded: {err}")
        st.stop()


@st.cache_resource(show_spinner="Loading the stored probes…", max_entries=4)
def _load_probes(run_dir: str, stamp: str):
    from analysis.schema import PROBES_JSON
    from app.prefetch import wait_for_prefetch

    del stamp  # part of the cache key only
    if not (Path(run_dir) / PROBES_JSON).is_file():
        return None  # no probes: nothing heavy to import
    wait_for_prefetch()  # the probes module imports torch, maybe importing in the background
    from analysis.probe_artifacts import load_probes

    return load_probes(run_dir)


def stored_probes(run: Run) -> dict | None:
    """The run's stored probes (``pamm analyze --probes N``; the dict of
    ``analysis.probe_artifacts.load_probes``), cached per manifest; None when the run has
    none, or (with a warning on the page) when they cannot be read. Do not mutate it.
    """
    try:
        return _load_probes(str(run.path), manifest_stamp(run.path))
    except RunError as err:
        st.warning(f"Ignoring the stored probes of this run: {err}")
        return None
