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

import io
import re
import warnings
from pathlib import PurePath

import numpy as np
from ase import Atoms

__all__ = ["ACCEPTED", "UploadError", "cif_site_counts", "detect_format", "parse_upload"]

#: human-readable list of accepted formats, used in messages
ACCEPTED = "CIF, POSCAR/CONTCAR, extended XYZ"
DEFAULT_MAX_BYTES = 2 * 1024 * 1024
#: smallest volume per atom accepted (Å^3); dense solids have ~5 Å^3/atom
MIN_VOLUME_PER_ATOM = 1.0
#: longest cell vector accepted (Å), far above any slab with vacuum
MAX_CELL_LENGTH = 1000.0

_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive (or an Office document)",
    b"\x1f\x8b": "a gzip-compressed file (upload the uncompressed text)",
    b"BZh": "a bzip2-compressed file (upload the uncompressed text)",
    b"\xfd7zXZ": "an xz-compressed file (upload the uncompressed text)",
    b"\x7fELF": "an executable",
    b"SQLite format 3": "an SQLite database (an ASE .db/.aselmdb dataset is not an upload)",
}
# Patterns are linear-time on hostile input (no nested or overlapping quantifiers, no \s
# spanning lines), and header lines longer than _MAX_HEADER_LINE are never matched.
_FLOAT = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eEdD][-+]?\d+)?"
_CIF_TAG = re.compile(r"^[ \t]*_cell_length_a\b", re.MULTILINE)
_CIF_DATA = re.compile(r"^[ \t]*data_", re.MULTILINE)
_THREE_FLOATS = re.compile(rf"[ \t]*{_FLOAT}[ \t]+{_FLOAT}[ \t]+{_FLOAT}(?:[ \t].*)?")
_ONE_OR_THREE_FLOATS = re.compile(rf"[ \t]*{_FLOAT}(?:[ \t]+{_FLOAT}[ \t]+{_FLOAT})?(?:[ \t].*)?")
_MAX_HEADER_LINE = 256


class UploadError(ValueError):
    """An upload was refused; ``str(err)`` is the message to show the user."""


def _display_name(filename: str) -> str:
    name = PurePath(str(filename).replace("\\", "/")).name
    name = "".join(ch for ch in name if ch.isprintable())[:80]
    return name or "upload"


def detect_format(text: str) -> str | None:
    """``"cif"``, ``"poscar"``, ``"extxyz"`` or ``None``, from the content alone.

    >>> detect_format("data_x\\n_cell_length_a 4.0\\n")
    'cif'
    >>> detect_format("2\\nLattice=\\"4 0 0 0 4 0 0 0 4\\" pbc=\\"T T T\\"\\nH 0 0 0\\nH 1 0 0\\n")
    'extxyz'
    >>> detect_format("hello") is None
    True
    """
    if _CIF_DATA.search(text) and _CIF_TAG.search(text):
        return "cif"
    all_lines = text.splitlines()
    lines = all_lines[:5]
    if (
        len(lines) >= 2
        and re.fullmatch(r"[0-9]+", lines[0].strip())
        and "lattice=" in lines[1].lower()
    ):
        return "extxyz"
    if (
        len(all_lines) >= 7
        and all(len(line) <= _MAX_HEADER_LINE for line in lines)
        and _ONE_OR_THREE_FLOATS.fullmatch(lines[1])
        and all(_THREE_FLOATS.fullmatch(line) for line in lines[2:5])
    ):
        return "poscar"
    return None


