"""Real structure files for the deploy tests, written from pymatgen's bundled structures."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pymatgen.util
from pymatgen.core import Structure
from pymatgen.io.cif import CifWriter
from pymatgen.io.vasp import Poscar

STRUCTURE_DIR = Path(pymatgen.util.__file__).parent / "structures"


@cache
def bundled_structures() -> dict[str, Structure]:
    """name -> Structure for every structure shipped with pymatgen (21 real crystals)."""
    return {path.stem: Structure.from_file(path) for path in sorted(STRUCTURE_DIR.glob("*.json"))}


def ordered_structures() -> dict[str, Structure]:
    """The bundled structures without partial occupancies."""
    return {name: s for name, s in bundled_structures().items() if s.is_ordered}


@cache
def cif_bytes(name: str) -> bytes:
    """One bundled structure as CIF text."""
    return str(CifWriter(bundled_structures()[name])).encode()


@cache
def poscar_bytes(name: str) -> bytes:
    """One bundled (ordered) structure as a VASP-5 POSCAR."""
    return Poscar(bundled_structures()[name]).get_str().encode()
