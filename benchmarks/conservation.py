"""Energy conservation through fairchem's own calculator: displacement scans and NVE drift.

    python benchmarks/conservation.py --json benchmarks/results/conservation.json \
        [--steps 300 --step-size 0.001 --md-steps 500 --scale 0.1] \
        [--models plain,smooth --crystals "fcc Cu (cubic)" --parts scan]
    python benchmarks/conservation.py --merge part1.json part2.json --json all.json

Models (all from the bundled ``assets/checkpoints/baseline.pt`` weights, loaded with
``load_predict_unit(path, inference_settings="batch", device="cpu")`` and driven by
``FAIRChemCalculator(..., task_name="omat")``):

- ``plain_cap30``: the plain backbone as shipped before issue 14 (``max_neighbors: 30``);
- ``plain``: the plain backbone at the shipped config (``max_neighbors: 500``);
- ``smooth`` / ``hard``: PaMM (gate fusion) attached to ``plain`` with the same
  randomised memory, tables and fusion weights (``pamm.testing.randomize_memory(scale)``),
  continuous and hard lookups;
- ``bundled:<name>``: the trained checkpoint ``assets/checkpoints/<name>.pt`` as shipped
  (e.g. ``bundled:gate``: a memory that learned, smooth lookups).

Scan: one atom of each rattled crystal moves ``steps`` x ``step_size`` Å along a random
direction; each step's energy change ΔE is compared with the trapezoid force work
-(F_n + F_n+1)/2 · d · step. A violation is a step where they differ by more than 0.5 meV.
NVE: ASE VelocityVerlet, 1 fs, ``md_steps`` steps from 600 K Maxwell-Boltzmann velocities
(16-atom rocksalt MgO cell); drift = slope of a linear fit of the total energy, per atom per ps
(``--md-seeds N``: N velocity draws, mean drift and its standard deviation;
``--md-seed-start S`` draws seeds S.. instead, and a merge pools them with the earlier draws
of that model and setting). A merge also
writes ``drift_criteria``: issue 14's "drift no worse than 2x plain's" for each pair of
``CRITERION_PAIRS`` run at the same setting, as a 95 % interval and a verdict
(``drift_criterion``).
``--parts forces``: per model the RMS change of the forces against ``plain`` on five copies of
the NVE cell rattled by 0.08 Å (``force_change``: how much rougher a memory makes the surface).
``--float64``: the same weights in double precision through :class:`Float64Calculator`
instead of fairchem's float32 calculator (keys suffixed `` (float64)``), to tell a drift from
float32 rounding.
Not a timing benchmark: the numbers do not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.build import make_supercell
from ase.calculators.calculator import Calculator, all_changes

from pamm.plumbing import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "assets" / "checkpoints" / "baseline.pt"
THRESHOLD_EV = 5e-4
#: ``max_neighbors`` of pamm/configs/base.yaml (never binds on these crystals: <= 92 within 6 Å)
SHIPPED_CAP = 500
#: primitive fcc -> conventional cubic cell
_CUBIC = np.array([[-1, 1, 1], [1, -1, 1], [1, 1, -1]])


def crystals(rng: np.random.Generator) -> dict[str, Atoms]:
    """Rattled test crystals: bundled-data oxides and dense metals/oxides."""
    from pamm.evaluate import read_split
    from pamm.testing import dense_crystals

    dense = dense_crystals()
    out = {
        "bundled test (smallest of 20)": min(
            read_split(ROOT / "assets" / "data" / "test", limit=20), key=len
        ),
        "rutile TiO2": dense["rutile TiO2"],
        "fcc Cu (cubic)": dense["fcc Cu"],
        "bcc W (cubic)": dense["bcc W"],
    }
    for atoms in out.values():
        atoms.calc = None
        atoms.rattle(stdev=0.05, seed=int(rng.integers(1 << 31)))
    return out


def checkpoints(workdir: Path, scale: float) -> dict[str, Path]:
    """Write the four checkpoints of the module docstring into ``workdir``."""
    from pamm.checkpoint import build_model, load_checkpoint, save_checkpoint
    from pamm.testing import randomize_memory

    base = load_checkpoint(BASELINE)
    paths = {}
    for name, cap in (("plain_cap30", 30), ("plain", SHIPPED_CAP)):
        ckpt = copy.deepcopy(base)
        ckpt.model_config["backbone"]["max_neighbors"] = cap
        paths[name] = save_checkpoint(ckpt, workdir / f"{name}.pt")
    for lookup in ("smooth", "hard"):
        ckpt = copy.deepcopy(load_checkpoint(paths["plain"]))
        spec = {**ckpt.model_config["backbone"]["pamm"], "mode": "pamm", "lookup": lookup}
        ckpt.model_config["backbone"]["pamm"] = spec
        model = build_model(ckpt, strict=False)  # the plain weights + a fresh memory
        randomize_memory(model, scale=scale, seed=0)  # identical for both lookups
        state = model.state_dict()
        ckpt.model_state_dict = state
        ckpt.ema_state_dict = {"n_averaged": ckpt.ema_state_dict["n_averaged"]} | {
            f"module.{k}": v for k, v in state.items()
        }
        paths[lookup] = save_checkpoint(ckpt, workdir / f"{lookup}.pt")
    return paths


def bundled(name: str) -> Path:
    """``bundled:<name>`` -> assets/checkpoints/<name>.pt (must exist)."""
    stem = name.removeprefix("bundled:")
    path = ROOT / "assets" / "checkpoints" / f"{stem}.pt"
    if not name.startswith("bundled:") or not path.is_file():
        raise SystemExit(
            f"unknown model {name!r}: plain_cap30, plain, smooth, hard or bundled:<name>"
        )
    return path


def calculator(path: Path, float64: bool = False):
    """fairchem's own calculator (float32), or with ``float64`` the same weights in double
    precision (:class:`Float64Calculator`)."""
    if float64:
        return Float64Calculator(path)
    from fairchem.core import FAIRChemCalculator
    from fairchem.core.units.mlip_unit import load_predict_unit

    unit = load_predict_unit(str(path), inference_settings="batch", device="cpu")
    return FAIRChemCalculator(unit, task_name="omat")


class Float64Calculator(Calculator):
    """Energy and forces of a checkpoint's model in float64 (EMA weights, eV and eV/Å).

    fairchem's predict unit runs in float32, whose rounding is of the size of the drifts to
    be resolved (~1 µeV/atom over a run); here the model is cast with ``.double()`` and fed
    float64 positions and cell, as in the float64 force tests.
    """

    implemented_properties = ("energy", "forces")

    def __init__(self, path: Path) -> None:
        super().__init__()
        from pamm.checkpoint import load_pamm_model

        self.model = load_pamm_model(path)[0].double().eval()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        import torch

        from pamm.plumbing import atoms_to_batch

        super().calculate(atoms, properties, system_changes)
        batch = atoms_to_batch([self.atoms])
        batch.pos = torch.as_tensor(self.atoms.positions, dtype=torch.float64)  # [N, 3]
        batch.cell = torch.as_tensor(self.atoms.cell.array, dtype=torch.float64)[None]  # [1, 3, 3]
        torch.manual_seed(0)  # eSCN's random roll angles: the same every call
        # a fairchem -c checkpoint's tasks: "energy"/"forces", or with a prefix "omat_energy"
        out = {key.rsplit("_", 1)[-1]: v for key, v in self.model(batch).items()}
        self.results = {
            "energy": float(out["energy"]["energy"].detach()[0]),
            "forces": out["forces"]["forces"].detach().numpy(),
        }


def scan(calc, atoms: Atoms, steps: int, step_size: float, seed: int) -> dict[str, Any]:
    """Move atom 0 along a random direction; compare ΔE with the trapezoid force work."""
    direction = np.random.default_rng(seed).normal(size=3)
    direction /= np.linalg.norm(direction)
    moved = atoms.copy()
    moved.calc = calc
    energy, along = [], []
    start = atoms.positions[0].copy()
    for n in range(steps + 1):
        moved.positions[0] = start + n * step_size * direction
        energy.append(moved.get_potential_energy())
        along.append(float(moved.get_forces()[0] @ direction))
    energy, along = np.array(energy), np.array(along)
    deviation = np.diff(energy) + 0.5 * (along[1:] + along[:-1]) * step_size  # [steps]
    return {
        "violations": int((np.abs(deviation) > THRESHOLD_EV).sum()),
        "max_deviation_mev": float(np.abs(deviation).max() * 1e3),
        "total_deviation_mev": float(deviation.sum() * 1e3),
        "max_energy_step_mev": float(np.abs(np.diff(energy)).max() * 1e3),
        "energy_range_mev": float(np.ptp(energy) * 1e3),
    }


def nve(calc, md_steps: int, seed: int, timestep_fs: float = 1.0) -> dict[str, Any]:
    """VelocityVerlet (1 fs) of a 16-atom MgO cell from 600 K; drift per atom per ps."""
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from ase.md.verlet import VelocityVerlet

    atoms = md_cell()
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=600, rng=rng)
    Stationary(atoms)
    atoms.calc = calc
    dyn = VelocityVerlet(atoms, timestep=timestep_fs * units.fs)
    total, temperature = [], []

    def record() -> None:
        total.append(atoms.get_potential_energy() + atoms.get_kinetic_energy())
        temperature.append(atoms.get_temperature())

    dyn.attach(record, interval=1)
    dyn.run(md_steps)
    total = np.array(total)
    time_ps = np.arange(len(total)) * timestep_fs * 1e-3
    slope = np.polyfit(time_ps, total, 1)[0]
    return {
        "n_atoms": len(atoms),
        "steps": md_steps,
        "timestep_fs": timestep_fs,
        "drift_mev_per_atom_per_ps": float(slope / len(atoms) * 1e3),
        "max_abs_energy_change_mev_per_atom": float(
            np.abs(total - total[0]).max() / len(atoms) * 1e3
        ),
        "mean_temperature_k": float(np.mean(temperature)),
    }


def nve_seeds(
    calc, md_steps: int, seeds: int, timestep_fs: float, first_seed: int = 0
) -> dict[str, Any]:
    """``nve`` from ``seeds`` velocity draws (seeds ``first_seed``, ``first_seed`` + 1, ...):
    the seed-0 record (one draw from seed 0) or the mean drift with its standard deviation
    and every draw's seed, drift, largest energy change and mean temperature."""
    draws = range(first_seed, first_seed + seeds)
    runs = [nve(calc, md_steps, seed=s, timestep_fs=timestep_fs) for s in draws]
    if list(draws) == [0]:
        return runs[0]
    return _draw_summary(
        runs[0],
        seed_list=list(draws),
        drifts=[r["drift_mev_per_atom_per_ps"] for r in runs],
        excursions=[r["max_abs_energy_change_mev_per_atom"] for r in runs],
        temperatures=[r["mean_temperature_k"] for r in runs],
    )


