"""OMat24-like family recipes with CHGNet labels, and the physical-sanity filter.

Labels come from CHGNet 0.4.2 (weights ship in its wheel, run offline), **not DFT**.
Recipes (one *task* = one seed crystal run through one family's recipe):

* ``rattled-{300,500,1000}``: a pool of candidates with Gaussian position noise
  (σ ~ U(0.03, 0.25) Å) and a small random symmetric cell strain (|ε| ≤ 3 %); frames are
  drawn from the pool without replacement with Boltzmann weights ``exp(-(E-Emin)/kT)``.
* ``rattled-relax``: a rattled, strained start relaxed with FIRE on positions and cell
  (``FrechetCellFilter``); frames saved every few optimiser steps.
* ``aimd-from-PBE-{1000,3000}-{nvt,npt}``: a thermal rattle (σ = 0.04·sqrt(T/300) Å)
  plus Maxwell–Boltzmann velocities, then short MD (2 fs steps; Langevin for NVT, Berendsen
  NPT at 1 bar), frames saved every few steps.

A frame is rejected when two atoms are closer than 0.7 × the sum of their covalent
radii, when max |F| exceeds a cap, or when a label is not finite.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.data import covalent_radii
from ase.neighborlist import neighbor_list

__all__ = ["FrameFilter", "Recipe", "chgnet_calculator", "frame_problem", "run_recipe"]


@dataclass(frozen=True)
class FrameFilter:
    """Physical-sanity thresholds applied to every candidate frame."""

    contact_factor: float = 0.7  # reject if d_ij < factor * (r_cov_i + r_cov_j)
    max_force: float = 50.0  # eV/Å, reject if any |F_i| exceeds it

    def __post_init__(self) -> None:
        if not 0 < self.contact_factor < 2:
            raise ValueError(f"contact_factor must be in (0, 2), got {self.contact_factor}")
        if self.max_force <= 0:
            raise ValueError(f"max_force must be > 0, got {self.max_force}")


@dataclass(frozen=True)
class Recipe:
    """Per-task sizes: candidates and frames for rattles, steps and stride for relax/MD."""

    rattle_pool: int = 4
    rattle_frames: int = 3
    relax_steps: int = 8
    relax_stride: int = 1
    md_steps: int = 8
    md_stride: int = 1
    md_timestep_fs: float = 2.0


def frame_problem(atoms: Atoms, filt: FrameFilter, forces: np.ndarray | None = None) -> str | None:
    """Why ``atoms`` is physically broken (``"close_contact"``, ``"max_force"``,
    ``"non_finite"``), or ``None`` if it passes.

    >>> from ase.build import bulk
    >>> a = bulk("Cu", cubic=True)
    >>> frame_problem(a, FrameFilter()) is None
    True
    >>> a.positions[1] = a.positions[0] + [0.5, 0, 0]
    >>> frame_problem(a, FrameFilter())
    'close_contact'
    >>> frame_problem(bulk("Cu"), FrameFilter(max_force=1.0), forces=np.array([[0, 0, 2.0]]))
    'max_force'
    """
    if not np.isfinite(atoms.positions).all() or not np.isfinite(atoms.cell.array).all():
        return "non_finite"
    radii = covalent_radii[atoms.numbers]
    cutoff = filt.contact_factor * 2 * radii.max()
    i, j, d = neighbor_list("ijd", atoms, cutoff)
    if len(d) and (d < filt.contact_factor * (radii[i] + radii[j])).any():
        return "close_contact"
    if forces is not None:
        if not np.isfinite(forces).all():
            return "non_finite"
        if np.linalg.norm(forces, axis=1).max() > filt.max_force:
            return "max_force"
    return None


@functools.cache
def chgnet_calculator():
    """One CHGNet ASE calculator per process (offline: ``HF_HUB_OFFLINE=1``, CPU).

    The generators label with :func:`pamm.data.chgnet_labels.chgnet_labeller` (the same
    model, 1.7–2.1x faster per label); this is CHGNet's own calculator, the reference it
    is tested on.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator
    except ImportError as err:  # optional extra
        raise ImportError("labels need CHGNet: pip install 'pamm-lab[generate]'") from err
    model = CHGNet.load(verbose=False)
    return CHGNetCalculator(model=model, use_device="cpu")


def _labelled(atoms: Atoms, calc, filt: FrameFilter) -> tuple[Atoms | None, str | None]:
    """Label ``atoms`` with ``calc``; return (frame with SinglePointCalculator, problem)."""
    atoms.calc = calc
    energy = float(atoms.get_potential_energy())
    forces = np.array(atoms.get_forces(apply_constraint=False))  # raw labels, not FixCom-projected
    stress = np.array(atoms.get_stress(voigt=True))
    problem = frame_problem(atoms, filt, forces)
    if problem is None and not (np.isfinite(energy) and np.isfinite(stress).all()):
        problem = "non_finite"
    frame = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    frame.calc = SinglePointCalculator(frame, energy=energy, forces=forces, stress=stress)
    return frame, problem


