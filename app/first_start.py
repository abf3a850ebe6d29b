"""Demo first start: the analysis run computed once, in one background process per run.

The bundled demo ships a dataset and checkpoints, not the analysis run. The first page
view starts ``python -m app.first_start RUN_DIR`` in its own session, so it outlives the
browser tab and the page's script run. That process holds an exclusive lock
(``.<name>.lock`` beside the run, ``fcntl.flock``, released by the kernel however the
process ends) while it computes, and writes its progress to ``.<name>.progress.json``.
Every page, for any visitor, shows that progress until the manifest appears; a second
start finds the lock taken and leaves, so two tabs never start two analyses.
An interrupted start leaves no run (the manifest is written last): on SIGTERM or an
error the process removes its staging folder (on SIGTERM in the signal handler itself,
then exits); after a SIGKILL the next start removes it.

``pamm demo --prepare`` computes the same run in the foreground (:func:`compute`),
under the same lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pamm.plumbing import atomic_write_json, configured_roots, sha256_file

__all__ = [
    "DEMO_ANALYSIS",
    "Status",
    "compute",
    "demo_inputs",
    "start",
    "status",
]

#: preferred demo checkpoint names, first found wins (under the checkpoint root)
_CHECKPOINT_PATTERNS = ("checkpoints/demo*.pt", "checkpoints/*gate*.pt", "checkpoints/*.pt", "*.pt")
#: structures per family analysed for the bundled demo (8 families -> 320 structures), so the
#: first start stays within a few minutes on 2 CPU cores; recorded in the run's manifest.
DEMO_STRUCTURES_PER_FAMILY = 40
#: structures whose causal probes are stored in the demo run, so the Interventions page
#: opens without computing them (``pamm analyze --probes``)
DEMO_PROBES = 24
#: ``analysis.run_analysis`` settings of the demo run (first start and ``--prepare``)
DEMO_ANALYSIS = {"max_per_family": DEMO_STRUCTURES_PER_FAMILY, "probe_structures": DEMO_PROBES}
#: least time between two progress-file writes (s)
_PROGRESS_EVERY_S = 0.5

#: processes started by this server (polled, so a finished one does not linger as a zombie)
_CHILDREN: dict[str, subprocess.Popen] = {}
_START_LOCK = threading.Lock()


def _demo_checkpoint() -> Path | None:
    """The demo checkpoint under the configured checkpoint root (first pattern that matches)."""
    root = configured_roots().checkpoints
    for pattern in _CHECKPOINT_PATTERNS:
        found = sorted(root.glob(pattern))
        if found:
            return found[0]
    return None


@functools.lru_cache(maxsize=8)
def _sha256_of(path: str, mtime_ns: int, size: int) -> str:
    """sha256 of a file, cached per (path, mtime, size): pages ask on every render."""
    return sha256_file(path)


def _checkpoint_changed(manifest: dict) -> bool:
    """True if the run was made from another checkpoint than today's demo checkpoint (a
    checkpoint replaced by a newer bundled one: its analysis is stale)."""
    checkpoint = _demo_checkpoint()
    recorded = (manifest.get("checkpoint") or {}).get("sha256")
    if checkpoint is None or recorded is None:
        return False  # nothing to compare (demo_inputs reports a missing checkpoint)
    stat = checkpoint.stat()
    return _sha256_of(str(checkpoint), stat.st_mtime_ns, stat.st_size) != recorded


def demo_inputs() -> tuple[Path, Path]:
    """(checkpoint, dataset) of the bundled demo under the configured roots.

    Raises FileNotFoundError naming what is missing and the variable that moves it.
    """
    roots = configured_roots()
    checkpoint = _demo_checkpoint()
    if checkpoint is None:
        raise FileNotFoundError(
            f"no demo checkpoint (*.pt) under {roots.checkpoints / 'checkpoints'} "
            "(set PAMM_CHECKPOINT_ROOT)"
        )
    data = roots.data / "data" if (roots.data / "data").is_dir() else roots.data
    if not any(data.rglob("*.aselmdb")) and not any(data.rglob("*.extxyz")):
        raise FileNotFoundError(
            f"no dataset (*.aselmdb or *.extxyz) under {data} (set PAMM_DATA_ROOT)"
        )
    return checkpoint, data


def _sidecar(run_dir: Path, suffix: str) -> Path:
    return run_dir.parent / f".{run_dir.name}.{suffix}"


@dataclass(frozen=True)
class Status:
    """Where the first start of ``run_dir`` stands."""

    state: str  # "done" | "running" | "failed" | "absent"
    fraction: float = 0.0
    message: str = ""


def _lock_taken(run_dir: Path) -> bool:
    """True if a process holds the run's lock (probed without waiting, then released)."""
    path = _sidecar(run_dir, "lock")
    if not path.exists():
        return False
    with path.open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