def _draw_summary(
    first: dict[str, Any],
    *,
    seed_list: list[int],
    drifts: list[float],
    excursions: list[float],
    temperatures: list[float],
) -> dict[str, Any]:
    """``first`` (a draw's record: atoms, steps, time step) with the statistics of all draws."""
    return first | {
        "seeds": len(drifts),
        "seed_list": seed_list,
        "drift_mev_per_atom_per_ps": float(np.mean(drifts)),
        "drift_sd": float(np.std(drifts, ddof=1)) if len(drifts) > 1 else None,
        "drift_by_seed": drifts,
        "max_abs_energy_change_by_seed": excursions,
        "max_abs_energy_change_mev_per_atom": float(max(excursions)),
        "temperature_by_seed": temperatures,
        "mean_temperature_k": float(np.mean(temperatures)),
    }


def _draws(record: dict[str, Any]) -> dict[str, list]:
    """Per-draw lists of an NVE record (one draw of seed 0, or a ``nve_seeds`` summary;
    records written before ``seed_list`` / ``temperature_by_seed`` existed drew seeds 0..n-1
    and give their mean temperature for every draw)."""
    if "drift_by_seed" not in record:
        return {
            "seed_list": [0],
            "drifts": [record["drift_mev_per_atom_per_ps"]],
            "excursions": [record["max_abs_energy_change_mev_per_atom"]],
            "temperatures": [record["mean_temperature_k"]],
        }
    n = len(record["drift_by_seed"])
    return {
        "seed_list": record.get("seed_list", list(range(n))),
        "drifts": record["drift_by_seed"],
        "excursions": record["max_abs_energy_change_by_seed"],
        "temperatures": record.get("temperature_by_seed", [record["mean_temperature_k"]] * n),
    }


