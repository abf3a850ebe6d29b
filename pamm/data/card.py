"""Statistics for a dataset card: per-family label distributions, the energy variance
split between and within parents, and the composition-only / ridge baselines.

``python -m pamm.data.card DATA`` writes ``DATA/statistics.json`` (atomically) and prints
it. Energies are per atom after the composition-only fit (``E/N − Σ c_el μ_el``), so the
numbers speak of structure, not stoichiometry. Needs ``atoms.info["parent"]`` (the oxide
recipe stores it); splits are the sub-folders that hold ``metadata.npz``.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from ase import Atoms

__all__ = ["dataset_statistics", "family_distributions", "variance_split"]

EV_A3_TO_GPA = 160.21766208


def _mev(value_ev: float) -> float:
    return round(1e3 * float(value_ev), 1)


def _load(data_dir: Path) -> dict[str, list[Atoms]]:
    from pamm.data.readers import read_structures

    return {
        d.name: read_structures(d)
        for d in sorted(data_dir.iterdir())
        if d.is_dir() and (d / "metadata.npz").is_file()
    }


def family_distributions(frames: list[Atoms], residual: np.ndarray) -> dict[str, dict]:
    """Per family: count, residual energy spread (meV/atom), force RMS / p95 max (eV/Å),
    stress RMS (GPa)."""
    by_family: dict[str, list[int]] = defaultdict(list)
    for k, a in enumerate(frames):
        by_family[a.info["family"]].append(k)
    out = {}
    for family, ids in sorted(by_family.items()):
        forces = np.concatenate([frames[k].get_forces() for k in ids])
        fmax = np.array([np.linalg.norm(frames[k].get_forces(), axis=1).max() for k in ids])
        stress = np.stack([frames[k].get_stress() for k in ids]) * EV_A3_TO_GPA
        r = residual[ids]
        out[family] = {
            "n": len(ids),
            "energy_residual_std_meV": round(1e3 * float(r.std()), 1),
            "energy_residual_p5_p95_meV": [
                round(1e3 * float(x), 1) for x in np.percentile(r, [5, 95])
            ],
            "force_rms": round(float(np.sqrt((forces**2).sum(axis=1).mean())), 3),
            "force_max_p95": round(float(np.percentile(fmax, 95)), 3),
            "stress_rms_GPa": round(float(np.sqrt((stress**2).mean())), 3),
        }
    return out


def variance_split(frames: list[Atoms], residual: np.ndarray) -> dict[str, float]:
    """Share of the residual energy variance between parents and within parents."""
    groups: dict[int, list[float]] = defaultdict(list)
    for a, r in zip(frames, residual, strict=True):
        groups[int(a.info["parent"])].append(float(r))
    total = float(residual.var())
    within = sum(float(((np.array(g) - np.mean(g)) ** 2).sum()) for g in groups.values())
    within /= len(residual)
    return {
        "total_std_meV": round(1e3 * np.sqrt(total), 1),
        "within_parent_std_meV": round(1e3 * np.sqrt(within), 1),
        "between_parent_share": round(1 - within / total, 4) if total > 0 else 0.0,
    }


def dataset_statistics(data_dir: str | Path) -> dict:
    """All card statistics of the dataset in ``data_dir`` (see the module docstring)."""
    from pamm.data.baselines import fit_baselines, per_atom_energy

    splits = _load(Path(data_dir))
    elements = sorted({s for fs in splits.values() for a in fs for s in a.get_chemical_symbols()})
    fits = fit_baselines(splits["train"], splits["val"], elements)
    stats: dict = {"elements": elements, "ridge_alpha": fits["alpha"], "splits": {}}
    for name, frames in splits.items():
        y = per_atom_energy(frames)
        residual = y - fits["composition"](frames)
        ridge_err = np.abs(fits["ridge"](frames) - y)
        families = family_distributions(frames, residual)
        for family in families:
            ids = [k for k, a in enumerate(frames) if a.info["family"] == family]
            families[family]["composition_mae_meV"] = _mev(np.abs(residual[ids]).mean())
            families[family]["ridge_mae_meV"] = _mev(ridge_err[ids].mean())
        stats["splits"][name] = {
            "n": len(frames),
            "n_parents": len({a.info["parent"] for a in frames}),
            "composition_mae_meV": _mev(np.abs(residual).mean()),
            "ridge_mae_meV": _mev(ridge_err.mean()),
            "variance": variance_split(frames, residual),
            "families": families,
        }
    parents = {name: {a.info["parent"] for a in fs} for name, fs in splits.items()}
    names = sorted(parents)
    stats["shared_parents"] = {
        f"{a}|{b}": len(parents[a] & parents[b])
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    }
    return stats


def main(argv: list[str] | None = None) -> int:
    from pamm.plumbing import atomic_write_text

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    args = parser.parse_args(argv)
    stats = dataset_statistics(args.data_dir)
    text = json.dumps(stats, indent=1)
    atomic_write_text(Path(args.data_dir) / "statistics.json", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
