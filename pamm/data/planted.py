"""Planted motifs: a known, smooth, local energy term added to a dataset's labels.

The ground truth for the interpretability checks: if a model's memory learns anything
motif-shaped, it should point at the motif we planted. A planted term is

* pair (Zj, Zi, r0, w):    E = ε Σ_{pairs (i, j) of those elements} b((r_ij − r0) / w)
* triplet (Zj, Zi, Zk, θ0, w):
  E = ε Σ_{centres i} Σ_{j ≠ k} b((θ_jik − θ0) / w) f(r_ij) f(r_ik)

with the C² bump b(x) = (1 − x²)³ on |x| < 1 (0 outside) and the C² cutoff
f(r) = (1 − (r / r_c)²)³ for r < r_c, so the term is smooth in the positions. Each
unordered pair (or triplet with j, k swapped) counts once per periodic image. Forces and
stress come from the same energy by autograd in float64 (conservative by construction);
the stress follows ASE's sign convention (σ = (1/V) ∂E/∂ε).

A pair bump with ``r0`` at a distance-bin centre and ``w`` half the bin width lies inside
one bin of the hard lookup; the motif's key is then exactly one key.

>>> from ase.build import bulk
>>> motif = PlantedMotif("pair", ("O", "Mg"), centre=2.106, half_width=0.05, strength=0.01)
>>> e, f, s = planted_labels(bulk("MgO", "rocksalt", a=4.212), motif)
>>> round(e, 6), float(abs(f).max()) < 1e-12  # 6 Mg–O bonds per Mg at the bump centre
(0.06, True)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from ase import Atoms
from ase.data import atomic_numbers
from ase.neighborlist import neighbor_list

__all__ = ["PlantedMotif", "plant", "planted_labels"]


@dataclass(frozen=True)
class PlantedMotif:
    """One planted term (module docstring). ``elements``: (Zj, Zi) or (Zj, Zi, Zk) symbols.

    ``centre``/``half_width``: Å for pairs, degrees for triplets; ``strength`` ε in eV;
    ``cutoff``: r_c of the triplet envelope (Å).
    """

    kind: str
    elements: tuple[str, ...]
    centre: float
    half_width: float
    strength: float
    cutoff: float = 3.0

    def __post_init__(self) -> None:
        want = {"pair": 2, "triplet": 3}.get(self.kind)
        if want is None:
            raise ValueError(f"PlantedMotif.kind={self.kind!r}: expected 'pair' or 'triplet'")
        if len(self.elements) != want or not all(e in atomic_numbers for e in self.elements):
            raise ValueError(f"a {self.kind} motif needs {want} element symbols: {self.elements}")
        if not self.half_width > 0 or not self.cutoff > 0:
            raise ValueError("half_width and cutoff must be > 0")

    def to_dict(self) -> dict:
        return asdict(self)


def _bump(x: torch.Tensor) -> torch.Tensor:
    """(1 − x²)³ for |x| < 1, else 0 (C²)."""
    return torch.clamp(1.0 - x * x, min=0.0) ** 3


def _energy(atoms: Atoms, motif: PlantedMotif, positions, cell) -> torch.Tensor:
    z = atoms.numbers
    zj, zi, *zk = (atomic_numbers[e] for e in motif.elements)
    reach = motif.centre + motif.half_width if motif.kind == "pair" else motif.cutoff
    i, j, shift = neighbor_list("ijS", atoms, reach + 1e-6)
    vec = positions[j] - positions[i] + torch.as_tensor(shift, dtype=cell.dtype) @ cell  # [P, 3]
    r = vec.norm(dim=1)
    if motif.kind == "pair":
        # ordered (i centre, j neighbour) pairs; an unordered pair of two elements counts once
        keep = torch.as_tensor((z[i] == zi) & (z[j] == zj))
        e = _bump((r[keep] - motif.centre) / motif.half_width).sum()
        return motif.strength * (0.5 * e if zi == zj else e)  # like pairs: both orders listed
    envelope = torch.clamp(1.0 - (r / motif.cutoff) ** 2, min=0.0) ** 3  # [P]
    total = positions.new_zeros(())
    for centre in np.flatnonzero(z == zi):
        mine = np.flatnonzero(i == centre)
        a = mine[z[j[mine]] == zj]
        b = mine[z[j[mine]] == zk[0]]
        if not len(a) or not len(b):
            continue
        ea, eb = torch.as_tensor(a), torch.as_tensor(b)
        cos = (vec[ea] @ vec[eb].T) / (r[ea, None] * r[None, eb])  # [A, B]
        theta = torch.rad2deg(torch.acos(cos.clamp(-1 + 1e-12, 1 - 1e-12)))
        weight = _bump((theta - motif.centre) / motif.half_width)
        weight = weight * envelope[ea, None] * envelope[None, eb]
        not_same = torch.as_tensor(a[:, None] != b[None, :])
        total = total + (weight * not_same).sum() * (0.5 if zj == zk[0] else 1.0)
    return motif.strength * total


def planted_labels(atoms: Atoms, motif: PlantedMotif) -> tuple[float, np.ndarray, np.ndarray]:
    """(energy eV, forces [N, 3] eV/Å, stress Voigt [6] eV/Å³) of the planted term alone."""
    strain = torch.zeros(3, 3, dtype=torch.float64, requires_grad=True)
    deform = torch.eye(3, dtype=torch.float64) + 0.5 * (strain + strain.T)
    pos = torch.as_tensor(atoms.positions, dtype=torch.float64).requires_grad_(True)
    cell = torch.as_tensor(atoms.cell.array, dtype=torch.float64)
    energy = _energy(atoms, motif, pos @ deform, cell @ deform)
    if not energy.requires_grad:  # the motif does not occur
        return float(energy), np.zeros((len(atoms), 3)), np.zeros(6)
    grad_pos, grad_strain = torch.autograd.grad(energy, (pos, strain), allow_unused=True)
    forces = np.zeros((len(atoms), 3)) if grad_pos is None else -grad_pos.numpy()
    stress = np.zeros((3, 3)) if grad_strain is None else grad_strain.numpy() / atoms.get_volume()
    voigt = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
    return float(energy.detach()), forces, voigt


def plant(frames: list[Atoms], motif: PlantedMotif) -> list[Atoms]:
    """Copies of labelled ``frames`` with the planted term added to energy, forces, stress.

    ``atoms.info["planted_energy"]`` holds the term's energy (eV) of each copy.
    """
    from ase.calculators.singlepoint import SinglePointCalculator

    out = []
    for atoms in frames:
        e, f, s = planted_labels(atoms, motif)
        copy = atoms.copy()
        copy.info = dict(atoms.info) | {"planted_energy": e}
        copy.calc = SinglePointCalculator(
            copy,
            energy=atoms.get_potential_energy() + e,
            forces=atoms.get_forces() + f,
            stress=atoms.get_stress() + s,
        )
        out.append(copy)
    return out
