"""Planted motifs: a known, smooth, local energy term added to a dataset's labels.

The ground truth for the interpretability checks: if a model's memory learns anything
motif-shaped, it should point at the motif we planted. A planted term is

* pair (Zj, Zi, r0, w):    E = ε Σ_{pairs (i, j) of those elements} b((r_ij − r0) / w)
* triplet (Zj, Zi, Zk, θ0, w):
  E = ε Σ_{centres i} Σ_{j ≠ k} b((θ_jik − θ0) / w) f(r_ij) f(r_ik)

with the C² bump b(x) = (1 − x²)³ on |x| < 1 (0 outside) and a C² cutoff f, so the term
is smooth in the positions: ``envelope="poly"`` (the default) f(r) = (1 − (r / r_c)²)³ for
r < r_c, which falls across a first shell (0.19 at 1.95 Å, 0.13 at 2.1 Å for r_c = 3 Å);
``envelope="flat"`` f(r) = 1 up to r_c − w, then the memory's own C² fade to 0 at r_c
(``pamm.blend.envelope``; w = ``envelope_width``), so the term depends on the angle alone
for partners inside r_c − w. Each
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

:func:`plant_dataset` writes a planted copy of a whole dataset folder (every split, the
terms of several motifs summed) with a ``planted.json`` record of the motifs and of the
planted energies and forces per split; :func:`plant_datasets` writes several copies (other
strengths) in one pass.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.data import atomic_numbers
from ase.neighborlist import neighbor_list

from pamm.blend import envelope as memory_envelope

__all__ = [
    "ENVELOPES",
    "PLANTED_RECORD",
    "PlantedMotif",
    "plant",
    "plant_dataset",
    "plant_datasets",
    "planted_labels",
]

#: the record a planted copy carries beside its splits (written last: the copy is complete)
PLANTED_RECORD = "planted.json"
#: triplet envelope shapes (module docstring)
ENVELOPES = ("poly", "flat")


@dataclass(frozen=True)
class PlantedMotif:
    """One planted term (module docstring). ``elements``: (Zj, Zi) or (Zj, Zi, Zk) symbols.

    ``centre``/``half_width``: Å for pairs, degrees for triplets; ``strength`` ε in eV;
    ``cutoff``: r_c of the triplet envelope (Å); ``envelope``: its shape, ``"poly"`` or
    ``"flat"`` (module docstring), ``envelope_width`` the flat one's fade (Å).
    """

    kind: str
    elements: tuple[str, ...]
    centre: float
    half_width: float
    strength: float
    cutoff: float = 3.0
    envelope: str = "poly"
    envelope_width: float = 0.5

    def __post_init__(self) -> None:
        want = {"pair": 2, "triplet": 3}.get(self.kind)
        if want is None:
            raise ValueError(f"PlantedMotif.kind={self.kind!r}: expected 'pair' or 'triplet'")
        if len(self.elements) != want or not all(e in atomic_numbers for e in self.elements):
            raise ValueError(f"a {self.kind} motif needs {want} element symbols: {self.elements}")
        if not self.half_width > 0 or not self.cutoff > 0:
            raise ValueError("half_width and cutoff must be > 0")
        if self.envelope not in ENVELOPES:
            raise ValueError(f"PlantedMotif.envelope={self.envelope!r}: expected {ENVELOPES}")
        if not 0 < self.envelope_width <= self.cutoff:
            raise ValueError(f"envelope_width must be in (0, cutoff], got {self.envelope_width}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> PlantedMotif:
        return cls(**{**d, "elements": tuple(d["elements"])})

    def scaled(self, strength: float) -> PlantedMotif:
        """The same motif with strength ε = ``strength`` (the term is linear in ε)."""
        return PlantedMotif(**{**asdict(self), "strength": float(strength)})


def _bump(x: torch.Tensor) -> torch.Tensor:
    """(1 − x²)³ for |x| < 1, else 0 (C²)."""
    return torch.clamp(1.0 - x * x, min=0.0) ** 3


def _envelope(r: torch.Tensor, motif: PlantedMotif) -> torch.Tensor:
    """The triplet's radial weight f(r) of each partner distance (module docstring)."""
    if motif.envelope == "flat":
        return memory_envelope(r, motif.cutoff, motif.envelope_width)
    return torch.clamp(1.0 - (r / motif.cutoff) ** 2, min=0.0) ** 3


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
    envelope = _envelope(r, motif)  # [P]
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


