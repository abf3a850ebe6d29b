"""Read structures (with their OMat24 family) from ``.aselmdb`` data, extxyz, CIF or POSCAR.

``.aselmdb`` files are read with fairchem's ``AseDBDataset`` (one dataset per folder,
so OMat24's ``<split>/<family>/*.aselmdb`` layout and our ``DATA/<split>/`` layout both
work). Every yielded ``Atoms`` carries ``info["sid"]``, ``info["family"]`` and
``info["source"]`` (the file it came from). The family is, in order: the stored
``info["family"]``, the family named in the sid, the family named by a folder of the
path, else ``"unknown"``. Unreadable input raises :class:`StructureReadError` naming the file.

>>> import tempfile
>>> from ase.build import bulk
>>> from ase.io import write
>>> d = tempfile.mkdtemp(); write(f"{d}/Cu.cif", bulk("Cu"))
>>> [(len(a), a.info["family"]) for a in read_structures(d)]
[(1, 'unknown')]
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from ase import Atoms

from pamm.data.families import UNKNOWN_FAMILY, family_from_path, family_from_sid

__all__ = [
    "ASELMDB_SUFFIX",
    "FILE_SUFFIXES",
    "StructureReadError",
    "find_aselmdb_dirs",
    "iter_structures",
    "open_aselmdb",
    "read_structures",
]

ASELMDB_SUFFIX = ".aselmdb"
#: file suffix -> reader; POSCAR/CONTCAR are matched by name
FILE_SUFFIXES = {
    ".extxyz": "extxyz",
    ".xyz": "extxyz",
    ".cif": "cif",
    ".vasp": "vasp",
    ".poscar": "vasp",
}
_VASP_NAMES = ("POSCAR", "CONTCAR")


class StructureReadError(ValueError):
    """A file or folder could not be read as structures; the message names it."""


def _file_format(path: Path) -> str | None:
    if path.suffix.lower() in FILE_SUFFIXES:
        return FILE_SUFFIXES[path.suffix.lower()]
    if any(name in path.name.upper() for name in _VASP_NAMES):
        return "vasp"
    return None


def find_aselmdb_dirs(root: str | Path) -> list[Path]:
    """Folders under ``root`` (itself included) that hold ``*.aselmdb`` files, sorted."""
    root = Path(root)
    return sorted({p.parent for p in root.rglob(f"*{ASELMDB_SUFFIX}") if p.is_file()})


def open_aselmdb(folder: str | Path):
    """fairchem ``AseDBDataset`` over the ``*.aselmdb`` files of one folder (or one file)."""
    from fairchem.core.datasets import AseDBDataset

    folder = Path(folder)
    files = [folder] if folder.is_file() else sorted(folder.glob(f"*{ASELMDB_SUFFIX}"))
    if not files:
        raise StructureReadError(f"{folder}: no *{ASELMDB_SUFFIX} files")
    try:
        return AseDBDataset(config={"src": [str(f) for f in files]})
    except Exception as err:
        raise StructureReadError(f"{folder}: cannot open as ASE LMDB data ({err})") from err


def _with_family(atoms: Atoms, source: Path, default_sid: str) -> Atoms:
    sid = atoms.info.get("sid")
    if not isinstance(sid, str) or not sid:
        sid = default_sid
    family = atoms.info.get("family")
    if not isinstance(family, str) or not family or family == UNKNOWN_FAMILY:
        family = family_from_sid(sid)
        if family == UNKNOWN_FAMILY:
            family = family_from_path(source)
    atoms.info.update(sid=sid, family=family, source=str(source))
    return atoms


def _iter_aselmdb(folder: Path) -> Iterator[Atoms]:
    dataset = open_aselmdb(folder)
    for idx in range(len(dataset)):
        yield _with_family(dataset.get_atoms(idx), folder, f"{folder.name}_{idx}")


def _read_file(path: Path) -> list[Atoms]:
    fmt = _file_format(path)
    if fmt is None:
        raise StructureReadError(
            f"{path}: unsupported file type {path.suffix or path.name!r}; expected "
            f"{ASELMDB_SUFFIX}, {', '.join(FILE_SUFFIXES)} or a name containing POSCAR/CONTCAR"
        )
    if path.stat().st_size == 0 or not path.read_text(errors="replace").strip():
        raise StructureReadError(f"{path}: empty file")
    try:
        if fmt == "cif":
            from pymatgen.io.ase import AseAtomsAdaptor
            from pymatgen.io.cif import CifParser

            structures = CifParser(path).parse_structures(primitive=False)
            images = [AseAtomsAdaptor.get_atoms(s) for s in structures]
        else:
            import ase.io

            images = ase.io.read(path, index=":", format=fmt)
    except Exception as err:
        raise StructureReadError(f"{path}: not a readable {fmt} file ({err})") from err
    if not images or any(len(a) == 0 for a in images):
        raise StructureReadError(f"{path}: no atoms found (truncated or malformed {fmt} file?)")
    return images


def iter_structures(path: str | Path, *, limit: int | None = None) -> Iterator[Atoms]:
    """Yield structures from a file, an ``.aselmdb`` folder, or a folder tree of either.

    Folders are walked in sorted order; structure files (extxyz/xyz, CIF, POSCAR/CONTCAR,
    .vasp) and ``.aselmdb`` folders are read, other files are skipped.
    """
    path = Path(path)
    if not path.exists():
        raise StructureReadError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix == ASELMDB_SUFFIX:
            gen = _iter_aselmdb(path)
        else:
            gen = (
                _with_family(a, path, f"{path.stem}_{k}") for k, a in enumerate(_read_file(path))
            )
        yield from islice(gen, limit)
        return

    def walk() -> Iterator[Atoms]:
        found = False
        for folder in find_aselmdb_dirs(path):
            found = True
            yield from _iter_aselmdb(folder)
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            if _file_format(file) is not None:
                found = True
                for k, atoms in enumerate(_read_file(file)):
                    yield _with_family(atoms, file, f"{file.stem}_{k}")
        if not found:
            raise StructureReadError(f"{path}: no structure files or *{ASELMDB_SUFFIX} data")

    yield from islice(walk(), limit)


def read_structures(path: str | Path, *, limit: int | None = None) -> list[Atoms]:
    """All structures of :func:`iter_structures` as a list (``limit`` caps the count)."""
    return list(iter_structures(path, limit=limit))
