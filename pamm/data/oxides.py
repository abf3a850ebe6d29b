"""The demo chemistry (oxides of Si Al Mg Ti Ca Li Zn) and its offline candidate parents.

Candidates come from four offline sources (nothing is downloaded):

* ``aflow``: pymatgen's AFLOW prototypes (``aflow_prototypes.json.gz``) with 2–4
  species. The most electronegative species becomes O; the others get distinct cations
  so that the formula is charge balanced (Li⁺ Mg²⁺ Ca²⁺ Zn²⁺ Al³⁺ Ti⁴⁺ Si⁴⁺ O²⁻). A
  prototype yields at most ``per_prototype`` assignments (seeded choice).
* ``aflow-extra``: more assignments of the 3–4-species AFLOW prototypes, first those
  with Li or Al (the two cations the first picks leave thinnest), then all the others;
  each pass draws from its own seeded stream after everything else, so the earlier
  candidates keep their indices (of ~190 random crystals only ~30 % relaxed to a
  parent, of the mapped prototypes ~90 %).
* ``pymatgen``: pymatgen's bundled real structures mapped the same way (SiO2, TiO2,
  Li2O, SrTiO3 → CaTiO3, ...).
* ``pyxtal``: random symmetric crystals (``pyxtal`` 1.1.5) of plausible compositions
  (:data:`COMPOSITIONS`, known oxides and silicates/aluminates/titanates of the
  chemistry), random space group per try.

Every candidate is scaled isotropically so that the median cation–O nearest distance
matches a typical bond length (:data:`BOND_LENGTH`); random crystals are then scaled to
the summed volume of their binary oxides (:func:`scale_to_volume`, random structures are
porous at bond-length scale). CHGNet then relaxes them (:mod:`pamm.data.parents`).

>>> charge_balanced({"Mg": 1, "Al": 2, "O": 4}), charge_balanced({"Mg": 1, "O": 2})
(True, False)
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

__all__ = [
    "BOND_LENGTH",
    "CATIONS",
    "COMPOSITIONS",
    "OXIDATION",
    "Candidate",
    "aflow_candidates",
    "aflow_extra_candidates",
    "all_candidates",
    "charge_balanced",
    "pymatgen_candidates",
    "pyxtal_candidates",
    "remaining_candidates",
    "scale_to_bonds",
    "scale_to_volume",
    "substituted_candidates",
]

#: Formal oxidation states of the chemistry.
OXIDATION: dict[str, int] = {
    "Li": 1,
    "Mg": 2,
    "Ca": 2,
    "Zn": 2,
    "Al": 3,
    "Ti": 4,
    "Si": 4,
    "O": -2,
}
CATIONS: tuple[str, ...] = ("Si", "Al", "Mg", "Ti", "Ca", "Li", "Zn")
#: Typical cation–O bond lengths (Å), Shannon radii for the usual coordination.
BOND_LENGTH: dict[str, float] = {
    "Si": 1.63,
    "Al": 1.90,
    "Mg": 2.10,
    "Ti": 1.96,
    "Ca": 2.40,
    "Li": 2.02,
    "Zn": 2.00,
}

#: Compositions for random symmetric crystals: formula units of known compounds.
COMPOSITIONS: tuple[str, ...] = (
    "SiO2",
    "TiO2",
    "Al2O3",
    "MgO",
    "CaO",
    "ZnO",
    "Li2O",
    "MgAl2O4",
    "ZnAl2O4",
    "Mg2SiO4",
    "Zn2SiO4",
    "Ca2SiO4",
    "Li4SiO4",
    "Li2SiO3",
    "MgSiO3",
    "CaSiO3",
    "Li2Si2O5",
    "CaTiO3",
    "MgTiO3",
    "ZnTiO3",
    "Zn2TiO4",
    "Mg2TiO4",
    "Li2TiO3",
    "Li4TiO4",
    "MgTi2O5",
    "LiAlO2",
    "CaAl2O4",
    "CaAl4O7",
    "Al2SiO5",
    "Al2TiO5",
    "Li2ZnSiO4",
    "LiAlSiO4",
    "LiAlSi2O6",
    "CaMgSiO4",
    "CaMgSi2O6",
    "Li2MgSiO4",
    "Ca2MgSi2O7",
    "Ca2ZnSi2O7",
    "Ca2Al2SiO7",
    "CaAl2Si2O8",
    "Li2ZnTi3O8",
    "Li2MgTi3O8",
    "CaTiSiO5",
    "ZnSiO3",
    "CaZnSi2O6",
    "MgAl2Si2O8",
    "Li2CaSiO4",
    "Zn2Al2O5",
)


@dataclass(frozen=True)
class Candidate:
    """One candidate parent before relaxation: where it came from and the structure."""

    source: str  # "aflow" | "pymatgen" | "pyxtal" | "aflow-extra" | "substituted"
    name: str
    atoms: Atoms

    def as_record(self) -> dict:
        """The JSON-able record a dataset's candidate list stores."""
        return {
            "source": self.source,
            "name": self.name,
            "numbers": self.atoms.numbers.tolist(),
            "positions": self.atoms.positions.tolist(),
            "cell": self.atoms.cell.array.tolist(),
        }


