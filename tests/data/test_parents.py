"""Parent selection: the stated sanity rule, the energy window, StructureMatcher dedup."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bulk

from pamm.data.parents import parent_problem, select_parents


def _entry(atoms: Atoms, energy_per_atom: float, fmax: float = 0.01, volume_ratio=1.0) -> dict:
    return {
        "numbers": atoms.numbers.tolist(),
        "positions": atoms.positions.tolist(),
        "cell": atoms.cell.array.tolist(),
        "energy_per_atom": energy_per_atom,
        "fmax": fmax,
        "volume_ratio": volume_ratio,
        "error": None,
    }


def _rocksalt(a: float = 4.21) -> Atoms:
    return bulk("MgO", "rocksalt", a=a)


def test_each_rule_names_its_reason() -> None:
    good = _rocksalt()
    assert parent_problem(good, fmax=0.05, volume_ratio=1.0) is None
    assert parent_problem(good, fmax=0.2, volume_ratio=1.0) == "not_converged"
    assert parent_problem(good, fmax=float("nan"), volume_ratio=1.0) == "not_converged"
    assert parent_problem(good, fmax=0.01, volume_ratio=1.7) == "expanded"
    peroxide = Atoms(
        "MgO2", positions=[[0, 0, 0], [2.0, 0, 0], [3.4, 0, 0]], cell=[6, 6, 6], pbc=True
    )
    assert parent_problem(peroxide, fmax=0.01, volume_ratio=1.0) == "o_o_bond"
    contact = Atoms(
        "Mg2O2",
        positions=[[0, 0, 0], [2.0, 0, 0], [0, 2.1, 0], [2, 2.1, 0]],
        cell=[8, 8, 8],
        pbc=True,
    )
    assert parent_problem(contact, fmax=0.01, volume_ratio=1.0) == "cation_contact"
    lonely = Atoms("MgO", positions=[[0, 0, 0], [2.1, 0, 0]], cell=[12, 12, 12], pbc=True)
    assert parent_problem(lonely, fmax=0.01, volume_ratio=1.0) == "undercoordinated"


def test_select_drops_high_energy_and_merges_duplicates() -> None:
    prim = _rocksalt()
    conventional = bulk("MgO", "rocksalt", a=4.21, cubic=True)  # same crystal, other cell
    rattled = conventional.copy()
    rattled.positions += np.random.default_rng(0).normal(0, 0.002, rattled.positions.shape)
    wurtzite = bulk("ZnO", "wurtzite", a=3.25, c=5.2)
    zno_rocksalt = bulk("ZnO", "rocksalt", a=4.28)
    entries = [
        _entry(prim, -6.00),
        _entry(conventional, -6.01),  # duplicate, lower energy: kept instead of prim
        _entry(rattled, -5.99),  # duplicate within tolerance
        _entry(wurtzite, -4.50),
        _entry(zno_rocksalt, -4.10),  # 0.4 eV/atom above wurtzite ZnO: dropped
        _entry(prim, -6.0, fmax=1.0),  # not converged
    ]
    kept, dropped = select_parents(entries, max_above=0.3)
    assert kept == [1, 3]
    assert dropped == {"not_converged": 1, "high_energy": 1, "duplicate": 2}
    kept, dropped = select_parents(entries, max_above=0.5)
    assert kept == [1, 3, 4] and "high_energy" not in dropped


def test_fixed_parents_are_kept_and_win_their_duplicate_group() -> None:
    """An extension's base parents (the first ``fixed``) are never dropped; new equal
    structures are duplicates of them even when lower in energy."""
    prim = _rocksalt()
    conventional = bulk("MgO", "rocksalt", a=4.21, cubic=True)  # same crystal as prim
    wurtzite = bulk("ZnO", "wurtzite", a=3.25, c=5.2)
    zno_rocksalt = bulk("ZnO", "rocksalt", a=4.28)
    entries = [
        _entry(prim, -6.00),  # base
        _entry(zno_rocksalt, -4.10),  # base, 0.4 above the new wurtzite: kept anyway
        _entry(conventional, -6.05),  # new duplicate of a base parent, lower: dropped
        _entry(wurtzite, -4.50),  # new: kept
        _entry(bulk("MgO", "wurtzite", a=3.3, c=5.3), -5.60),  # new, 0.4 above base: dropped
    ]
    kept, dropped = select_parents(entries, max_above=0.3, fixed=2)
    assert kept == [0, 1, 3]
    assert dropped == {"high_energy": 1, "duplicate": 1}
    # without the fixed base the same pool keeps the lower conventional cell instead
    kept, _ = select_parents(entries, max_above=0.3)
    assert 2 in kept and 0 not in kept and 1 not in kept
