"""Offline seed crystals for the synthetic generator, plus substitution and supercells.

Three collections that ship inside installed packages (nothing is downloaded):
pymatgen's AFLOW prototypes (``analysis/prototypes/aflow_prototypes.json.gz``, 288
ordered crystals), ASE's ``dcdft`` elemental crystals (71) and pymatgen's bundled real
structures (``util/structures/*.json``). Seeds are kept if ordered, all elements have
Z ≤ 94 and are not noble gases, and the cell holds at most 64 atoms.

>>> seeds = load_seeds()
>>> len(seeds) > 300, all(len(s.atoms) <= 64 for s in seeds)
(True, True)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import covalent_radii

__all__ = ["MAX_Z", "NOBLE_GASES", "Seed", "load_seeds", "make_supercell", "substitute"]

#: Highest atomic number CHGNet (and our seeds) cover.
MAX_Z = 94
#: Noble gases are kept out of seeds and substitutions (van der Waals solids only).
NOBLE_GASES = frozenset({2, 10, 18, 36, 54, 86})
MAX_ATOMS = 64


@dataclass(frozen=True)
class Seed:
    """One seed crystal: where it came from, a short name, and the structure."""

    source: str  # "aflow" | "dcdft" | "pymatgen"
    name: str
    atoms: Atoms


def _usable(atoms: Atoms) -> bool:
    z = atoms.numbers
    return (
        0 < len(atoms) <= MAX_ATOMS
        and bool(atoms.pbc.all())
        and atoms.cell.rank == 3
        and int(z.max()) <= MAX_Z
        and not NOBLE_GASES.intersection(z.tolist())
    )


@functools.cache
def _load_seed_tuple() -> tuple[Seed, ...]:
    import importlib.util

    from ase.collections import dcdft
    from monty.serialization import loadfn
    from pymatgen.core import Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    seeds: list[Seed] = []
    # locate data files without importing pymatgen.analysis.prototypes (its import takes ~25 s)
    pmg_dir = Path(importlib.util.find_spec("pymatgen").submodule_search_locations[0])
    proto_file = pmg_dir / "analysis" / "prototypes" / "aflow_prototypes.json.gz"
    for entry in loadfn(proto_file):
        structure = entry["snl"].structure
        if structure.is_ordered:
            name = entry["tags"].get("aflow", structure.composition.reduced_formula)
            seeds.append(Seed("aflow", name, AseAtomsAdaptor.get_atoms(structure)))
    for atoms in dcdft:
        seeds.append(Seed("dcdft", atoms.get_chemical_formula(), atoms.copy()))
    for path in sorted((pmg_dir / "util" / "structures").glob("*.json")):
        structure = loadfn(path)
        structure = getattr(structure, "final_structure", structure)  # TransformedStructure
        if isinstance(structure, Structure) and structure.is_ordered:
            seeds.append(Seed("pymatgen", path.stem, AseAtomsAdaptor.get_atoms(structure)))
    for seed in seeds:
        seed.atoms.info.clear()
        seed.atoms.arrays = {
            k: v for k, v in seed.atoms.arrays.items() if k in {"numbers", "positions"}
        }
        seed.atoms.pbc = True
    return tuple(s for s in seeds if _usable(s.atoms))


def load_seeds() -> list[Seed]:
    """All usable seed crystals, in a fixed order (copies: callers may modify them)."""
    return [Seed(s.source, s.name, s.atoms.copy()) for s in _load_seed_tuple()]


@functools.cache
def _group_members() -> dict[int, tuple[int, ...]]:
    from pymatgen.core.periodic_table import Element

    groups: dict[int, list[int]] = {}
    for z in range(1, MAX_Z + 1):
        if z not in NOBLE_GASES:
            groups.setdefault(Element.from_Z(z).group, []).append(z)
    return {g: tuple(zs) for g, zs in groups.items()}


def substitute(atoms: Atoms, rng: np.random.Generator) -> Atoms:
    """Replace one element by another of the same periodic-table group, rescaling the cell.

    The volume is scaled by the cube of the ratio of mean covalent radii, so bond
    lengths stay plausible. Returns a copy; if no partner exists, an unchanged copy.

    >>> from ase.build import bulk
    >>> out = substitute(bulk("NaCl", "rocksalt", a=5.64), np.random.default_rng(0))
    >>> out.get_chemical_formula() != "ClNa", len(out)
    (True, 2)
    """
    from pymatgen.core.periodic_table import Element

    out = atoms.copy()
    present = sorted(set(out.numbers.tolist()))
    old_z = int(rng.choice(present))
    partners = [z for z in _group_members()[Element.from_Z(old_z).group] if z not in present]
    if not partners:
        return out
    new_z = int(rng.choice(partners))
    old_mean = covalent_radii[out.numbers].mean()
    numbers = out.numbers.copy()
    numbers[numbers == old_z] = new_z
    out.numbers = numbers
    scale = covalent_radii[numbers].mean() / old_mean
    out.set_cell(out.cell * scale, scale_atoms=True)
    return out


def make_supercell(atoms: Atoms, target: int, max_atoms: int = MAX_ATOMS) -> Atoms:
    """Repeat along the thinnest cell direction until ``len >= target`` (never over ``max_atoms``).

    >>> from ase.build import bulk
    >>> len(make_supercell(bulk("Cu"), 8)), len(make_supercell(bulk("Cu"), 100, max_atoms=64))
    (8, 64)
    """
    reps = np.ones(3, dtype=int)
    n = len(atoms)
    while n * reps.prod() < target:
        widths = reps / np.linalg.norm(atoms.cell.reciprocal(), axis=1)  # thickness per axis
        order = np.argsort(widths)
        grown = False
        for axis in order:
            trial = reps.copy()
            trial[axis] += 1
            if n * trial.prod() <= max_atoms:
                reps = trial
                grown = True
                break
        if not grown:
            break
    return atoms.repeat(tuple(int(r) for r in reps))