def _decode(data: bytes, name: str) -> str:
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise UploadError(
                f"{name}: this is {what}, not a structure file (accepted: {ACCEPTED})"
            )
    if b"\x00" in data[:8192]:
        raise UploadError(f"{name}: this is a binary file, not a text structure file")
    text = data.decode("utf-8-sig", errors="replace")
    bad = text.count("\ufffd")
    if bad > max(8, len(text) // 100):
        raise UploadError(f"{name}: not readable as text ({bad} invalid UTF-8 bytes)")
    return text


def _short(err: BaseException) -> str:
    message = " ".join(str(err).split()) or type(err).__name__
    return message if len(message) <= 200 else message[:197] + "..."


_CIF_TOKEN = re.compile(r"'[^']*'|\"[^\"]*\"|\S+")
_SITE_TAGS = ("_atom_site_fract_x", "_atom_site_cartn_x")
_SYMOP_TAGS = ("_symmetry_equiv_pos_as_xyz", "_space_group_symop_operation_xyz")
_SPACE_GROUP_TAGS = (
    "_symmetry_space_group_name_h-m",
    "_space_group_name_h-m_alt",
    "_symmetry_int_tables_number",
    "_space_group_it_number",
)
#: a CIF may generate at most this many positions per accepted atom (sites x operations)
CIF_EXPANSION_FACTOR = 4


def _space_group_order(value: str) -> int:
    """Number of symmetry operations of a space group given by symbol or number (192 if unknown)."""
    from pymatgen.symmetry.groups import SpaceGroup

    value = value.strip().strip("'\"").strip()
    try:
        group = SpaceGroup.from_int_number(int(value)) if value.isdigit() else SpaceGroup(value)
        return len(group.symmetry_ops)
    except Exception:  # unknown symbol: assume the largest group
        return 192


def cif_site_counts(text: str) -> tuple[int, int]:
    """(atom sites listed, symmetry operations) of a CIF, by a linear scan.

    Used to refuse oversized CIFs before the much slower full parse (seconds for a few
    thousand generated atoms): every listed site gives at least one atom, and sites x
    operations bounds the positions the parser would generate. Operations come from
    the symmetry-operation loop, else from the space-group symbol or number, else 1.

    >>> cif_site_counts("data_x\\nloop_\\n_atom_site_label\\n_atom_site_fract_x\\nA 0\\nB 0.5\\n")
    (2, 1)
    >>> cif_site_counts("data_x\\n_symmetry_space_group_name_H-M 'F m -3 m'\\n")
    (0, 192)
    """
    sites, ops, group = 0, 0, ""
    tags: list[str] = []
    tokens = 0
    in_loop = False

    def close() -> None:
        nonlocal sites, ops
        if tags and tokens:
            rows = -(-tokens // len(tags))  # ceil
            if any(tag in tags for tag in _SITE_TAGS):
                sites += rows
            if any(tag in tags for tag in _SYMOP_TAGS):
                ops = max(ops, rows)

    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        lower = line.lower()
        if lower.startswith(("loop_", "data_")) or (line.startswith("_") and tokens):
            if in_loop:
                close()
            in_loop, tags, tokens = lower.startswith("loop_"), [], 0
            if in_loop or lower.startswith("data_"):
                continue
        if in_loop and line.startswith("_") and not tokens:
            tags.append(lower.split()[0])
        elif in_loop:
            tokens += len(_CIF_TOKEN.findall(line))
        elif lower.startswith(_SPACE_GROUP_TAGS) and not group:
            group = line.split(None, 1)[1] if len(line.split(None, 1)) == 2 else ""
    if in_loop:
        close()
    if not ops:
        ops = _space_group_order(group) if group else 1
    return sites, ops


def _check_cif_size(text: str, name: str, max_atoms: int) -> None:
    sites, ops = cif_site_counts(text)
    if sites > max_atoms:
        raise UploadError(
            f"{name}: the CIF lists {sites} atom sites; at most {max_atoms} atoms are accepted"
        )
    if sites * ops > CIF_EXPANSION_FACTOR * max_atoms:
        raise UploadError(
            f"{name}: {sites} sites x {ops} symmetry operations could generate up to "
            f"{sites * ops} atoms (> {CIF_EXPANSION_FACTOR} x {max_atoms}); upload the "
            "expanded cell (P1 CIF or POSCAR) instead"
        )


def _check_declared_count(text: str, fmt: str, name: str, max_atoms: int) -> None:
    """Refuse a POSCAR/extxyz whose header declares more than ``max_atoms`` atoms.

    Checked before parsing, since a reader may allocate for the declared count.
    """
    lines = text.splitlines()
    if fmt == "extxyz":
        counts = [lines[0].strip()]
    else:  # poscar: line 7 holds the counts (line 6 without a symbols line)
        row = lines[6] if len(lines) > 6 and re.search(r"[A-Za-z]", lines[5]) else lines[5]
        counts = row.split()
    if any(len(c) > 9 for c in counts if c.isdigit()):
        raise UploadError(f"{name}: the header declares an absurd number of atoms")
    declared = sum(int(c) for c in counts if re.fullmatch(r"[0-9]{1,9}", c))
    if declared > max_atoms:
        raise UploadError(f"{name}: {declared} atoms; at most {max_atoms} are accepted")


def _read_cif(text: str) -> Atoms:
    from pymatgen.io.cif import CifParser

    structures = CifParser.from_str(text).parse_structures(primitive=False, on_error="ignore")
    if not structures:
        raise ValueError("no structure could be built from its data blocks")
    structure = structures[0]
    if not structure.is_ordered:
        raise UploadError(
            "the structure has partially occupied sites (a disordered CIF); "
            "order it into a supercell first"
        )
    return Atoms(
        numbers=[site.specie.Z for site in structure],
        positions=structure.cart_coords,  # (N, 3) Å
        cell=structure.lattice.matrix,  # (3, 3) Å, rows are lattice vectors
        pbc=True,
    )


def _read_poscar(text: str) -> Atoms:
    from ase.io.vasp import read_vasp

    lines = text.splitlines()
    # VASP-4 files have no element line: ASE would guess names from the title; refuse.
    if len(lines) > 5 and not re.search(r"[A-Za-z]", lines[5]):
        raise ValueError(
            "line 6 must list the element symbols (VASP 5 format); this looks like VASP 4"
        )
    return read_vasp(io.StringIO(text))


def _read_extxyz(text: str) -> Atoms:
    from ase.io import read

    atoms = read(io.StringIO(text), format="extxyz", index=0)
    return atoms if isinstance(atoms, Atoms) else atoms[0]


_READERS = {"cif": ("CIF", _read_cif), "poscar": ("POSCAR", _read_poscar)}
_READERS["extxyz"] = ("extended XYZ", _read_extxyz)


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
    image; refusing it here also keeps the neighbour search below cheap.
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


def _closest_pair(atoms: Atoms, reduced: np.ndarray) -> tuple[float, int, int]:
    """Shortest periodic distance between two atoms (or an atom and its image).

    Exact when every plane spacing of the reduced cell is at least the distance of
    interest: a closer pair then differs by at most one cell along each axis.
    """
    frac = np.linalg.solve(reduced.T, atoms.positions.T).T % 1.0  # (N, 3) in [0, 1)
    cart = frac @ reduced  # (N, 3) wrapped, Å
    best, best_i, best_j = np.inf, 0, 0
    n = len(atoms)
    for shift in np.array(np.meshgrid(*[[-1, 0, 1]] * 3)).T.reshape(-1, 3):
        delta = cart[None, :, :] + shift @ reduced - cart[:, None, :]  # (N, N, 3)
        dist = np.linalg.norm(delta, axis=-1)  # (N, N)
        if not shift.any():
            dist[np.arange(n), np.arange(n)] = np.inf
        k = int(np.argmin(dist))
        if dist.flat[k] < best:
            best, best_i, best_j = float(dist.flat[k]), k // n, k % n
    return best, best_i, best_j


def _check_overlaps(atoms: Atoms, reduced: np.ndarray, name: str, min_distance: float) -> None:
    d, a, b = _closest_pair(atoms, reduced)
    if d < min_distance:
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
    text = _decode(data, name)
    fmt = detect_format(text)
    if fmt is None:
        raise UploadError(
            f"{name}: not a recognised structure file (accepted: {ACCEPTED}); "
            "a CIF needs a data_ block with _cell_length_a, a POSCAR a scale line and "
            "three lattice vectors"
        )
    if fmt == "cif":
        _check_cif_size(text, name, max_atoms)
    else:
        _check_declared_count(text, fmt, name, max_atoms)
    label, reader = _READERS[fmt]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with np.errstate(all="ignore"):
                atoms = reader(text)
    except UploadError as err:
        raise UploadError(f"{name}: {err}") from None
    except Exception as err:  # the user boundary: no parser failure escapes raw
        raise UploadError(f"{name}: could not read this {label} file: {_short(err)}") from None
    with np.errstate(all="ignore"):  # absurd numbers are refused below, not warned about
        _check_cell(atoms, name)
        if len(atoms) > max_atoms:
            raise UploadError(f"{name}: {len(atoms)} atoms; at most {max_atoms} are accepted")
        _check_elements(atoms, name, max_z)
        _check_overlaps(atoms, _reduced_cell(atoms, name, min_distance), name, min_distance)
    atoms.info = {"upload_name": name, "upload_format": fmt}
    atoms.calc = None
    return atoms