def charge_balanced(counts: dict[str, int | float]) -> bool:
    """Whether the formal charges of ``counts`` (element → number) sum to zero."""
    return abs(sum(OXIDATION[el] * n for el, n in counts.items())) < 1e-9


#: Volume per cation (Å³) of the binary oxide at ambient conditions (MgO, CaO, ZnO, Li2O,
#: corundum, rutile; SiO2 between quartz and stishovite), for oxide-volume additivity.
VOLUME_PER_CATION: dict[str, float] = {
    "Mg": 18.7,
    "Ca": 27.8,
    "Zn": 23.8,
    "Li": 12.3,
    "Al": 21.2,
    "Si": 30.0,
    "Ti": 31.2,
}


def scale_to_volume(atoms: Atoms) -> Atoms:
    """Scale the cell to the sum of the binary oxides' volumes (oxide-volume additivity),
    then up as far as needed to keep like ions ≥ 2.2 Å apart and cation–O ≥ 0.85 × the
    typical bond length. Random crystals start near their density, not blown up.

    >>> from ase.build import bulk
    >>> out = scale_to_volume(bulk("MgO", "rocksalt", a=5.0))
    >>> round(float(out.get_volume()), 1)
    18.7
    """
    symbols = np.array(atoms.get_chemical_symbols())
    target = sum(VOLUME_PER_CATION[str(el)] for el in symbols if el != "O")
    out = atoms.copy()
    out.set_cell(out.cell.array * (target / out.get_volume()) ** (1 / 3), scale_atoms=True)
    i, j, d = neighbor_list("ijd", out, 3.0)
    is_o = symbols == "O"
    like = is_o[i] == is_o[j]
    needed = [1.0, *(2.2 / d[like])]
    cat = ~is_o[i] & is_o[j]
    bonds = np.array([BOND_LENGTH.get(str(el), 0.0) for el in symbols])
    needed += list(0.85 * bonds[i[cat]] / d[cat])
    out.set_cell(out.cell.array * max(needed), scale_atoms=True)
    return out


def scale_to_bonds(atoms: Atoms) -> Atoms | None:
    """Scale the cell so the median cation–O nearest distance / typical length is 1.

    Returns ``None`` when a cation has no O within 6 Å or, after scaling, two O are
    closer than 2.0 Å or two cations closer than 2.2 Å (a broken anion/cation
    sublattice, e.g. an O–O bond).
    """
    symbols = np.array(atoms.get_chemical_symbols())
    i, j, d = neighbor_list("ijd", atoms, 6.0)
    ratios = []
    for c in np.flatnonzero(symbols != "O"):
        near = d[(i == c) & (symbols[j] == "O")]
        if not len(near):
            return None
        ratios.append(near.min() / BOND_LENGTH[str(symbols[c])])
    if not ratios:
        return None
    out = atoms.copy()
    out.set_cell(out.cell.array / float(np.median(ratios)), scale_atoms=True)
    i, j, d = neighbor_list("ijd", out, 2.2)
    is_o = symbols == "O"
    if (d[is_o[i] & is_o[j]] < 2.0).any() or (d[~is_o[i] & ~is_o[j]] < 2.2).any():
        return None
    return out