def _as_motifs(motifs: PlantedMotif | Sequence[PlantedMotif]) -> list[PlantedMotif]:
    out = [motifs] if isinstance(motifs, PlantedMotif) else list(motifs)
    if not out or not all(isinstance(m, PlantedMotif) for m in out):
        raise ValueError(f"expected a PlantedMotif or a non-empty list of them, got {motifs!r}")
    return out


def _planted_copy(atoms: Atoms, terms: list[tuple[float, np.ndarray, np.ndarray]]) -> Atoms:
    """A copy of labelled ``atoms`` with the (energy, forces, stress) ``terms`` added."""
    from ase.calculators.singlepoint import SinglePointCalculator

    energies = np.array([t[0] for t in terms])
    copy = atoms.copy()
    copy.info = dict(atoms.info) | {
        "planted_energy": float(energies.sum()),
        "planted_energies": energies,
    }
    results = {
        "energy": atoms.get_potential_energy() + energies.sum(),
        "forces": atoms.get_forces() + sum(t[1] for t in terms),
    }
    if "stress" in getattr(atoms.calc, "results", {}):
        results["stress"] = atoms.get_stress() + sum(t[2] for t in terms)
    copy.calc = SinglePointCalculator(copy, **results)
    return copy


def plant(frames: list[Atoms], motif: PlantedMotif | Sequence[PlantedMotif]) -> list[Atoms]:
    """Copies of labelled ``frames`` with the planted term(s) added to energy, forces, stress.

    ``motif``: one motif or several (their terms add). ``atoms.info["planted_energy"]``
    holds the total planted energy (eV) of each copy, ``info["planted_energies"]`` the
    term of each motif (array, in order). A frame without stress gets none.
    """
    motifs = _as_motifs(motif)
    return [_planted_copy(a, [planted_labels(a, m) for m in motifs]) for a in frames]


def _split_dirs(source: Path) -> list[str]:
    """Split folders of a dataset: subfolders holding ``*.aselmdb`` and ``metadata.npz``."""
    return sorted(
        d.name
        for d in source.iterdir()
        if d.is_dir() and (d / "metadata.npz").is_file() and any(d.glob("*.aselmdb"))
    )


def _split_statistics(frames: list[Atoms], terms: list[list[tuple]]) -> dict:
    """Planted energy per atom (meV/atom) and forces of one split, per motif and in total.

    ``terms[s][m]``: (energy, forces, stress) of motif m in structure s.
    """
    natoms = np.array([len(a) for a in frames], dtype=float)  # [S]
    n_motifs = len(terms[0]) if terms else 0
    energies = np.array([[t[0] for t in ts] for ts in terms]).reshape(len(frames), n_motifs)
    forces = [np.stack([t[1] for t in ts]) for ts in terms]  # S x [M, N, 3]

    def stats(e: np.ndarray, f: list[np.ndarray]) -> dict:  # e [S] eV, f S x [N, 3] eV/Å
        per_atom = 1000.0 * e / natoms  # [S] meV/atom
        has = e != 0
        f_has = np.concatenate([x.reshape(-1) for x, h in zip(f, has, strict=True) if h] or [[]])
        return {
            "n_with_motif": int(has.sum()),
            "energy_ev_sum": float(e.sum()),
            "mev_per_atom_rms": float(np.sqrt(np.mean(per_atom**2))) if len(e) else 0.0,
            "mev_per_atom_rms_with_motif": float(np.sqrt(np.mean(per_atom[has] ** 2)))
            if has.any()
            else 0.0,
            "mev_per_atom_max": float(np.abs(per_atom).max()) if len(e) else 0.0,
            "force_rms_ev_per_a_with_motif": float(np.sqrt(np.mean(f_has**2)))
            if len(f_has)
            else 0.0,
            "force_max_ev_per_a": float(np.abs(f_has).max()) if len(f_has) else 0.0,
        }

    return {
        "n_structures": len(frames),
        "motifs": [stats(energies[:, k], [x[k] for x in forces]) for k in range(n_motifs)],
        "total": stats(energies.sum(axis=1), [x.sum(axis=0) for x in forces]),
    }


