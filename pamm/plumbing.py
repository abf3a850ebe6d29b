"""Shared plumbing, written once: configured roots and paths resolved under them,
atomic file writes, ASE atoms -> fairchem batch, and one checked checkpoint load.

**Roots.** A lab points the app at its own data through environment variables only;
the app then offers *names* under these roots (never free-form paths) and turns a
chosen name into a path with :func:`resolve_under`, which refuses anything that would
leave the root (``..``, absolute paths, symlinks pointing outside, NUL bytes). A path
*stored* in a manifest (a run may come from another machine) is opened only through
:func:`stored_path_under` / :func:`find_checkpoint`, so neither the dashboard nor the
analysis probes ever open a manifest path outside the roots.

=======================  ==========================================  ===============
variable                 holds                                       default
=======================  ==========================================  ===============
``PAMM_DATA_ROOT``       structure datasets (``.aselmdb`` dirs, ...)  bundled ``assets/``
``PAMM_CHECKPOINT_ROOT``  model checkpoints (``*.pt``)                 bundled ``assets/``
``PAMM_RUNS_ROOT``       analysis run directories (read and written)  ``./runs``
=======================  ==========================================  ===============

>>> roots = configured_roots({"PAMM_RUNS_ROOT": "/srv/pamm/runs"})
>>> str(roots.runs)
'/srv/pamm/runs'
>>> roots.data == BUNDLED_ASSETS
True
>>> str(resolve_under("/srv/pamm/runs", "demo/manifest.json"))
'/srv/pamm/runs/demo/manifest.json'
>>> resolve_under("/srv/pamm/runs", "../../etc/passwd")
Traceback (most recent call last):
...
pamm.plumbing.PathOutsideRootError: '../../etc/passwd' leaves the configured root /srv/pamm/runs

**Atomic writes.** A temporary file in the same folder, flushed and moved into place
with ``os.replace``: a reader never sees a half-written file.

>>> import tempfile, json
>>> d = Path(tempfile.mkdtemp())
>>> atomic_write_json(d / "m.json", {"a": 1})
>>> json.loads((d / "m.json").read_text())
{'a': 1}
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import torch
    from ase import Atoms

__all__ = [
    "BUNDLED_ASSETS",
    "ENV_CHECKPOINT_ROOT",
    "ENV_DATA_ROOT",
    "ENV_RUNS_ROOT",
    "PathOutsideRootError",
    "Roots",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_npz",
    "atomic_write_parquet",
    "atomic_write_text",
    "atoms_to_batch",
    "configured_roots",
    "find_checkpoint",
    "folder_sha256",
    "list_under",
    "load_checked_model",
    "resolve_under",
    "sha256_file",
    "stored_path_under",
]

#: the repository's bundled demo data and checkpoints (``<repo>/assets``)
BUNDLED_ASSETS = Path(__file__).resolve().parents[1] / "assets"

ENV_DATA_ROOT = "PAMM_DATA_ROOT"
ENV_CHECKPOINT_ROOT = "PAMM_CHECKPOINT_ROOT"
ENV_RUNS_ROOT = "PAMM_RUNS_ROOT"


class PathOutsideRootError(ValueError):
    """A requested name would resolve outside its configured root."""


@dataclass(frozen=True)
class Roots:
    """Absolute directories the app may read (and, for ``runs``, write)."""

    data: Path
    checkpoints: Path
    runs: Path


def _root_from_env(env: Mapping[str, str], var: str, default: Path) -> Path:
    value = env.get(var, "").strip()
    if not value:
        return default
    if "\x00" in value:
        raise ValueError(f"{var} contains a NUL byte")
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    return Path(os.path.normpath(path))


def configured_roots(env: Mapping[str, str] | None = None) -> Roots:
    """Read the roots from ``env`` (default ``os.environ``); paths are made absolute.

    Nothing is created or required to exist here: the app reports a missing root
    where it is used, with the variable's name.
    """
    env = os.environ if env is None else env
    return Roots(
        data=_root_from_env(env, ENV_DATA_ROOT, BUNDLED_ASSETS),
        checkpoints=_root_from_env(env, ENV_CHECKPOINT_ROOT, BUNDLED_ASSETS),
        runs=_root_from_env(env, ENV_RUNS_ROOT, Path.cwd() / "runs"),
    )


def resolve_under(root: str | os.PathLike[str], name: str) -> Path:
    """``root / name`` as an absolute path, refusing any name that leaves ``root``.

    ``name`` is a relative path chosen from what the app listed under ``root``.
    Symlinks are followed (for the parts that exist) before the containment check,
    so a link inside the root that points elsewhere is refused too.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if not name.strip():
        raise PathOutsideRootError("an empty name does not select anything under the root")
    if "\x00" in name:
        raise PathOutsideRootError(f"{name!r} contains a NUL byte")
    root_path = Path(os.path.normpath(Path(root).expanduser().absolute()))
    if Path(name).is_absolute() or Path(name).drive:
        raise PathOutsideRootError(f"{name!r} is an absolute path; give a name under {root_path}")
    candidate = Path(os.path.normpath(root_path / name))
    real_root = root_path.resolve()
    real_candidate = candidate.resolve()  # follows symlinks of the existing prefix
    if not (candidate.is_relative_to(root_path) and real_candidate.is_relative_to(real_root)):
        raise PathOutsideRootError(f"{name!r} leaves the configured root {root_path}")
    return candidate