def _assignments(counts: dict[str, int], anion: str) -> list[dict[str, str]]:
    """Charge-balanced maps of the non-anion species onto distinct cations."""
    others = sorted(el for el in counts if el != anion)
    out = []
    for cations in itertools.permutations(CATIONS, len(others)):
        mapping = dict(zip(others, cations, strict=True)) | {anion: "O"}
        mapped = {mapping[el]: n for el, n in counts.items()}
        if charge_balanced(mapped):
            out.append(mapping)
    return out


def _mapped(
    structure,
    rng: np.random.Generator,
    per_structure: int,
    name: str,
    source: str,
    *,
    min_species: int = 2,
    wanted: frozenset[str] = frozenset(CATIONS),
    taken: frozenset[str] = frozenset(),
):
    """Candidates from one pymatgen structure mapped into the chemistry.

    Only assignments using a cation of ``wanted`` and not named in ``taken`` are drawn.
    """
    from pymatgen.core import Element
    from pymatgen.io.ase import AseAtomsAdaptor

    counts = {el.symbol: int(n) for el, n in structure.composition.items()}
    if not min_species <= len(counts) <= 4 or len(structure) > 32:
        return []
    anion = max(counts, key=lambda el: (Element(el).X, el))
    options = [
        m
        for m in _assignments(counts, anion)
        if wanted & set(m.values())
        and (not taken or f"{name}:{_mapped_formula(structure, m)}" not in taken)
    ]
    picked = rng.permutation(len(options))[:per_structure] if options else []
    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.info.clear()
    atoms.pbc = True
    out = []
    for k in picked:
        mapping = options[int(k)]
        mapped = Atoms(
            symbols=[mapping[s] for s in atoms.get_chemical_symbols()],
            positions=atoms.positions,
            cell=atoms.cell,
            pbc=True,
        )
        scaled = scale_to_bonds(mapped)
        if scaled is not None:
            out.append(Candidate(source, f"{name}:{scaled.get_chemical_formula()}", scaled))
    return out


def _mapped_formula(structure, mapping: dict[str, str]) -> str:
    """The ASE formula of ``structure`` after ``mapping`` (as in candidate names)."""
    return Atoms([mapping[site.specie.symbol] for site in structure]).get_chemical_formula()


def _pymatgen_dir() -> Path:
    # locate data files without importing pymatgen.analysis.prototypes (its import is slow)
    return Path(importlib.util.find_spec("pymatgen").submodule_search_locations[0])


def aflow_candidates(rng: np.random.Generator, per_prototype: int = 3) -> list[Candidate]:
    """AFLOW prototypes with 2–4 species, mapped into the chemistry."""
    from monty.serialization import loadfn

    out = []
    for entry in loadfn(_pymatgen_dir() / "analysis" / "prototypes" / "aflow_prototypes.json.gz"):
        structure = entry["snl"].structure
        if structure.is_ordered:
            name = entry["tags"].get("aflow", structure.composition.reduced_formula)
            out += _mapped(structure, rng, per_prototype, name, "aflow")
    return out


def aflow_extra_candidates(
    rng: np.random.Generator,
    taken: set[str],
    per_prototype: int = 3,
    wanted: frozenset[str] = frozenset({"Li", "Al"}),
) -> list[Candidate]:
    """More assignments of the 3–4-species AFLOW prototypes that use a cation of ``wanted``,
    none named in ``taken``; at most ``per_prototype`` per prototype (seeded choice)."""
    from monty.serialization import loadfn

    out = []
    for entry in loadfn(_pymatgen_dir() / "analysis" / "prototypes" / "aflow_prototypes.json.gz"):
        structure = entry["snl"].structure
        if structure.is_ordered:
            name = entry["tags"].get("aflow", structure.composition.reduced_formula)
            out += _mapped(
                structure,
                rng,
                per_prototype,
                name,
                "aflow-extra",
                min_species=3,
                wanted=wanted,
                taken=frozenset(taken),
            )
    return out


