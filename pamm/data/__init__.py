"""Data layer: OMat24 families, readers (fairchem ``AseDBDataset``, extxyz/CIF/POSCAR),
the ``.aselmdb`` writer, and the synthetic OMat-like generator (``pamm generate``).

The generator (:mod:`pamm.data.generate`) needs the optional ``generate`` extra (CHGNet)
and is not imported here.
"""

from pamm.data.families import (
    HELDOUT_FAMILIES,
    OMAT24_FAMILIES,
    SYNTHETIC_FAMILIES,
    UNKNOWN_FAMILY,
    family_from_path,
    family_from_sid,
    family_group,
)
from pamm.data.readers import (
    StructureReadError,
    find_aselmdb_dirs,
    iter_structures,
    open_aselmdb,
    read_structures,
)
from pamm.data.writer import write_aselmdb, write_metadata

__all__ = [
    "HELDOUT_FAMILIES",
    "OMAT24_FAMILIES",
    "SYNTHETIC_FAMILIES",
    "UNKNOWN_FAMILY",
    "StructureReadError",
    "family_from_path",
    "family_from_sid",
    "family_group",
    "find_aselmdb_dirs",
    "iter_structures",
    "open_aselmdb",
    "read_structures",
    "write_aselmdb",
    "write_metadata",
]
