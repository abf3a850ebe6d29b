"""Parent crystals: CHGNet relaxation of candidates, the physical-sanity rule, deduplication.

Every candidate (:mod:`pamm.data.oxides`) is relaxed in positions and cell with BFGS on
ASE's ``FrechetCellFilter`` (maximum step 0.2 Å, ``fmax`` 0.05 eV/Å, at most ``max_steps``
steps, given up at half the budget while max |F| > 0.5 eV/Å). BFGS, because on five
candidates it needed 13–57 steps where FIRE needed 21–72 (the first 16 relaxed candidates
of the bundled run used FIRE; each result records its optimiser). A relaxed candidate
becomes a parent unless :func:`parent_problem` names a reason:

* ``not_converged``: max |F| (with the cell's virial) still above ``2 × fmax`` at the end;
* ``o_o_bond``: two O closer than 1.9 Å (a peroxide or O₂ molecule, not an oxide);
* ``cation_contact``: two cations closer than 2.2 Å;
* ``undercoordinated``: a cation with fewer than 2 O within 1.3 × its typical bond length
  (:data:`pamm.data.oxides.BOND_LENGTH`), or an O with no cation within 2.8 Å;
* ``expanded``: the volume grew by more than 60 % (an open, molecular or broken cell);
* ``high_energy``: more than ``max_above`` eV/atom (default 0.3) above the lowest parent
  of the same reduced composition.

Survivors are deduplicated per reduced formula with pymatgen's ``StructureMatcher``
(default tolerances); the lowest-energy member of each group is kept. An extension
(:mod:`pamm.data.oxide_extension`) passes its base's parents as ``fixed``: they are not
judged again and win their group, so a new structure equal to one of them is a duplicate.
"""

from __future__ import annotations

import time

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

from pamm.data.oxides import BOND_LENGTH

__all__ = ["dedupe", "parent_problem", "relax_candidate", "select_parents"]

FMAX = 0.05
#: max |F| (eV/Å) above which a relaxation is given up at half its step budget
HOPELESS_FMAX = 0.5


def _fmax(cell_filter) -> float:
    return float(np.linalg.norm(cell_filter.get_forces(), axis=1).max())