def pymatgen_candidates(rng: np.random.Generator, per_structure: int = 3) -> list[Candidate]:
    """pymatgen's bundled real structures, mapped into the chemistry."""
    from monty.serialization import loadfn
    from pymatgen.core import Structure

    out = []
    for path in sorted((_pymatgen_dir() / "util" / "structures").glob("*.json")):
        structure = loadfn(path)
        structure = getattr(structure, "final_structure", structure)
        if isinstance(structure, Structure) and structure.is_ordered:
            out += _mapped(structure, rng, per_structure, path.stem, "pymatgen")
    return out


@functools.cache
def _formula_counts(formula: str) -> tuple[tuple[str, int], ...]:
    from pymatgen.core import Composition

    return tuple((el.symbol, int(n)) for el, n in Composition(formula).items())


@functools.cache
def _tolerances():
    """pyxtal minimum distances: 1.9 Å between like ions (O–O, cation–cation), 1.2 Å else."""
    from pyxtal.tolerance import Tol_matrix

    tm = Tol_matrix(prototype="atomic", factor=1.0)
    for a, b in itertools.product((*CATIONS, "O"), repeat=2):
        tm.set_tol(a, b, 1.9 if (a == "O") == (b == "O") else 1.2)
    return tm


@functools.cache
def _space_groups() -> tuple:
    """pyxtal's space groups 2..230 (building one reads a data file: do it once)."""
    from pyxtal.symmetry import Group

    return tuple(Group(g) for g in range(2, 231))


@functools.cache
def _compatible_groups(numbers: tuple[int, ...]) -> tuple[int, ...]:
    """Space groups 2..230 whose Wyckoff positions can hold ``numbers`` ions per species."""
    return tuple(g.number for g in _space_groups() if g.check_compatible(list(numbers))[0])


def pyxtal_candidates(
    rng: np.random.Generator, n_per_composition: int = 6, max_atoms: int = 32, tries: int = 16
) -> list[Candidate]:
    """Random symmetric crystals of :data:`COMPOSITIONS` (pyxtal), 8..``max_atoms`` atoms.

    Binary oxides get half as many (their polymorphs also come from the prototypes).
    """
    import warnings

    from pyxtal import pyxtal

    out = []
    for formula in COMPOSITIONS:
        counts = _formula_counts(formula)
        per_fu = sum(n for _, n in counts)
        z_options = [z for z in (1, 2, 3, 4, 6, 8) if 8 <= z * per_fu <= max_atoms]
        wanted = n_per_composition // 2 if len(counts) == 2 else n_per_composition
        made = 0
        for _ in range(tries):
            if made >= wanted or not z_options:
                break
            z = int(rng.choice(z_options))
            numbers = [n * z for _, n in counts]
            groups = _compatible_groups(tuple(numbers))
            if not groups:
                continue
            group = int(rng.choice(groups))
            # pyxtal draws from its own generator (``random_state``); seed numpy's global
            # stream too, for any part that still uses it
            draw_seed = int(rng.integers(2**31))
            crystal = pyxtal(random_state=draw_seed)
            np_state = np.random.get_state()
            np.random.seed(draw_seed)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    crystal.from_random(
                        3,
                        group,
                        [el for el, _ in counts],
                        numbers,
                        tm=_tolerances(),
                        random_state=draw_seed,
                    )
            except Exception:  # no Wyckoff combination for this group and count
                continue
            finally:
                np.random.set_state(np_state)
            if not crystal.valid:
                continue
            atoms = crystal.to_ase()
            atoms.info.clear()
            scaled = scale_to_bonds(atoms)
            if scaled is not None:
                scaled = scale_to_volume(scaled)
                out.append(Candidate("pyxtal", f"{formula}:sg{group}:z{z}", scaled))
                made += 1
    return out


