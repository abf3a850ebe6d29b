"""Where the oxide generator's time goes: label calls and relaxations (issue #13).

    python benchmarks/generation_cost.py --json benchmarks/results/generation_cost.json

1. ``labels``: seconds per label call of CHGNet's ASE calculator and of
   :class:`pamm.data.chgnet_labels.CHGNetLabeller` on ``--frames`` bundled training
   frames (one thread, alternating twice), and their largest differences.
2. ``relax``: ``--candidates`` bundled candidates (every k-th relaxable one) relaxed as the
   generator does, split over two concurrent worker processes, with numpy/scipy's BLAS
   threads at their default and at one (the generator's setting), and with each calculator:
   wall seconds, optimiser steps, and how many of the candidates that are bundled parents
   end exactly (energy and positions, bit for bit) at the parent record. Run it on a quiet
   machine (load average recorded).
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pamm.data.oxide_dataset import OxideConfig, _relaxable  # noqa: E402
from pamm.plumbing import atomic_write_json  # noqa: E402

DATA = ROOT / "assets" / "data"


def _calculator(kind: str):
    """``calculator`` (CHGNet's) or ``labeller`` (the generator's default label path)."""
    from pamm.data.chgnet_labels import label_calculator

    return label_calculator("one-backward" if kind == "labeller" else kind)


def label_cost(n_frames: int) -> dict:
    """Seconds per call and the largest label differences, one thread."""
    import torch

    from pamm.data.readers import read_structures

    torch.set_num_threads(1)
    frames = read_structures(DATA / "train")
    frames = frames[:: max(1, len(frames) // n_frames)][:n_frames]
    labels, seconds = {}, {"calculator": [], "labeller": []}
    for _ in range(2):
        for kind in seconds:
            calc, out = _calculator(kind), []
            start = time.perf_counter()
            for atoms in frames:
                atoms = atoms.copy()
                atoms.calc = calc
                out.append((atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()))
            seconds[kind].append((time.perf_counter() - start) / len(frames))
            labels[kind] = out
    ref, new = labels["calculator"], labels["labeller"]
    per_call = {kind: min(s) for kind, s in seconds.items()}
    return {
        "frames": len(frames),
        "atoms": [len(a) for a in frames],
        "seconds_per_call": per_call,
        "speedup": per_call["calculator"] / per_call["labeller"],
        "max_abs_d_energy_eV": max(abs(float(a[0]) - b[0]) for a, b in zip(ref, new, strict=True)),
        "max_abs_d_force_eV_A": max(
            float(np.abs(a[1] - b[1]).max()) for a, b in zip(ref, new, strict=True)
        ),
        "max_abs_d_stress_eV_A3": max(
            float(np.abs(a[2] - b[2]).max()) for a, b in zip(ref, new, strict=True)
        ),
    }


def _relax_worker(args: tuple[str, bool, list[tuple[int, dict]]]) -> dict:
    import torch
    from ase import Atoms
    from threadpoolctl import threadpool_limits

    from pamm.data.parents import relax_candidate

    kind, one_blas_thread, cands = args
    torch.set_num_threads(1)
    if one_blas_thread:
        threadpool_limits(limits=1)
    calc, relaxed = _calculator(kind), {}
    start = time.perf_counter()
    for index, c in cands:
        atoms = Atoms(numbers=c["numbers"], positions=c["positions"], cell=c["cell"], pbc=True)
        relaxed[index] = relax_candidate(atoms, calc)
    return {"wall_s": time.perf_counter() - start, "relaxed": relaxed}


def _as_bundled(result: dict, parent: dict) -> bool:
    """The relaxation ended exactly where the bundled parent record says."""
    return result["energy_per_atom"] == parent["energy_per_atom"] and np.array_equal(
        result["positions"], parent["positions"]
    )


def relax_cost(n_candidates: int) -> dict:
    """Two concurrent workers relaxing halves of the same candidates, per setting; and
    whether the candidates that are bundled parents end exactly at their record."""
    cands = json.loads(gzip.decompress((DATA / "candidates.json.gz").read_bytes()))
    record = json.loads(gzip.decompress((DATA / "parents.json.gz").read_bytes()))
    parent_of = {p["candidate"]: p for p in record["parents"]}
    relaxable = [(k, cands[k]) for k in _relaxable(OxideConfig(), cands)]
    chosen = relaxable[:: max(1, len(relaxable) // n_candidates)][:n_candidates]
    out = {
        "candidates": [k for k, _ in chosen],
        "atoms": [len(c["numbers"]) for _, c in chosen],
        "bundled_parents": sum(k in parent_of for k, _ in chosen),
    }
    ctx = mp.get_context("spawn")
    for kind, one_blas_thread in (("calculator", False), ("calculator", True), ("labeller", True)):
        jobs = [(kind, one_blas_thread, chosen[part::2]) for part in (0, 1)]
        start = time.perf_counter()
        with ctx.Pool(2) as pool:
            workers = pool.map(_relax_worker, jobs)
        relaxed = {k: r for w in workers for k, r in w["relaxed"].items()}
        out[f"{kind}_blas_{'1' if one_blas_thread else 'default'}"] = {
            "wall_s": time.perf_counter() - start,
            "worker_wall_s": [w["wall_s"] for w in workers],
            "steps": sum(r["steps"] for r in relaxed.values()),
            "bundled_parents_reproduced_exactly": sum(
                _as_bundled(r, parent_of[k]) for k, r in relaxed.items() if k in parent_of
            ),
        }
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--candidates", type=int, default=16)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    os.environ["HF_HUB_OFFLINE"] = "1"
    report = {"load_before": os.getloadavg()}
    report["labels"] = label_cost(args.frames)
    report["relax"] = relax_cost(args.candidates)
    report["load_after"] = os.getloadavg()
    if args.json is not None:
        atomic_write_json(args.json, report, indent=1)
    print(json.dumps(report, indent=1, default=float))
    return report


if __name__ == "__main__":
    main()
