"""How far apart must MD frames be? Force autocorrelation of CHGNet MD on relaxed parents.

    python benchmarks/md_decorrelation.py --relaxed assets/data/.work/relaxed \\
        --parents 6 --json benchmarks/results/md_decorrelation.json

For ``--parents`` relaxed candidates (spread over the cation sets), runs Langevin NVT at
1000 K (2 fs) and 3000 K (1 fs) from Maxwell–Boltzmann velocities, drops the first
100 fs, and computes the normalised force autocorrelation
C(τ) = ⟨F(t)·F(t+τ)⟩ / ⟨F(t)·F(t)⟩ (per atom, averaged over atoms and t). Reports the
first τ where |C| < 0.1 per structure and temperature; the oxide recipe's
``md_stride_fs`` must be at least the median of these.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def force_autocorrelation(forces: np.ndarray) -> np.ndarray:
    """C(τ) for τ = 0..T/2 from forces [T, N, 3] (zero-mean by construction of MD forces)."""
    t_len = forces.shape[0]
    c0 = float((forces * forces).sum(axis=2).mean())
    lags = range(t_len // 2)
    return np.array(
        [float((forces[: t_len - k] * forces[k:]).sum(axis=2).mean()) / c0 for k in lags]
    )


def decorrelation_fs(acf: np.ndarray, dt_fs: float, threshold: float = 0.1) -> float | None:
    """First lag (fs) where |C| drops below ``threshold``; ``None`` if it never does."""
    below = np.flatnonzero(np.abs(acf) < threshold)
    return float(below[0] * dt_fs) if len(below) else None


def _run(atoms, temperature: float, dt_fs: float, total_fs: float, seed: int) -> np.ndarray:
    from ase import units
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    from pamm.data.recipes import chgnet_calculator

    atoms = atoms.copy()
    atoms.calc = chgnet_calculator()
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
    Stationary(atoms)
    atoms.set_constraint(FixCom())
    dyn = Langevin(
        atoms, dt_fs * units.fs, temperature_K=temperature, friction=0.02, fixcm=False, rng=rng
    )
    dyn.run(round(100 / dt_fs))
    forces = []
    dyn.attach(lambda: forces.append(np.array(atoms.calc.results["forces"])), interval=1)
    dyn.run(round(total_fs / dt_fs))
    return np.stack(forces)


def main(argv: list[str] | None = None) -> int:
    import torch
    from ase import Atoms

    from pamm.data.seeds import make_supercell
    from pamm.plumbing import atomic_write_text

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--relaxed", type=Path, required=True, help="folder of cand_*.json")
    parser.add_argument("--parents", type=int, default=6)
    parser.add_argument("--total-fs", type=float, default=300.0)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(1)
    entries = [json.loads(p.read_text()) for p in sorted(args.relaxed.glob("cand_*.json"))]
    entries = [e for e in entries if e.get("error") is None and e["fmax"] <= 0.1]
    rng = np.random.default_rng(0)
    picked = [entries[k] for k in rng.permutation(len(entries))[: args.parents]]
    rows = []
    for e in picked:
        atoms = Atoms(numbers=e["numbers"], positions=e["positions"], cell=e["cell"], pbc=True)
        atoms = make_supercell(atoms, 12, max_atoms=40)
        for temperature, dt_fs in ((1000.0, 2.0), (3000.0, 1.0)):
            acf = force_autocorrelation(_run(atoms, temperature, dt_fs, args.total_fs, 0))
            rows.append(
                {
                    "structure": atoms.get_chemical_formula(),
                    "name": e.get("name"),
                    "temperature_K": temperature,
                    "dt_fs": dt_fs,
                    "decorrelation_fs": decorrelation_fs(acf, dt_fs),
                    "acf": [round(float(x), 3) for x in acf[:40]],
                }
            )
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "acf"}), flush=True)
    summary = {}
    for temperature in (1000.0, 3000.0):
        times = [r["decorrelation_fs"] for r in rows if r["temperature_K"] == temperature]
        finite = [t for t in times if t is not None]
        summary[f"{int(temperature)}K"] = {
            "median_fs": float(np.median(finite)) if finite else None,
            "max_fs": max(finite) if finite else None,
            "never_below": len(times) - len(finite),
        }
    out = {"threshold": 0.1, "total_fs": args.total_fs, "summary": summary, "runs": rows}
    atomic_write_text(args.json, json.dumps(out, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