def all_candidates(
    seed: int = 0,
    *,
    per_prototype: int = 2,
    pyxtal_per_composition: int = 6,
    extra_per_prototype: int = 3,
    all_multication: bool = True,
) -> list[Candidate]:
    """Every candidate parent, in a fixed order, from the four sources.

    ``all_multication``: after the Li/Al extras, every remaining charge-balanced assignment
    of the 3–4-species prototypes (they relax reliably; random crystals mostly do not).
    """
    rng = np.random.default_rng([seed, 10])
    found = aflow_candidates(rng, per_prototype) + pymatgen_candidates(rng, per_prototype)
    found += pyxtal_candidates(rng, pyxtal_per_composition)
    taken = {c.name for c in found}
    extra_rng = np.random.default_rng([seed, 11])
    found += aflow_extra_candidates(extra_rng, taken, extra_per_prototype)
    if all_multication:  # then every other assignment of those prototypes
        taken = {c.name for c in found}
        rest_rng = np.random.default_rng([seed, 12])
        found += aflow_extra_candidates(rest_rng, taken, 10**6, frozenset(CATIONS))
    return found


def remaining_candidates(seed: int, taken: set[str]) -> list[Candidate]:
    """Every charge-balanced assignment of the AFLOW prototypes and of pymatgen's bundled
    structures not named in ``taken`` (a finished run's candidates), in a fixed order.

    The sources :func:`all_candidates` drew two (or three) assignments from, exhausted;
    the stream ``[seed, 13]`` only orders them. Used to extend a dataset
    (:mod:`pamm.data.oxide_extension`).
    """
    from monty.serialization import loadfn
    from pymatgen.core import Structure

    rng = np.random.default_rng([seed, 13])
    fixed = frozenset(taken)
    out = []
    for entry in loadfn(_pymatgen_dir() / "analysis" / "prototypes" / "aflow_prototypes.json.gz"):
        structure = entry["snl"].structure
        if structure.is_ordered:
            name = entry["tags"].get("aflow", structure.composition.reduced_formula)
            out += _mapped(structure, rng, 10**6, name, "aflow", taken=fixed)
    for path in sorted((_pymatgen_dir() / "util" / "structures").glob("*.json")):
        structure = loadfn(path)
        structure = getattr(structure, "final_structure", structure)
        if isinstance(structure, Structure) and structure.is_ordered:
            out += _mapped(structure, rng, 10**6, path.stem, "pymatgen", taken=fixed)
    return out


def substituted_candidates(parents: list[dict], seed: int, count: int) -> list[Candidate]:
    """``count`` isovalent substitutions of multi-cation ``parents`` (relaxed records).

    Each option replaces every atom of one cation species by a cation of the same
    oxidation state not yet in the compound (Mg/Ca/Zn, Si/Ti; Li and Al have no partner),
    the cell scaled to the typical bonds (:func:`scale_to_bonds`); ``count`` of all
    options are drawn with ``default_rng([seed, 14])``, in the options' order.
    """
    rng = np.random.default_rng([seed, 14])
    options = []
    for p in parents:
        symbols = Atoms(numbers=p["numbers"]).get_chemical_symbols()
        present = sorted(set(symbols) - {"O"})
        if len(present) < 2:
            continue
        for old in present:
            for new in CATIONS:
                if OXIDATION[new] == OXIDATION[old] and new not in present:
                    options.append((p, old, new))
    picked = sorted(rng.permutation(len(options))[:count].tolist())
    out = []
    for k in picked:
        p, old, new = options[k]
        atoms = Atoms(numbers=p["numbers"], positions=p["positions"], cell=p["cell"], pbc=True)
        atoms.set_chemical_symbols([new if s == old else s for s in atoms.get_chemical_symbols()])
        scaled = scale_to_bonds(atoms)
        if scaled is not None:
            name = f"{p['name']}|{old}>{new}:{scaled.get_chemical_formula()}"
            out.append(Candidate("substituted", name, scaled))
    return out
