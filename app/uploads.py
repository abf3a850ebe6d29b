"""Turn an uploaded structure file into a checked, periodic :class:`ase.Atoms`.

Everything a user can upload goes through :func:`parse_upload`. It never lets a raw
exception out: every bad case becomes an :class:`UploadError` whose message says
what was wrong, in words a user can act on. The format is detected from the content
(the file name is only shown back); CIF is read by pymatgen, POSCAR and extended
XYZ by ASE.

Checks, in order: size cap, not empty, not binary, recognised format, parses, no
partial occupancy, finite coordinates, periodic in 3-D with a non-degenerate cell,
at most ``max_atoms`` atoms, every element in ``1..max_z``, no two atoms (or an atom
and its periodic image) closer than ``min_distance`` Å.

>>> poscar = '''NaCl
... 1.0
... 5.64 0 0
... 0 5.64 0
... 0 0 5.64
... Na Cl
... 1 1
... Direct
... 0 0 0
... 0.5 0.5 0.5
... '''
>>> atoms = parse_upload("NaCl.vasp", poscar.encode())
>>> atoms.get_chemical_formula(), atoms.info["upload_format"]
('ClNa', 'poscar')
>>> try:
...     parse_upload("../../x.cif", b"\\x89PNG\\r\\n\\x1a\\n....")
... except UploadError as err:
...     print(err)
x.cif: this is a PNG image, not a structure file (accepted: CIF, POSCAR/CONTCAR, extended XYZ)
"""

from __future__ import annotations

import warnings
from pathlib import PurePath

import numpy as np
from ase import Atoms

from app.upload_formats import (
    ACCEPTED,
    READERS,
    UploadError,
    check_cif_size,
    check_declared_count,
    cif_site_counts,
    decode_text,
    detect_format,
    short_message,
)

__all__ = ["ACCEPTED", "UploadError", "cif_site_counts", "detect_format", "parse_upload"]

DEFAULT_MAX_BYTES = 2 * 1024 * 1024
#: smallest volume per atom accepted (Å^3); dense solids have ~5 Å^3/atom
MIN_VOLUME_PER_ATOM = 1.0
#: longest cell vector accepted (Å), far above any slab with vacuum
MAX_CELL_LENGTH = 1000.0


def _display_name(filename: str) -> str:
    name = PurePath(str(filename).replace("\\", "/")).name
    name = "".join(ch for ch in name if ch.isprintable())[:80]
    return name or "upload"


def _check_cell(atoms: Atoms, name: str) -> None:
    if len(atoms) == 0:
        raise UploadError(f"{name}: the file contains no atoms")
    if not np.all(np.isfinite(atoms.positions)) or not np.all(np.isfinite(atoms.cell.array)):
        raise UploadError(f"{name}: coordinates or cell contain NaN or infinite numbers")
    if not atoms.pbc.all():
        raise UploadError(
            f"{name}: the structure is not periodic in all three directions "
            f"(pbc={atoms.pbc.tolist()}); PaMM needs a 3-D crystal with a unit cell"
        )
    lengths = atoms.cell.lengths()
    if lengths.max() > MAX_CELL_LENGTH:
        raise UploadError(
            f"{name}: a cell vector is {lengths.max():.3g} Å long; at most {MAX_CELL_LENGTH:g} Å"
        )
    volume = abs(float(np.linalg.det(atoms.cell.array)))
    if volume < MIN_VOLUME_PER_ATOM * len(atoms):
        raise UploadError(
            f"{name}: the unit cell is degenerate or far too small "
            f"({volume:.3g} Å^3 for {len(atoms)} atoms)"
        )