def _is_current(run_dir: Path) -> bool:
    """A run with a manifest of this schema version, made from today's demo checkpoint (an
    older schema is recomputed with the census reused, the statistics rewritten; another
    checkpoint, e.g. a newer bundled ``gate.pt``, recomputes the census too)."""
    from analysis.schema import SCHEMA_VERSION

    try:
        manifest = json.loads((run_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict) or manifest.get("schema_version") != SCHEMA_VERSION:
        return False
    return not _checkpoint_changed(manifest)


def _read_progress(run_dir: Path) -> dict:
    try:
        return json.loads(_sidecar(run_dir, "progress.json").read_text())
    except (OSError, ValueError):
        return {}


def status(run_dir: str | Path) -> Status:
    """The state of ``run_dir``'s first start, as any page (or visitor) sees it."""
    run_dir = Path(run_dir)
    child = _CHILDREN.get(str(run_dir))
    alive = child is not None and child.poll() is None  # poll() also reaps a finished one
    if _is_current(run_dir):
        return Status("done", 1.0, "done")
    progress = _read_progress(run_dir)
    if alive or _lock_taken(run_dir):
        return Status("running", float(progress.get("fraction", 0.0)),
                      str(progress.get("message", "starting")))  # fmt: skip
    if progress.get("error"):
        return Status("failed", float(progress.get("fraction", 0.0)), str(progress["error"]))
    return Status("absent")


def start(run_dir: str | Path) -> bool:
    """Start the background first start of ``run_dir`` unless it is done or running.

    Returns True if a process was started. Safe to call from every session and page:
    a process that finds the lock taken leaves at once.
    """
    run_dir = Path(run_dir)
    with _START_LOCK:
        if status(run_dir).state in {"done", "running"}:
            return False
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        _sidecar(run_dir, "progress.json").unlink(missing_ok=True)
        import app

        env = dict(os.environ)  # the child imports this very `app` package
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(app.__file__).resolve().parents[1]), *filter(None, [env.get("PYTHONPATH")])]
        )
        with _sidecar(run_dir, "first-start.log").open("ab") as log:
            _CHILDREN[str(run_dir)] = subprocess.Popen(
                [sys.executable, "-m", "app.first_start", str(run_dir)],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives the tab, the page run and a server restart
            )  # fmt: skip
        return True


@contextlib.contextmanager
def _locked(run_dir: Path, *, wait: bool) -> Iterator[bool]:
    """Hold the run's lock for the block; yields False if taken and not ``wait``."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with _sidecar(run_dir, "lock").open("a") as fh:
        if not _acquire(fh, wait):
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _acquire(fh, wait: bool, *, tries: int = 40, pause: float = 0.05) -> bool:
    """Take the exclusive lock: blocking with ``wait``, else give up only if it stays
    taken for ``tries * pause`` s (a page's :func:`status` probe holds it for an instant;
    a computing process for minutes)."""
    if wait:
        fcntl.flock(fh, fcntl.LOCK_EX)
        return True
    for _ in range(tries):
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            time.sleep(pause)
    return False


def _remove_staging(run_dir: Path) -> None:
    for stale in run_dir.parent.glob(f".{run_dir.name}.staging-*"):
        shutil.rmtree(stale, ignore_errors=True)


def compute(
    run_dir: str | Path,
    progress: Callable[[float, str], None] | None = None,
    *,
    wait: bool = False,
) -> bool:
    """Compute the demo run into ``run_dir`` under its lock; False if another process
    holds it (with ``wait``, block until it is done instead). Progress goes to
    ``progress`` and to the progress file the pages read; an error is written there too
    (then raised), and the staging folder is removed."""
    run_dir = Path(run_dir)
    with _locked(run_dir, wait=wait) as mine:
        if not mine or _is_current(run_dir):
            return False
        _remove_staging(run_dir)  # left by a killed start
        print(f"first start: analysis of {run_dir} (pid {os.getpid()})", flush=True)
        checkpoint, data = demo_inputs()
        last = [0.0]

        def report(fraction: float, message: str = "") -> None:
            if progress is not None:
                progress(fraction, message)
            now = time.monotonic()
            if now - last[0] >= _PROGRESS_EVERY_S or fraction >= 1.0:
                last[0] = now
                atomic_write_json(_sidecar(run_dir, "progress.json"),
                                  {"fraction": fraction, "message": message})  # fmt: skip

        from analysis import AnalysisSettings, run_analysis

        try:
            settings = AnalysisSettings(**DEMO_ANALYSIS)
            run_analysis(checkpoint, data, run_dir, settings, progress=report, tqdm_bar=False)
        except BaseException as err:
            _remove_staging(run_dir)
            detail = f"{type(err).__name__}: {err}"
            atomic_write_json(_sidecar(run_dir, "progress.json"), {"error": detail})
            raise
    return True


def _terminate(run_dir: Path, signum: int, frame: object) -> None:
    """SIGTERM: remove the staging folder, record why, exit at once. Only raising here is not
    enough: the signal may land in code that swallows exceptions (a ``__del__``, a callback),
    and the start then ran on to a finished run with exit code 0 (seen once in CI)."""
    if not _is_current(run_dir):
        _remove_staging(run_dir)
        atomic_write_json(_sidecar(run_dir, "progress.json"),
                          {"error": f"SystemExit: stopped by signal {signum}"})  # fmt: skip
    os._exit(128 + signum)  # the kernel frees the lock


def main(argv: list[str] | None = None) -> int:
    """Body of the background process: ``python -m app.first_start RUN_DIR``."""
    (run_dir,) = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, functools.partial(_terminate, Path(run_dir)))
    try:
        compute(Path(run_dir))
    except Exception as err:  # recorded in the progress file for the pages
        print(f"first start failed: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
