"""Family recipes on a relaxed parent (the oxide demo data), with CHGNet labels.

Each recipe does what its OMat24 name says (checked in the dataset card):

* ``rattled-T`` (T = 300, 500, 1000 K): a pool of ``rattle_pool`` candidates with
  Gaussian displacements of σ = ``rattle_sigma_300`` · √(T / 300 K) · u, u ~ U(0.5, 1.5)
  and a symmetric strain |ε| ≤ ``rattle_strain_300`` · √(T / 300 K); ``rattle_frames``
  are drawn without replacement with Boltzmann weights exp(−(E − E_min) / k_B T). Force
  and energy spread grow with T.
* ``rattled-relax``: a rattled (σ ~ U(0.05, 0.15) Å), strained (|ε| ≤ 4 %) start relaxed
  with FIRE on positions and cell to ``fmax`` 0.05 eV/Å (at most ``relax_max_steps``);
  ``relax_frames`` frames spaced evenly along the trajectory, first and last included.
* ``aimd-from-PBE-T-{nvt,npt}``: Maxwell–Boltzmann velocities at T, ``md_equilibrate_fs``
  of equilibration, then ``md_frames`` frames ``md_stride_fs`` apart (decorrelated: see
  the card's force autocorrelation). NVT = Langevin (friction 0.02 /fs-ish ASE units),
  NPT = Berendsen (1 bar, τ_T 50 fs, τ_P 100 fs). Time step 2 fs at 1000 K, 1 fs at 3000 K.

Labels of optimiser and MD steps are read from the calculator's results of that step
(no second CHGNet call per frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms, units

from pamm.data.recipes import FrameFilter, _labelled, _strained, frame_problem

__all__ = ["SamplingRecipe", "sample_family"]


@dataclass(frozen=True)
class SamplingRecipe:
    """Sizes and amplitudes of the family recipes (stored in ``dataset.json``)."""

    rattle_pool: int = 8
    rattle_frames: int = 5
    rattle_sigma_300: float = 0.05
    rattle_strain_300: float = 0.01
    relax_frames: int = 6
    relax_max_steps: int = 200
    md_equilibrate_fs: float = 100.0
    md_stride_fs: float = 30.0  # ≥ the measured force decorrelation (max 26 fs, 1000 K)
    md_frames: int = 6

    def __post_init__(self) -> None:
        for name in ("rattle_pool", "rattle_frames", "relax_frames", "md_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"SamplingRecipe.{name} must be >= 1")
        if self.rattle_frames > self.rattle_pool:
            raise ValueError("SamplingRecipe.rattle_frames must be <= rattle_pool")


def _snapshot(atoms: Atoms, calc) -> Atoms:
    """A frame carrying the labels ``calc`` computed for ``atoms``' current geometry."""
    from ase.calculators.singlepoint import SinglePointCalculator

    r = calc.results
    frame = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=True)
    frame.calc = SinglePointCalculator(
        frame,
        energy=float(r["energy"]),
        forces=np.array(r["forces"]),
        stress=np.array(r["stress"]),
    )
    return frame


def _keep(frame: Atoms, filt: FrameFilter, frames: list, rejected: dict) -> None:
    problem = frame_problem(frame, filt, frame.get_forces())
    r = frame.calc.results
    if problem is None and not (np.isfinite(r["energy"]) and np.isfinite(r["stress"]).all()):
        problem = "non_finite"
    if problem is None:
        frames.append(frame)
    else:
        rejected[problem] = rejected.get(problem, 0) + 1


def _rattled_t(atoms, rng, temperature, recipe, filt, calc, rejected):
    scale = np.sqrt(temperature / 300.0)
    pool = []
    for _ in range(recipe.rattle_pool):
        cand = _strained(atoms, rng, recipe.rattle_strain_300 * scale)
        sigma = recipe.rattle_sigma_300 * scale * rng.uniform(0.5, 1.5)
        cand.positions = cand.positions + rng.normal(0.0, sigma, size=cand.positions.shape)
        problem = frame_problem(cand, filt)
        if problem is None:
            cand, problem = _labelled(cand, calc, filt)
        if problem is None:
            pool.append(cand)
        else:
            rejected[problem] = rejected.get(problem, 0) + 1
    if not pool:
        return []
    energies = np.array([f.get_potential_energy() for f in pool])
    keys = -(energies - energies.min()) / (units.kB * temperature) + rng.gumbel(size=len(pool))
    picked = np.argsort(-keys)[: recipe.rattle_frames]  # Gumbel top-k = Boltzmann w/o repl.
    return [pool[k] for k in sorted(picked.tolist())]


