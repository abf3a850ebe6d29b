"""Reading an uploaded file's bytes: format by content, decoding, pre-parse size limits.

The part of :mod:`app.uploads` that knows file formats: ``detect_format`` (CIF,
POSCAR/CONTCAR, extended XYZ, from the content alone), ``decode_text`` (refuses images,
archives, binaries), the header checks that run *before* a parser may allocate
(``check_cif_size``, ``check_declared_count``) and the readers (``READERS``: pymatgen
for CIF, ASE for POSCAR and extended XYZ). Every refusal is an ``UploadError``.
"""

from __future__ import annotations

import io
import re

from ase import Atoms

__all__ = [
    "ACCEPTED",
    "READERS",
    "UploadError",
    "check_cif_size",
    "check_declared_count",
    "cif_site_counts",
    "decode_text",
    "detect_format",
    "short_message",
]

#: human-readable list of accepted formats, used in messages
ACCEPTED = "CIF, POSCAR/CONTCAR, extended XYZ"

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


def decode_text(data: bytes, name: str) -> str:
    """The upload as text, or ``UploadError`` for images, archives, binaries, non-UTF-8."""
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


def short_message(err: BaseException) -> str:
    """A parser exception as one line of at most 200 characters."""
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


def check_cif_size(text: str, name: str, max_atoms: int) -> None:
    """Refuse a CIF whose sites (or sites x symmetry operations) exceed the atom limit."""
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


def check_declared_count(text: str, fmt: str, name: str, max_atoms: int) -> None:
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


READERS = {"cif": ("CIF", _read_cif), "poscar": ("POSCAR", _read_poscar)}
READERS["extxyz"] = ("extended XYZ", _read_extxyz)
