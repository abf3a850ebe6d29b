"""Reading and writing a run directory: atomic writes, the manifest, ``load_run``.

Every artifact is written atomically (:mod:`pamm.plumbing`), so a reader (the
dashboard) never sees a half-written file.
A whole run is written into a sibling staging directory and swapped in at once
(:func:`replace_dir`), so a killed ``pamm analyze`` leaves the previous run intact.

>>> import tempfile
>>> load_run(tempfile.mkdtemp())  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
analysis.io.RunError: ...: no manifest.json (not an analysis run directory?)
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analysis.schema import MANIFEST_KEYS, PARQUET_ARTIFACTS, SCHEMA_VERSION, TABLES
from pamm.plumbing import atomic_write_json

__all__ = [
    "Run",
    "RunError",
    "load_run",
    "read_manifest",
    "replace_dir",
    "staging_dir",
    "write_manifest",
]


class RunError(ValueError):
    """A run directory is missing, incomplete or of another schema version."""


def staging_dir(run_dir: str | Path) -> Path:
    """A fresh, empty sibling ``.<name>.staging-<pid>`` of ``run_dir`` (old ones removed)."""
    run_dir = Path(run_dir)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    for stale in run_dir.parent.glob(f".{run_dir.name}.staging-*"):
        shutil.rmtree(stale, ignore_errors=True)
    stage = run_dir.parent / f".{run_dir.name}.staging-{os.getpid()}"
    stage.mkdir()
    return stage


def _exchange(a: Path, b: Path) -> None:
    """Swap two directories atomically (Linux ``renameat2(RENAME_EXCHANGE)``).

    Where that call is missing, falls back to three renames (a short window without ``b``).
    """
    at_fdcwd, rename_exchange = -100, 2
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is not None:
        if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL, errno.EPERM):
            raise OSError(err, f"cannot swap {a} and {b}: {os.strerror(err)}")
    parked = b.with_name(f".{b.name}.old-{os.getpid()}")
    os.rename(b, parked)
    os.rename(a, b)
    os.rename(parked, a)


def replace_dir(stage: str | Path, run_dir: str | Path) -> None:
    """Put the complete ``stage`` directory in place of ``run_dir`` in one step.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "run").mkdir(); (root / "run" / "a").write_text("old")
    3
    >>> stage = staging_dir(root / "run"); (stage / "a").write_text("new")
    3
    >>> replace_dir(stage, root / "run"); (root / "run" / "a").read_text(), stage.exists()
    ('new', False)
    """
    stage, run_dir = Path(stage), Path(run_dir)
    if run_dir.exists():
        _exchange(stage, run_dir)
        shutil.rmtree(stage)  # now holds the previous run
    else:
        os.rename(stage, run_dir)


def write_manifest(run_dir: str | Path, manifest: dict[str, Any]) -> None:
    """Validate the manifest's keys and write ``manifest.json`` atomically."""
    missing = sorted(set(MANIFEST_KEYS) - set(manifest))
    if missing:
        raise ValueError(f"manifest is missing key(s) {missing}; required: {sorted(MANIFEST_KEYS)}")
    if manifest["schema_version"] != SCHEMA_VERSION:
        raise ValueError(
            f"manifest schema_version={manifest['schema_version']} != {SCHEMA_VERSION}"
        )
    atomic_write_json(Path(run_dir) / "manifest.json", manifest)


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """Read and check ``manifest.json`` of a run directory (clear errors naming the file)."""
    path = Path(run_dir) / "manifest.json"
    if not path.is_file():
        raise RunError(f"{path}: no manifest.json (not an analysis run directory?)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise RunError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(manifest, dict):
        raise RunError(f"{path}: expected a JSON object")
    missing = sorted(set(MANIFEST_KEYS) - set(manifest))
    if missing:
        raise RunError(f"{path}: missing manifest key(s) {missing}")
    if manifest["schema_version"] != SCHEMA_VERSION:
        raise RunError(
            f"{path}: schema_version {manifest['schema_version']} but this code reads "
            f"{SCHEMA_VERSION}; re-run `pamm analyze`"
        )
    return manifest


_KIND_CHECKS: dict[str, Callable[[pa.DataType], bool]] = {
    "int": pa.types.is_integer,
    "float": pa.types.is_floating,
    "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
    "bool": pa.types.is_boolean,
    "object": lambda t: pa.types.is_list(t) or pa.types.is_large_list(t),
}


def _kind(dtype: str) -> str:
    for kind in ("int", "float", "string", "bool", "object"):
        if dtype.startswith(kind):
            return kind
    raise ValueError(f"schema dtype {dtype!r} has no kind")


def _check_parquet(path: Path, heads: int) -> None:
    name = path.name
    try:
        schema = pq.read_schema(path)
    except Exception as err:
        raise RunError(f"{path}: unreadable Parquet ({err})") from err
    expected = {c.name: c.dtype for c in PARQUET_ARTIFACTS[name]}
    if name.endswith("_motifs.parquet") and name != "bucket_motifs.parquet":
        expected.update({f"{c}_{h}": "int64" for h in range(heads) for c in ("bucket", "shared")})
    for col, dtype in expected.items():
        if col not in schema.names:
            raise RunError(f"{path}: missing column {col!r}")
        arrow_type = schema.field(col).type
        if not _KIND_CHECKS[_kind(dtype)](arrow_type) and not pa.types.is_null(arrow_type):
            raise RunError(f"{path}: column {col!r} has type {arrow_type}, expected {dtype}")


@dataclass
class Run:
    """A validated run directory; tables load lazily and are cached.

    ``run.frame("buckets")`` or ``run.frame("buckets.parquet")`` returns a DataFrame,
    ``run.select("buckets", table="pair", head=0, bucket=[3, 7])`` some of its rows;
    ``run.motifs("pair")`` the motif table; ``run.table_rows()`` the NPZ arrays;
    ``run.metrics`` the metrics dict; ``run.spec`` the ``MotifMemorySpec``.
    """

    path: Path
    manifest: dict[str, Any]
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def frame(self, name: str) -> pd.DataFrame:
        """One Parquet artifact as a DataFrame (name with or without ``.parquet``)."""
        file = name if name.endswith(".parquet") else f"{name}.parquet"
        if file not in PARQUET_ARTIFACTS:
            raise KeyError(f"unknown artifact {name!r}; known: {sorted(PARQUET_ARTIFACTS)}")
        if file not in self._cache:
            self._cache[file] = pd.read_parquet(self.path / file)
        return self._cache[file]

    def select(
        self,
        name: str,
        *,
        table: str | None = None,
        head: int | None = None,
        bucket: Any = None,
        key: Any = None,
    ) -> pd.DataFrame:
        """Rows of artifact ``name`` matching every selector given (None: any).

        ``bucket`` and ``key`` take one value or a collection of them. The one place
        for the ``(table, head, bucket)`` filters of the pages.
        """
        frame = self.frame(name)
        mask = np.ones(len(frame), bool)
        for column, want in (("table", table), ("head", head), ("bucket", bucket), ("key", key)):
            if want is None:
                continue
            values = frame[column].to_numpy()
            many = isinstance(want, list | tuple | set | frozenset | np.ndarray | pd.Index)
            mask &= np.isin(values, list(want)) if many else values == want
        return frame[mask]

    def motifs(self, table: str) -> pd.DataFrame:
        """The motif table of ``table`` (``"pair"`` or ``"triplet"``)."""
        if table not in TABLES:
            raise KeyError(f"table {table!r} is not one of {TABLES}")
        return self.frame(f"{table}_motifs")

    def table_rows(self) -> dict[str, np.ndarray]:
        """Contents of ``table_rows.npz`` (``<table>_rows`` [H, M, D], ``<table>_occupied``)."""
        if "table_rows" not in self._cache:
            with np.load(self.path / "table_rows.npz", allow_pickle=False) as npz:
                self._cache["table_rows"] = {k: npz[k] for k in npz.files}
        return self._cache["table_rows"]

    @property
    def metrics(self) -> dict[str, Any]:
        """Contents of ``metrics.json``."""
        if "metrics" not in self._cache:
            self._cache["metrics"] = json.loads((self.path / "metrics.json").read_text())
        return self._cache["metrics"]

    @property
    def spec(self) -> Any:
        """The run's ``pamm.spec.MotifMemorySpec``."""
        from pamm.spec import MotifMemorySpec

        return MotifMemorySpec.from_dict(self.manifest["spec"])

    @property
    def families(self) -> list[str]:
        """Families present in the census."""
        return list(self.manifest["families"])


def load_run(path: str | Path) -> Run:
    """Open a run directory, checking manifest version and every artifact's columns.

    Raises ``RunError`` naming the offending file when anything is missing or stale.
    """
    run_dir = Path(path)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: run directory does not exist")
    manifest = read_manifest(run_dir)
    heads = int(manifest["spec"].get("heads", 2))
    for name in PARQUET_ARTIFACTS:
        file = run_dir / name
        if not file.is_file():
            raise RunError(f"{file}: missing artifact (incomplete run; re-run `pamm analyze`)")
        _check_parquet(file, heads)
    for name in ("table_rows.npz", "metrics.json"):
        if not (run_dir / name).is_file():
            raise RunError(f"{run_dir / name}: missing artifact")
    return Run(path=run_dir, manifest=manifest)