def _relax(atoms, rng, recipe, filt, calc, rejected):
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    start = _strained(atoms, rng, 0.04)
    start.positions = start.positions + rng.normal(
        0, rng.uniform(0.05, 0.15), start.positions.shape
    )
    if (problem := frame_problem(start, filt)) is not None:  # an unusable start: no frames
        rejected[problem] = rejected.get(problem, 0) + 1
        return []
    start.calc = calc
    opt = FIRE(FrechetCellFilter(start), logfile=None, maxstep=0.2)
    trajectory: list[Atoms] = []
    opt.attach(lambda: trajectory.append(_snapshot(start, calc)), interval=1)
    try:
        opt.run(fmax=0.05, steps=recipe.relax_max_steps)
    except (RuntimeError, ValueError, FloatingPointError):
        rejected["non_finite"] = rejected.get("non_finite", 0) + 1
    picks = np.unique(np.linspace(0, len(trajectory) - 1, recipe.relax_frames).round().astype(int))
    frames: list[Atoms] = []
    for k in picks.tolist() if trajectory else []:
        _keep(trajectory[k], filt, frames, rejected)
    return frames


def _md(atoms, rng, temperature, ensemble, recipe, filt, calc, rejected):
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.nptberendsen import NPTBerendsen
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    start = atoms.copy()
    start.calc = calc
    MaxwellBoltzmannDistribution(start, temperature_K=temperature, rng=rng)
    Stationary(start)
    dt_fs = 2.0 if temperature <= 1500 else 1.0
    if ensemble == "nvt":
        start.set_constraint(FixCom())
        dyn = Langevin(
            start, dt_fs * units.fs, temperature_K=temperature, friction=0.02, fixcm=False, rng=rng
        )
    else:
        dyn = NPTBerendsen(
            start,
            dt_fs * units.fs,
            temperature_K=temperature,
            pressure_au=1.0 * units.bar,
            taut=50 * units.fs,
            taup=100 * units.fs,
            compressibility_au=0.01 / units.GPa,
        )
    n_eq = round(recipe.md_equilibrate_fs / dt_fs)
    stride = max(1, round(recipe.md_stride_fs / dt_fs))
    frames: list[Atoms] = []
    try:
        dyn.run(steps=n_eq)
        for _ in range(recipe.md_frames):
            dyn.run(steps=stride)
            _keep(_snapshot(start, calc), filt, frames, rejected)
    except (RuntimeError, ValueError, FloatingPointError):
        rejected["non_finite"] = rejected.get("non_finite", 0) + 1
    return frames


def sample_family(
    family: str,
    parent: Atoms,
    rng: np.random.Generator,
    calc,
    recipe: SamplingRecipe | None = None,
    filt: FrameFilter | None = None,
) -> tuple[list[Atoms], dict[str, int]]:
    """Frames of ``family`` sampled around the relaxed ``parent``, and rejected counts."""
    recipe = SamplingRecipe() if recipe is None else recipe
    filt = FrameFilter() if filt is None else filt
    rejected: dict[str, int] = {}
    if family in {"rattled-300", "rattled-500", "rattled-1000"}:
        temperature = float(family.split("-")[1])
        frames = _rattled_t(parent, rng, temperature, recipe, filt, calc, rejected)
    elif family == "rattled-relax":
        frames = _relax(parent, rng, recipe, filt, calc, rejected)
    elif family.startswith("aimd-from-PBE-"):
        _, temp_text, ensemble = family.rsplit("-", 2)
        frames = _md(parent, rng, float(temp_text), ensemble, recipe, filt, calc, rejected)
    else:
        raise ValueError(f"unknown family {family!r}")
    return frames, rejected