def relax_candidate(atoms: Atoms, calc, *, max_steps: int = 150) -> dict:
    """Relax ``atoms`` (positions + cell) with ``calc``; a JSON-able result dict."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    start = time.perf_counter()
    relaxed = atoms.copy()
    relaxed.calc = calc
    volume0 = relaxed.get_volume()
    cell_filter = FrechetCellFilter(relaxed)
    opt = BFGS(cell_filter, logfile=None, maxstep=0.2)
    error = None
    try:
        # a start still far from any minimum halfway through will not make it: stop early
        for _ in opt.irun(fmax=FMAX, steps=max_steps):
            if opt.nsteps >= max_steps // 2 and _fmax(cell_filter) > HOPELESS_FMAX:
                break
        fmax = _fmax(cell_filter)
        energy = float(relaxed.get_potential_energy())
    except (RuntimeError, ValueError, FloatingPointError) as err:
        fmax, energy, error = float("inf"), float("nan"), f"{type(err).__name__}: {err}"
    return {
        "numbers": relaxed.numbers.tolist(),
        "positions": relaxed.positions.tolist(),
        "cell": relaxed.cell.array.tolist(),
        "energy": energy,
        "energy_per_atom": energy / len(relaxed),
        "fmax": fmax,
        "steps": int(opt.nsteps),
        "volume_ratio": float(relaxed.get_volume() / volume0),
        "error": error,
        "optimizer": "BFGS",
        "seconds": round(time.perf_counter() - start, 2),
    }


def parent_problem(atoms: Atoms, *, fmax: float, volume_ratio: float) -> str | None:
    """Why a relaxed candidate is not a parent (see the module docstring), or ``None``.

    >>> from ase.build import bulk
    >>> parent_problem(bulk("MgO", "rocksalt", a=4.21), fmax=0.01, volume_ratio=1.0) is None
    True
    >>> parent_problem(bulk("MgO", "rocksalt", a=4.21), fmax=0.5, volume_ratio=1.0)
    'not_converged'
    """
    if not np.isfinite(fmax) or fmax > 2 * FMAX:
        return "not_converged"
    if volume_ratio > 1.6:
        return "expanded"
    symbols = np.array(atoms.get_chemical_symbols())
    is_o = symbols == "O"
    i, j, d = neighbor_list("ijd", atoms, 3.2)
    if (d[is_o[i] & is_o[j]] < 1.9).any():
        return "o_o_bond"
    if (d[~is_o[i] & ~is_o[j]] < 2.2).any():
        return "cation_contact"
    for c in np.flatnonzero(~is_o):
        limit = 1.3 * BOND_LENGTH[str(symbols[c])]
        if np.count_nonzero((i == c) & is_o[j] & (d < limit)) < 2:
            return "undercoordinated"
    for o in np.flatnonzero(is_o):
        if not ((i == o) & ~is_o[j] & (d < 2.8)).any():
            return "undercoordinated"
    return None


def dedupe(entries: list[dict], structures: list, fixed: int = 0) -> list[int]:
    """Indices of ``entries`` kept after grouping equal structures per reduced formula.

    ``structures`` are pymatgen ``Structure`` objects aligned with ``entries`` (each
    with ``energy_per_atom``); within a group the lowest energy wins, except that the
    first ``fixed`` entries are always kept and a group holding one keeps no other.
    """
    from pymatgen.analysis.structure_matcher import StructureMatcher

    matcher = StructureMatcher()
    by_formula: dict[str, list[int]] = {}
    for k, s in enumerate(structures):
        by_formula.setdefault(s.composition.reduced_formula, []).append(k)
    kept = []
    for members in by_formula.values():
        groups = matcher.group_structures([structures[k] for k in members])
        index_of = {id(structures[k]): k for k in members}
        for group in groups:
            ids = [index_of[id(s)] for s in group]
            held = [k for k in ids if k < fixed]
            kept += held or [min(ids, key=lambda k: (entries[k]["energy_per_atom"], k))]
    return sorted(kept)


def select_parents(
    entries: list[dict], *, max_above: float = 0.3, fixed: int = 0
) -> tuple[list[int], dict]:
    """Indices of candidates that become parents, and the dropped count per reason.

    ``entries`` are :func:`relax_candidate` results. Rules are applied in the order of
    the module docstring; ``high_energy`` is judged against the lowest surviving
    candidate of the same reduced formula, then duplicates are merged. The first
    ``fixed`` entries are parents already (an extension's base): never dropped, they
    count for the lowest energy and win their duplicate group.
    """
    from pymatgen.io.ase import AseAtomsAdaptor

    dropped: dict[str, int] = {}
    alive: list[int] = []
    atoms_of = {}
    for k, e in enumerate(entries):
        atoms = Atoms(numbers=e["numbers"], positions=e["positions"], cell=e["cell"], pbc=True)
        if k < fixed:
            problem = None
        elif e.get("error"):
            problem = "error"
        else:
            problem = parent_problem(atoms, fmax=e["fmax"], volume_ratio=e["volume_ratio"])
        if problem:
            dropped[problem] = dropped.get(problem, 0) + 1
        else:
            alive.append(k)
            atoms_of[k] = atoms
    formula = {k: atoms_of[k].get_chemical_formula(empirical=True) for k in alive}
    lowest: dict[str, float] = {}
    for k in alive:
        lowest[formula[k]] = min(lowest.get(formula[k], np.inf), entries[k]["energy_per_atom"])
    low = [
        k
        for k in alive
        if k < fixed or entries[k]["energy_per_atom"] - lowest[formula[k]] <= max_above
    ]
    if len(low) < len(alive):
        dropped["high_energy"] = len(alive) - len(low)
    structures = [AseAtomsAdaptor.get_structure(atoms_of[k]) for k in low]
    n_fixed = sum(k < fixed for k in low)  # low keeps the order: the fixed ones come first
    kept = [low[k] for k in dedupe([entries[k] for k in low], structures, n_fixed)]
    if len(kept) < len(low):
        dropped["duplicate"] = len(low) - len(kept)
    return kept, dropped
