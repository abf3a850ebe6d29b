"""The analysed dataset: opening sources, structure indices, families, fingerprint.

A run's ``examples.parquet`` names structures by their index in the dataset opened
from the manifest's ``dataset.paths`` *exactly* as here: ``.aselmdb`` files (a folder
contributes every ``*.aselmdb`` below it) go through fairchem's ``AseDBDataset``, which
orders all files by sorted path; any other file (extxyz, CIF, POSCAR) is read with
``ase.io.read`` and appended in the given order. A manifest's paths are opened only
under the configured data root (:func:`open_dataset`): a run may come from another
machine, and its paths are never trusted as they stand.

>>> from ase.build import bulk
>>> ds = StructureSource.from_atoms([bulk("Cu"), bulk("Fe")])
>>> len(ds), ds.get_atoms(1).get_chemical_symbols()
(2, ['Fe'])
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ase import Atoms

from pamm.data.families import UNKNOWN_FAMILY, family_from_path, family_from_sid
from pamm.plumbing import configured_roots, stored_path_under

__all__ = ["StructureSource", "dataset_paths", "family_of", "load_structure", "open_dataset"]

_READABLE = (".extxyz", ".xyz", ".cif", ".traj", ".json")


def family_of(atoms: Atoms, source: str | Path | None = None) -> str:
    """``atoms.info["family"]``, else the family named in the sid, else in the source path."""
    fam = atoms.info.get("family")
    if isinstance(fam, str) and fam:
        return fam
    fam = family_from_sid(atoms.info.get("sid"))
    if fam == UNKNOWN_FAMILY and source is not None:
        fam = family_from_path(source)
    return fam


def _expand(paths: Sequence[str | Path]) -> tuple[list[str], list[str]]:
    lmdb, other = [], []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.rglob("*.aselmdb"))
            if not found:
                found_other = sorted(q for q in p.rglob("*") if q.suffix.lower() in _READABLE)
                other += [str(q) for q in found_other]
            lmdb += [str(q) for q in found]
        elif p.suffix == ".aselmdb":
            lmdb.append(str(p))
        elif p.is_file():
            other.append(str(p))
        else:
            raise FileNotFoundError(f"dataset path {p} does not exist")
    return sorted(lmdb), other


@dataclass
class StructureSource:
    """Indexable structures with their families; ``paths`` empty for in-memory atoms."""

    paths: list[str]
    _lmdb: Any = None
    _frames: list[Atoms] = field(default_factory=list)
    _files: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, paths: str | Path | Sequence[str | Path]) -> StructureSource:
        """Open ``.aselmdb`` files/folders and other ASE-readable files."""
        if isinstance(paths, str | Path):
            paths = [paths]
        paths = [str(Path(p).resolve()) for p in paths]
        lmdb, other = _expand(paths)
        if not lmdb and not other:
            raise FileNotFoundError(f"no structures (*.aselmdb or ASE-readable files) in {paths}")
        src = cls(paths=paths, _files=lmdb + other)
        if lmdb:
            from fairchem.core.datasets import AseDBDataset

            src._lmdb = AseDBDataset(config={"src": lmdb})
        if other:
            from ase.io import read

            for f in other:
                frames = read(f, index=":")
                for a in frames:
                    a.info.setdefault("source", f)
                src._frames += frames
        return src

    @classmethod
    def from_atoms(cls, atoms: Sequence[Atoms]) -> StructureSource:
        """Wrap in-memory structures (index = position in ``atoms``)."""
        return cls(paths=[], _frames=list(atoms))

    def __len__(self) -> int:
        return (len(self._lmdb) if self._lmdb is not None else 0) + len(self._frames)

    def get_atoms(self, index: int) -> Atoms:
        """Structure ``index`` (``atoms.info`` carries sid/family where stored)."""
        n_lmdb = len(self._lmdb) if self._lmdb is not None else 0
        if not 0 <= index < len(self):
            raise IndexError(f"structure index {index} outside [0, {len(self)})")
        if index < n_lmdb:
            return self._lmdb.get_atoms(index)
        return self._frames[index - n_lmdb].copy()

    def sid(self, atoms: Atoms, index: int) -> str:
        return str(atoms.info.get("sid", index))

    def family(self, atoms: Atoms) -> str:
        return family_of(atoms, atoms.info.get("source"))

    def fingerprint(self) -> str:
        """sha256 over file names, sizes and contents (or over the in-memory structures)."""
        h = hashlib.sha256()
        if not self._files:
            for a in self._frames:
                h.update(a.numbers.tobytes())
                h.update(a.positions.tobytes())
                h.update(a.cell.array.tobytes())
                h.update(repr(sorted((k, str(v)) for k, v in a.info.items())).encode())
            return h.hexdigest()
        for f in self._files:
            p = Path(f)
            h.update(p.name.encode())
            h.update(str(p.stat().st_size).encode())
            with p.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        return h.hexdigest()


def dataset_paths(dataset: dict[str, Any], data_root: str | Path | None = None) -> list[str]:
    """The paths of a manifest's ``dataset`` entry, each checked to lie under
    ``data_root`` (default: ``PAMM_DATA_ROOT``, :func:`pamm.plumbing.configured_roots`).

    Raises ``pamm.plumbing.PathOutsideRootError`` (a ValueError) for a path outside it
    and FileNotFoundError for an in-memory dataset (no paths).
    """
    paths = dataset.get("paths") or []
    if not paths:
        raise FileNotFoundError("the manifest's dataset names no paths (in-memory dataset)")
    root = configured_roots().data if data_root is None else Path(data_root)
    return [str(stored_path_under(root, p)) for p in paths]


def open_dataset(dataset: dict[str, Any], data_root: str | Path | None = None) -> StructureSource:
    """The dataset a manifest names, opened only under the data root (:func:`dataset_paths`)."""
    return StructureSource.open(dataset_paths(dataset, data_root))


def load_structure(
    dataset: dict[str, Any], index: int, data_root: str | Path | None = None
) -> Atoms:
    """Structure ``index`` of a manifest's ``dataset`` entry (same indexing as the census),
    opened under the data root (:func:`open_dataset`)."""
    return open_dataset(dataset, data_root).get_atoms(index)
