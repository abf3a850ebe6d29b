"""The filesystem roots the dashboard may read, and a guard against escaping them.

A lab points the app at its own data through environment variables only; the app
then offers *names* under these roots (never free-form paths) and turns a chosen name
into a path with :func:`resolve_under`, which refuses anything that would leave the
root (``..``, absolute paths, symlinks pointing outside, NUL bytes).

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
pamm.settings.PathOutsideRootError: '../../etc/passwd' leaves the configured root /srv/pamm/runs
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BUNDLED_ASSETS",
    "ENV_CHECKPOINT_ROOT",
    "ENV_DATA_ROOT",
    "ENV_RUNS_ROOT",
    "PathOutsideRootError",
    "Roots",
    "configured_roots",
    "list_under",
    "resolve_under",
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