def list_under(root: str | os.PathLike[str], pattern: str = "*") -> list[str]:
    """Sorted names (relative to ``root``) matching a glob ``pattern`` that stay inside it.

    For selection widgets: the user picks one of these names, never types a path.
    A missing root gives an empty list.
    """
    root_path = Path(root)
    if not root_path.is_dir():
        return []
    names = []
    for path in root_path.glob(pattern):
        name = path.relative_to(root_path).as_posix()
        try:
            resolve_under(root_path, name)
        except PathOutsideRootError:
            continue
        names.append(name)
    return sorted(names)


def stored_path_under(root: str | os.PathLike[str], stored: str | os.PathLike[str]) -> Path:
    """A path read from a manifest, accepted only if it lies under ``root``.

    The path may come from another machine: it is never opened unless, with symlinks
    followed, it stays inside the configured root.

    >>> str(stored_path_under("/srv/data", "/srv/data/train"))
    '/srv/data/train'
    >>> stored_path_under("/srv/data", "/home/x")
    Traceback (most recent call last):
    ...
    pamm.plumbing.PathOutsideRootError: '/home/x' is outside the configured root /srv/data
    """
    text = os.fspath(stored)
    root_path = Path(os.path.normpath(Path(root).expanduser().absolute()))
    path = Path(os.path.normpath(Path(text).expanduser().absolute()))
    if "\x00" in text or not (
        path.is_relative_to(root_path) and path.resolve().is_relative_to(root_path.resolve())
    ):
        raise PathOutsideRootError(f"{text!r} is outside the configured root {root_path}")
    return path


def sha256_file(path: str | os.PathLike[str]) -> str:
    """sha256 hex digest of a file (streamed)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def folder_sha256(folder: str | os.PathLike[str]) -> str:
    """sha256 over the relative names and contents of a folder's files (all depths; the
    ``*.aselmdb-lock`` files LMDB readers may leave are not data): a cache key that changes with
    the data, not only with its path."""
    folder = Path(folder)
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix != ".aselmdb-lock"]
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(f"{path.relative_to(folder).as_posix()}\0{sha256_file(path)}\0".encode())
    return h.hexdigest()


def find_checkpoint(
    root: str | os.PathLike[str], stored: str | None, sha256: str | None
) -> Path | None:
    """The checkpoint a manifest names, found under ``root``: the stored path if it lies
    there, else any file under ``root`` with the same name; in both cases only if its
    sha256 matches. None if there is none (a stored path outside the root is never
    opened)."""
    if not stored or not sha256:
        return None
    try:
        candidates = [stored_path_under(root, stored)]
    except PathOutsideRootError:
        candidates = []
    candidates += [resolve_under(root, n) for n in list_under(root, f"**/{Path(stored).name}")]
    for path in dict.fromkeys(candidates):
        if path.is_file() and sha256_file(path) == sha256:
            return path
    return None


def atomic_write(
    path: str | os.PathLike[str], write: Callable[[Any], object], mode: str = "wb"
) -> Path:
    """Write ``path`` atomically: ``write(handle)`` fills a temp file in the same folder,
    which is flushed, synced, made 0644 and moved into place (``os.replace``). On any
    error the temp file is removed and an existing ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; outputs are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write(path, lambda fh: fh.write(data), "wb")


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def atomic_write_json(path: str | os.PathLike[str], obj: Any, **dumps: Any) -> None:
    """Write ``obj`` as JSON atomically (indent 2 unless ``dumps`` says otherwise; numpy
    scalars and arrays allowed)."""
    text = json.dumps(obj, **{"indent": 2, **dumps}, default=_json_default)
    atomic_write_text(path, text + "\n")


def atomic_write_parquet(path: str | os.PathLike[str], frame: pd.DataFrame) -> None:
    """Write a DataFrame as Parquet (no index) atomically."""
    buf = io.BytesIO()
    frame.reset_index(drop=True).to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())


def atomic_write_npz(path: str | os.PathLike[str], **arrays: np.ndarray) -> None:
    """Write arrays as a compressed ``.npz`` atomically (no pickled objects)."""
    import numpy as np

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def atoms_to_batch(atoms: Iterable[Atoms], *, task_name: str = "omat", keep_labels: bool = False):
    """One fairchem ``AtomicData`` batch of ASE structures (the model builds the graph).

    Inputs are not modified; their calculators are dropped unless ``keep_labels`` (then
    a calculator's energy/forces/stress ride along as targets).
    """
    from fairchem.core.datasets.atomic_data import AtomicData
    from fairchem.core.datasets.collaters.simple_collater import data_list_collater

    data = []
    for item in atoms:
        if not keep_labels:
            item = item.copy()
            item.calc = None
        data.append(AtomicData.from_ase(item, task_name=task_name))
    return data_list_collater(data, otf_graph=True)


def load_checked_model(
    path: str | os.PathLike[str], *, sha256: str | None = None
) -> torch.nn.Module:
    """The PaMM model of a checkpoint, in eval mode.

    Read with ``weights_only=True`` (:func:`pamm.checkpoint.load_pamm_model`), its spec
    checked against the hash parameters and table shapes
    (:func:`pamm.checkpoint.check_memory_tables`), and, given ``sha256``, the file
    checked to be the one a run names. Raises ValueError naming the mismatch.
    """
    from pamm.checkpoint import check_memory_tables, load_pamm_model

    if sha256 is not None and sha256_file(path) != sha256:
        raise ValueError(f"checkpoint {path} is not the one the run names (sha256 differs)")
    model, _ = load_pamm_model(path)
    check_memory_tables(model)
    return model.eval()
