"""Local environments of example occurrences (pymatgen), with lazy, cached CN / ChemEnv.

``local_environment`` turns an ``examples.parquet`` occurrence into a pymatgen
``Molecule`` of the centre's neighbourhood (Cartesian, centre at the origin) whose
``role`` site property marks ``i`` (centre), ``j`` (neighbour), ``k`` (partner) and
``env``; the periodic ``Structure`` is returned too. ``coordination`` runs CrystalNN
(and, only if asked, ChemEnv, which takes seconds per site) and caches the result
per (structure key, site), so it is never run over a whole dataset.

>>> from ase.build import bulk
>>> env = local_environment(bulk("NaCl", "rocksalt", a=5.64), 0, 1, (0, 0, 0), radius=3.0)
>>> env.molecule.site_properties["role"].count("j"), len(env.molecule)
(1, 7)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

__all__ = ["CoordinationCache", "Environment", "coordination", "local_environment"]


@dataclass(frozen=True)
class Environment:
    """Neighbourhood of one occurrence: a centred cluster and the periodic structure."""

    molecule: Any  # pymatgen Molecule, site property "role" in {i, j, k, env}
    structure: Any  # pymatgen Structure of the whole cell
    centre: int
    j_position: np.ndarray  # [3] Cartesian position of j relative to i
    k_position: np.ndarray | None


def local_environment(
    atoms: Atoms,
    centre: int,
    neighbour: int,
    offset_j: Sequence[int],
    partner: int = -1,
    offset_k: Sequence[int] | None = None,
    *,
    radius: float = 4.0,
) -> Environment:
    """The cluster of atoms within ``radius`` Å of ``centre`` with i, j (and k) marked.

    j and k are placed at their periodic images (``offset`` in cell units, fairchem's
    ``cell_offsets``) and always included, even beyond ``radius``.
    """
    from pymatgen.core import Molecule
    from pymatgen.io.ase import AseAtomsAdaptor

    n = len(atoms)
    for name, idx in (("centre", centre), ("neighbour", neighbour)):
        if not 0 <= idx < n:
            raise IndexError(f"{name}={idx} outside the structure's {n} atoms")
    cell = atoms.cell.array  # [3, 3]
    pos = atoms.positions  # [N, 3]
    i_idx, j_idx, shift = neighbor_list("ijS", atoms, radius)
    mine = i_idx == centre
    vecs = pos[j_idx[mine]] + shift[mine] @ cell - pos[centre]  # [n, 3]
    numbers = list(atoms.numbers[j_idx[mine]])

    def place(atom: int, offset: Sequence[int]) -> np.ndarray:
        return pos[atom] + np.asarray(offset, float) @ cell - pos[centre]

    j_vec = place(neighbour, offset_j)
    k_vec = None if partner < 0 else place(partner, (0, 0, 0) if offset_k is None else offset_k)
    roles = ["env"] * len(vecs)
    coords = [*vecs]
    for role, atom, vec in (("j", neighbour, j_vec), ("k", partner, k_vec)):
        if vec is None:
            continue
        dist = np.linalg.norm(vecs - vec, axis=1) if len(vecs) else np.array([])
        hit = np.flatnonzero(dist < 1e-6)
        if len(hit):
            roles[hit[0]] = role
        else:
            coords.append(vec)
            numbers.append(atoms.numbers[atom])
            roles.append(role)
    molecule = Molecule(
        [int(atoms.numbers[centre]), *map(int, numbers)],
        [np.zeros(3), *coords],
        site_properties={"role": ["i", *roles]},
    )
    structure = AseAtomsAdaptor.get_structure(atoms)
    return Environment(molecule, structure, centre, j_vec, k_vec)


class CoordinationCache:
    """Bounded LRU cache of CrystalNN / ChemEnv results per (structure key, site)."""

    def __init__(self, maxsize: int = 512) -> None:
        self.maxsize = maxsize
        self._store: OrderedDict[tuple[str, int, bool], dict[str, Any]] = OrderedDict()

    def get(self, key: tuple[str, int, bool]) -> dict[str, Any] | None:
        if key in self._store:
            self._store.move_to_end(key)
            return self._store[key]
        return None

    def put(self, key: tuple[str, int, bool], value: dict[str, Any]) -> None:
        self._store[key] = value
        self._store.move_to_end(key)
        while len(self._store) > self.maxsize:
            self._store.popitem(last=False)

    def __len__(self) -> int:
        return len(self._store)


_DEFAULT_CACHE = CoordinationCache()


def _chemenv_label(structure: Any, site: int) -> str:
    from pymatgen.analysis.chemenv.coordination_environments.chemenv_strategies import (
        SimplestChemenvStrategy,
    )
    from pymatgen.analysis.chemenv.coordination_environments.coordination_geometry_finder import (
        LocalGeometryFinder,
    )
    from pymatgen.analysis.chemenv.coordination_environments.structure_environments import (
        LightStructureEnvironments,
    )

    finder = LocalGeometryFinder(print_citation=False)
    finder.setup_structure(structure)
    envs = finder.compute_structure_environments(only_indices=[site], maximum_distance_factor=1.41)
    light = LightStructureEnvironments.from_structure_environments(
        strategy=SimplestChemenvStrategy(), structure_environments=envs
    )
    ce = light.coordination_environments[site]
    return str(ce[0]["ce_symbol"]) if ce else "unknown"


def coordination(
    structure: Any,
    site: int,
    *,
    key: str,
    chemenv: bool = False,
    cache: CoordinationCache | None = None,
) -> dict[str, Any]:
    """CrystalNN coordination of ``site`` (``cn``, ``neighbours``), ChemEnv label if asked.

    ``key`` identifies the structure (e.g. dataset fingerprint + index) for the cache.
    """
    from pymatgen.analysis.local_env import CrystalNN

    cache = _DEFAULT_CACHE if cache is None else cache
    ckey = (key, int(site), bool(chemenv))
    hit = cache.get(ckey)
    if hit is not None:
        return hit
    nn_info = CrystalNN().get_nn_info(structure, site)
    elements = sorted(str(n["site"].specie) for n in nn_info)
    result: dict[str, Any] = {"cn": len(nn_info), "neighbours": elements}
    if chemenv:
        result["chemenv"] = _chemenv_label(structure, site)
    cache.put(ckey, result)
    return result