def plant_dataset(
    source: str | Path,
    dest: str | Path,
    motifs: PlantedMotif | Sequence[PlantedMotif],
    *,
    splits: Sequence[str] | None = None,
    overwrite: bool = False,
) -> dict:
    """Write a planted copy of the dataset folder ``source`` (``SPLIT/*.aselmdb``) to ``dest``.

    Every split (default: every subfolder with shards and ``metadata.npz``) is read in
    stored order, the terms of ``motifs`` are added to its labels (as :func:`plant`; sids,
    families and the other stored info are kept) and it is written with
    :func:`pamm.data.writer.write_aselmdb` (shards moved in, ``metadata.npz`` last). The
    source's ``dataset.json`` is copied unchanged. ``dest/planted.json`` (the motifs, the
    source, per-split statistics of the planted energy and forces) is written last and
    atomically, so a folder holding it is complete: a rerun with the same source, motifs
    and splits returns that record without writing; other ones need ``overwrite=True``.

    Returns the ``planted.json`` record. :func:`plant_datasets` writes several copies.
    """
    dest = Path(dest)
    return plant_datasets(source, {dest: motifs}, splits=splits, overwrite=overwrite)[dest]


def plant_datasets(
    source: str | Path,
    copies: Mapping[str | Path, PlantedMotif | Sequence[PlantedMotif]],
    *,
    splits: Sequence[str] | None = None,
    overwrite: bool = False,
) -> dict[Path, dict]:
    """:func:`plant_dataset` for several copies ``{dest: motifs}`` of one source, in one pass.

    The term is linear in ε, so each motif shape (the motif at ε = 1) is computed once per
    structure and scaled for every copy (equal to a direct computation to float rounding).
    Returns ``{dest: planted.json record}``.
    """
    from pamm.data.readers import read_structures
    from pamm.data.writer import write_aselmdb
    from pamm.plumbing import atomic_write_json

    source = Path(source)
    chosen = list(splits) if splits is not None else _split_dirs(source)
    if not chosen:
        raise FileNotFoundError(f"{source}: no split folders with *.aselmdb and metadata.npz")
    records, pending = {}, {}
    for dest, motifs in copies.items():
        dest, motifs = Path(dest), _as_motifs(motifs)
        want = json.loads(  # as it reads back from planted.json (tuples -> lists)
            json.dumps(
                {"source": str(source.resolve()), "motifs": [m.to_dict() for m in motifs],
                 "splits": chosen}
            )
        )  # fmt: skip
        record_path = dest / PLANTED_RECORD
        if record_path.is_file():
            done = json.loads(record_path.read_text())
            if {k: done.get(k) for k in want} == want:
                records[dest] = done
                continue
            if not overwrite:
                raise ValueError(
                    f"{dest} already holds a planted copy of other motifs, splits or source "
                    f"({record_path}); pass overwrite=True to replace it"
                )
        record_path.unlink(missing_ok=True)  # the copy is incomplete until the record is back
        pending[dest] = (motifs, want, {})
    start = time.perf_counter()
    for split in chosen if pending else []:
        frames = read_structures(source / split)
        for atoms in frames:
            atoms.info.pop("source", None)  # the reader's file path, not a property
        units: list[dict] = [{} for _ in frames]  # per frame: unit motif -> its terms
        for dest, (motifs, _, statistics) in pending.items():
            terms = []
            for atoms, cache in zip(frames, units, strict=True):
                row = []
                for m in motifs:
                    unit = m.scaled(1.0)
                    if unit not in cache:
                        cache[unit] = planted_labels(atoms, unit)
                    e, f, s = cache[unit]
                    row.append((m.strength * e, m.strength * f, m.strength * s))
                terms.append(row)
            planted = [_planted_copy(a, t) for a, t in zip(frames, terms, strict=True)]
            write_aselmdb(planted, dest / split, overwrite=True)
            statistics[split] = _split_statistics(frames, terms)
    seconds = round(time.perf_counter() - start, 1)
    for dest, (_, want, statistics) in pending.items():
        if (source / "dataset.json").is_file():
            shutil.copyfile(source / "dataset.json", dest / "dataset.json")
        records[dest] = {
            **want,
            "statistics": statistics,
            "units": "energy_ev_sum: eV; mev_per_atom_*: planted energy / N_atoms, meV/atom; "
            "force_*: planted force components of the structures holding the motif, eV/Å",
            "seconds_all_copies": seconds,
        }
        atomic_write_json(dest / PLANTED_RECORD, records[dest], indent=1)
    return records