def _strained(atoms: Atoms, rng: np.random.Generator, max_strain: float) -> Atoms:
    eps = rng.uniform(-max_strain, max_strain, size=(3, 3))
    eps = 0.5 * (eps + eps.T)
    out = atoms.copy()
    out.set_cell(out.cell.array @ (np.eye(3) + eps), scale_atoms=True)
    return out


def _rattled(atoms: Atoms, rng: np.random.Generator, sigma: float, max_strain: float) -> Atoms:
    out = _strained(atoms, rng, max_strain)
    out.positions = out.positions + rng.normal(0.0, sigma, size=out.positions.shape)
    return out


def _rattle_boltzmann(atoms, rng, temperature, recipe, filt, calc, rejected):
    pool: list[Atoms] = []
    for _ in range(recipe.rattle_pool):
        cand = _rattled(atoms, rng, sigma=rng.uniform(0.03, 0.25), max_strain=0.03)
        problem = frame_problem(cand, filt)  # cheap geometric check before labelling
        if problem is None:
            cand, problem = _labelled(cand, calc, filt)
        if problem is None:
            pool.append(cand)
        else:
            rejected[problem] = rejected.get(problem, 0) + 1
    if not pool:
        return []
    energies = np.array([f.get_potential_energy() for f in pool])
    # Boltzmann sampling without replacement via Gumbel top-k (no underflow at low T)
    log_weights = -(energies - energies.min()) / (units.kB * temperature)
    keys = log_weights + rng.gumbel(size=len(pool))
    picked = np.argsort(-keys)[: recipe.rattle_frames]
    return [pool[k] for k in sorted(picked.tolist())]


def _trajectory(dyn, atoms, n_steps, stride, filt, calc, rejected, skip_first=False, **run_kwargs):
    """Run an ASE dynamics object, keeping a labelled frame every ``stride`` steps."""
    frames: list[Atoms] = []

    def keep() -> None:
        if skip_first and dyn.nsteps == 0:
            return
        frame, problem = _labelled(atoms, calc, filt)
        if problem is None:
            frames.append(frame)
        else:
            rejected[problem] = rejected.get(problem, 0) + 1

    dyn.attach(keep, interval=stride)
    try:
        dyn.run(steps=n_steps, **run_kwargs)
    except (RuntimeError, ValueError, FloatingPointError):
        rejected["non_finite"] = rejected.get("non_finite", 0) + 1
    return frames


def run_recipe(
    family: str,
    atoms: Atoms,
    rng: np.random.Generator,
    recipe: Recipe = Recipe(),
    filt: FrameFilter = FrameFilter(),
    calc=None,
) -> tuple[list[Atoms], dict[str, int]]:
    """Frames of one task for ``family`` from seed ``atoms``, and rejected counts by reason."""
    from ase.constraints import FixCom
    from ase.filters import FrechetCellFilter
    from ase.md.langevin import Langevin
    from ase.md.nptberendsen import NPTBerendsen
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from ase.optimize import FIRE

    if calc is None:
        from pamm.data.chgnet_labels import chgnet_labeller

        calc = chgnet_labeller()
    rejected: dict[str, int] = {}
    atoms = atoms.copy()
    if family in {"rattled-300", "rattled-500", "rattled-1000"}:
        temperature = float(family.split("-")[1])
        return _rattle_boltzmann(atoms, rng, temperature, recipe, filt, calc, rejected), rejected
    if family == "rattled-relax":
        start = _rattled(atoms, rng, sigma=rng.uniform(0.05, 0.2), max_strain=0.05)
        if (problem := frame_problem(start, filt)) is not None:
            return [], {problem: 1}
        start.calc = calc
        opt = FIRE(FrechetCellFilter(start), logfile=None, maxstep=0.1)
        frames = _trajectory(
            opt, start, recipe.relax_steps, recipe.relax_stride, filt, calc, rejected, fmax=0.02
        )
        return frames, rejected
    if family.startswith("aimd-from-PBE-"):
        _, temp_text, ensemble = family.rsplit("-", 2)
        temperature = float(temp_text)
        start = _rattled(atoms, rng, sigma=0.04 * np.sqrt(temperature / 300.0), max_strain=0.0)
        if (problem := frame_problem(start, filt)) is not None:
            return [], {problem: 1}
        start.calc = calc
        MaxwellBoltzmannDistribution(start, temperature_K=temperature, rng=rng)
        Stationary(start)
        dt = recipe.md_timestep_fs * units.fs
        if ensemble == "nvt":
            start.set_constraint(FixCom())
            dyn = Langevin(
                start, dt, temperature_K=temperature, friction=0.02, fixcm=False, rng=rng
            )
        else:
            dyn = NPTBerendsen(
                start, dt, temperature_K=temperature, pressure_au=1.0 * units.bar,
                taut=50 * units.fs, taup=100 * units.fs, compressibility_au=0.01 / units.GPa,
            )  # fmt: skip
        frames = _trajectory(
            dyn, start, recipe.md_steps, recipe.md_stride, filt, calc, rejected, skip_first=True
        )
        return frames, rejected
    raise ValueError(f"unknown family {family!r}; expected one of the synthetic families")