def _reduced_cell(atoms: Atoms, name: str, min_distance: float) -> np.ndarray:
    """The Minkowski-reduced cell (same lattice), refusing cells thinner than ``min_distance``.

    A thin reduced cell means an atom sits closer than ``min_distance`` to its own
    image; refusing it here also keeps the neighbour search of the overlap check cheap.
    """
    from ase.cell import Cell
    from ase.geometry import minkowski_reduce

    try:
        reduced, _ = minkowski_reduce(atoms.cell.array)
    except (RuntimeError, ValueError, OverflowError):
        raise UploadError(f"{name}: the unit cell is numerically degenerate") from None
    spacings = 1.0 / np.linalg.norm(Cell(reduced).reciprocal(), axis=1)  # plane spacings, Å
    if not np.all(np.isfinite(spacings)) or spacings.min() < min_distance:
        raise UploadError(
            f"{name}: the unit cell is only {spacings.min():.3g} Å thick in one direction, "
            f"so atoms overlap their own periodic images (minimum {min_distance} Å)"
        )
    return reduced


def _check_elements(atoms: Atoms, name: str, max_z: int) -> None:
    numbers = atoms.numbers
    bad = sorted({int(z) for z in numbers if z < 1 or z > max_z})
    if bad:
        from ase.data import chemical_symbols

        shown = ", ".join(
            f"{chemical_symbols[z] if 0 < z < len(chemical_symbols) else '?'} (Z={z})" for z in bad
        )
        raise UploadError(f"{name}: unsupported element(s) {shown}; supported are Z = 1..{max_z}")


def _check_overlaps(atoms: Atoms, name: str, min_distance: float) -> None:
    """Refuse two atoms (or an atom and its own periodic image) closer than
    ``min_distance``: the closest pair from ASE's neighbour list."""
    from ase.neighborlist import neighbor_list

    first, second, dist = neighbor_list("ijd", atoms, min_distance)  # pairs closer than it
    if len(dist):
        k = int(np.argmin(dist))
        d, a, b = float(dist[k]), int(first[k]), int(second[k])
        syms = atoms.get_chemical_symbols()
        what = "its own periodic image" if a == b else f"atom {b} ({syms[b]})"
        raise UploadError(
            f"{name}: atoms overlap: atom {a} ({syms[a]}) is {d:.3f} Å from {what}; "
            f"the minimum allowed distance is {min_distance} Å"
        )


def parse_upload(
    filename: str,
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_atoms: int = 500,
    max_z: int = 94,
    min_distance: float = 0.5,
) -> Atoms:
    """Parse and check one uploaded structure; raise :class:`UploadError` if refused.

    Returns a new periodic ``Atoms`` whose ``info`` holds ``upload_name`` (the file
    name without directories) and ``upload_format`` (``cif``/``poscar``/``extxyz``).
    """
    name = _display_name(filename)
    if not isinstance(data, bytes | bytearray | memoryview):
        raise UploadError(f"{name}: expected the file's bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise UploadError(
            f"{name}: file is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB"
        )
    if not data.strip():
        raise UploadError(f"{name}: the file is empty")
    text = decode_text(data, name)
    fmt = detect_format(text)
    if fmt is None:
        raise UploadError(
            f"{name}: not a recognised structure file (accepted: {ACCEPTED}); "
            "a CIF needs a data_ block with _cell_length_a, a POSCAR a scale line and "
            "three lattice vectors"
        )
    if fmt == "cif":
        check_cif_size(text, name, max_atoms)
    else:
        check_declared_count(text, fmt, name, max_atoms)
    label, reader = READERS[fmt]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with np.errstate(all="ignore"):
                atoms = reader(text)
    except UploadError as err:
        raise UploadError(f"{name}: {err}") from None
    except Exception as err:  # the user boundary: no parser failure escapes raw
        raise UploadError(
            f"{name}: could not read this {label} file: {short_message(err)}"
        ) from None
    with np.errstate(all="ignore"):  # absurd numbers are refused below, not warned about
        _check_cell(atoms, name)
        if len(atoms) > max_atoms:
            raise UploadError(f"{name}: {len(atoms)} atoms; at most {max_atoms} are accepted")
        _check_elements(atoms, name, max_z)
        _reduced_cell(atoms, name, min_distance)  # refuses cells thinner than min_distance
        _check_overlaps(atoms, name, min_distance)
    atoms.info = {"upload_name": name, "upload_format": fmt}
    atoms.calc = None
    return atoms