def pool_draws(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Two NVE records of one model and setting: their draws pooled when their seeds are
    disjoint (more draws added by a later ``--md-seed-start`` run), else ``new`` (a rerun).

    >>> a = {"drift_mev_per_atom_per_ps": 1.0, "max_abs_energy_change_mev_per_atom": 0.1,
    ...      "mean_temperature_k": 300.0}
    >>> b = _draw_summary(a, seed_list=[1, 2], drifts=[3.0, 5.0], excursions=[0.2, 0.3],
    ...                   temperatures=[290.0, 310.0])
    >>> both = pool_draws(a, b)
    >>> both["seed_list"], both["drift_by_seed"], both["drift_mev_per_atom_per_ps"]
    ([0, 1, 2], [1.0, 3.0, 5.0], 3.0)
    >>> pool_draws(b, b) is b
    True
    """
    if not all("drift_mev_per_atom_per_ps" in r for r in (old, new)):
        return new  # not NVE draws (nothing to pool)
    a, b = _draws(old), _draws(new)
    if set(a["seed_list"]) & set(b["seed_list"]):
        return new
    return _draw_summary(old, **{k: a[k] + b[k] for k in a})


def md_cell() -> Atoms:
    """The NVE cell: rocksalt MgO, 16 atoms (a 2 x 1 x 1 supercell of the cubic cell)."""
    from pamm.testing import dense_crystals

    return make_supercell(dense_crystals()["rocksalt MgO"], _CUBIC @ np.diag([2, 1, 1]))


def force_change(calc, reference, draws: int = 5, stdev: float = 0.08) -> float:
    """RMS difference (eV/Å) of the forces of ``calc`` and ``reference`` on ``draws`` copies
    of the NVE cell rattled by ``stdev`` Å (seeds 0, 1, ...): how far a memory moves the
    surface the integrator sees."""
    squares = []
    for seed in range(draws):
        atoms = md_cell()
        atoms.rattle(stdev=stdev, seed=seed)
        forces = []
        for c in (calc, reference):
            atoms.calc = c
            forces.append(atoms.get_forces().copy())
        squares.append(np.mean((forces[0] - forces[1]) ** 2))
    return float(np.sqrt(np.mean(squares)))


def nve_suffix(config: dict[str, Any]) -> str:
    """Key suffix of an NVE run at another time step or length than the default 1 fs x 500
    (e.g. `` (dt 0.5 fs, 1000 steps)``), so merged runs of one model do not replace each other.

    >>> nve_suffix({"timestep": 1.0, "md_steps": 500}), nve_suffix({"timestep": 0.5})
    ('', ' (dt 0.5 fs)')
    >>> nve_suffix({"timestep": 0.5, "md_steps": 1000}), nve_suffix({"float64": True})
    (' (dt 0.5 fs, 1000 steps)', ' (float64)')
    """
    step, steps = config.get("timestep", 1.0), config.get("md_steps", 500)
    parts = ([] if step == 1.0 else [f"dt {step:g} fs"]) + (
        [] if steps == 500 else [f"{steps} steps"]
    )
    parts += ["float64"] if config.get("float64") else []
    return f" ({', '.join(parts)})" if parts else ""


#: (model, reference) pairs whose NVE drifts ``drift_criteria`` compares at each setting;
#: ``plain`` is the bundled ``baseline.pt`` at its own (the shipped) neighbour cap: the
#: backbone of ``gate.pt`` (a memory-only fine-tune of it); ``affine.pt`` trained its own
CRITERION_PAIRS = (
    ("smooth", "plain"),
    ("hard", "plain"),
    ("bundled:gate", "plain"),
    ("bundled:affine", "plain"),
)


def drift_criterion(test: dict[str, Any], reference: dict[str, Any], factor: float = 2.0) -> dict:
    """Issue 14's "drift no worse than ``factor`` x the reference's", read off an interval.

    Per velocity draw the drift's magnitude |slope| (meV/atom/ps): an energy that wanders
    down is as wrong as one that climbs, and signed slopes of a random-walk error cancel in
    a mean. Δ = mean |drift| of ``test`` − factor × that of ``reference`` (over their
    ``drift_by_seed``), with its 95 % Welch t-interval; the verdict is ``met`` when the
    interval lies wholly below 0, ``not met`` when wholly above, ``inconclusive`` when it
    holds 0. Needs >= 2 draws of each.

    >>> ref = {"drift_by_seed": [0.001, 0.002, 0.0, -0.001]}
    >>> drift_criterion({"drift_by_seed": [0.010, -0.012, 0.011, 0.009]}, ref)["verdict"]
    'not met'
    >>> drift_criterion({"drift_by_seed": [0.001, 0.0, -0.002, 0.001]}, ref)["verdict"]
    'inconclusive'
    """
    from scipy import stats

    a = np.abs(np.asarray(test["drift_by_seed"], dtype=float))  # [draws]
    b = np.abs(np.asarray(reference["drift_by_seed"], dtype=float))
    if len(a) < 2 or len(b) < 2:
        raise ValueError("drift_criterion needs at least two velocity draws of each model")
    delta = float(a.mean() - factor * b.mean())
    var_a, var_b = a.var(ddof=1) / len(a), factor**2 * b.var(ddof=1) / len(b)
    dof = (var_a + var_b) ** 2 / (var_a**2 / (len(a) - 1) + var_b**2 / (len(b) - 1))
    half = float(stats.t.ppf(0.975, dof) * np.sqrt(var_a + var_b))
    low, high = delta - half, delta + half
    verdict = "met" if high < 0 else "not met" if low > 0 else "inconclusive"
    return {
        "factor": factor,
        "delta": delta,
        "interval_95": [low, high],
        "ratio_of_mean_abs": float(a.mean() / b.mean()) if b.mean() != 0 else None,
        "verdict": verdict,
    }


def drift_criteria(nve_results: dict[str, dict[str, Any]]) -> dict[str, dict]:
    """``drift_criterion`` of every ``CRITERION_PAIRS`` pair run at the same NVE setting
    (same key suffix) with >= 2 draws each, keyed ``"model vs reference<suffix>"``."""
    out = {}
    for key, test in nve_results.items():
        for model, ref in CRITERION_PAIRS:
            suffix = key.removeprefix(model)  # "" or " (dt 0.5 fs, ...)" for this model
            if suffix == key or suffix[:1] not in ("", " "):
                continue
            draws = (test, nve_results.get(ref + suffix, {}))
            if min(len(d.get("drift_by_seed", ())) for d in draws) >= 2:
                out[f"{model} vs {ref}{suffix}"] = drift_criterion(*draws)
    return out


def merge(parts: list[Path]) -> dict[str, Any]:
    """One result from several runs' JSON (e.g. one process per model), or earlier merges:
    scans and NVE joined; a later part replaces an earlier entry of the same key, except that
    NVE draws of other seeds are pooled with it (``pool_draws``)."""
    result: dict[str, Any] = {
        "config": [],
        "scan": {},
        "nve": {},
        "force_change_vs_plain": {},
        "threshold_mev": THRESHOLD_EV * 1e3,
    }
    for path in parts:
        part = json.loads(Path(path).read_text())
        merged = isinstance(part["config"], list)  # an earlier merge: its keys are final
        result["config"].extend(part["config"] if merged else [part["config"]])
        in64 = "" if merged or not part["config"].get("float64") else " (float64)"
        for name, crystals_ in part["scan"].items():
            result["scan"].setdefault(f"{name}{in64}", {}).update(crystals_)
        for name, rms in part.get("force_change_vs_plain", {}).items():
            result["force_change_vs_plain"][f"{name}{in64}"] = rms
        suffix = "" if merged else nve_suffix(part["config"])
        for name, record in part["nve"].items():
            key = f"{name}{suffix}"
            old = result["nve"].get(key)
            result["nve"][key] = record if old is None else pool_draws(old, record)
    result["drift_criteria"] = drift_criteria(result["nve"])
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Scans and/or NVE of the chosen models and crystals (see the module docstring)."""
    import torch

    torch.set_num_threads(args.threads)
    result: dict[str, Any] = {
        "config": vars(args) | {"json": str(args.json)},
        "scan": {},
        "nve": {},
        "force_change_vs_plain": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        paths = checkpoints(Path(tmp), args.scale)
        structures = crystals(np.random.default_rng(0))
        chosen = args.crystals.split(",") if args.crystals else list(structures)
        # every name resolved before any model runs: a typo fails now, not after an hour
        chosen_paths = {name: paths.get(name) or bundled(name) for name in args.models.split(",")}
        plain = calculator(paths["plain"], float64=args.float64) if "forces" in args.parts else None
        for name, path in chosen_paths.items():
            calc = calculator(path, float64=args.float64)
            if "scan" in args.parts:
                result["scan"][name] = {
                    label: scan(calc, atoms, args.steps, args.step_size, seed=i)
                    for i, (label, atoms) in enumerate(structures.items())
                    if label in chosen
                }
            if "nve" in args.parts and name != "plain_cap30":
                result["nve"][name] = nve_seeds(
                    calc, args.md_steps, args.md_seeds, args.timestep, args.md_seed_start
                )
            if "forces" in args.parts and name != "plain":
                result["force_change_vs_plain"][name] = force_change(calc, plain)
            line = {name: [result["scan"].get(name), result["nve"].get(name)]}
            print(json.dumps(line), flush=True)
    result["threshold_mev"] = THRESHOLD_EV * 1e3
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--step-size", type=float, default=0.001)
    parser.add_argument("--md-steps", type=int, default=500)
    parser.add_argument("--timestep", type=float, default=1.0, help="NVE time step, fs")
    parser.add_argument("--md-seeds", type=int, default=1, help="NVE runs (velocity draws)")
    parser.add_argument(
        "--md-seed-start", type=int, default=0, help="first draw's seed (to add draws later)"
    )
    parser.add_argument("--scale", type=float, default=0.1, help="randomised memory scale")
    parser.add_argument("--models", default="plain_cap30,plain,smooth,hard")
    parser.add_argument("--crystals", default="", help="comma-separated names (default: all)")
    parser.add_argument(
        "--parts", default="scan,nve", help="any of scan, nve, forces (comma-separated)"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--float64", action="store_true", help="the models in float64 (not fairchem's calculator)"
    )
    parser.add_argument("--merge", type=Path, nargs="+", help="join these result files instead")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.md_seeds < 1 or args.md_seed_start < 0:
        parser.error("--md-seeds must be >= 1 and --md-seed-start >= 0")
    unknown = set(args.parts.split(",")) - {"scan", "nve", "forces"}
    if unknown and not args.merge:
        parser.error(f"unknown --parts {sorted(unknown)}: choose from scan, nve, forces")
    result = merge(args.merge) if args.merge else run(args)
    print(json.dumps(result, indent=1))
    if args.json is not None:
        atomic_write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
