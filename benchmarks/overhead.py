"""PaMM overhead: training-step time vs the plain backbone, and key extraction throughput.

    python benchmarks/overhead.py --json overhead.json [--rounds 9] [--threads 2]
        [--uma-s]                           # UMA-S's backbone instead of the small one
        [--sphere-channels 32 --layers 2]   # the default small config; larger to see scaling
        [--lookups hard,smooth]             # which lookup modes (both by default)
        [--data assets/data/train]          # batches of a dataset split, not random crystals

Batches: ``--structures`` random 14-atom crystals of 8 elements (14 Å³/atom) per round, or
with ``--data SPLIT`` that many structures drawn at random (seed 0) from a dataset split,
e.g. the bundled oxides the shipped models train on (8-64 atoms each); the key throughput
below stays on random crystals.

In one process, on the same batches, interleaving the models round by round: median
time of one training step (forward + energy/forces/stress loss + backward + AdamW) for
baseline and PaMM gate / affine with each lookup mode (``gate_hard``, ``gate_smooth``,
``affine_hard``, ``affine_smooth``; identical backbone weights, the shipped neighbour cap
of 500), and per lookup mode the throughput of motif-key extraction + hashing
(``extract_motifs`` [+ ``blend_lookups``] + ``MotifMemory.buckets``, the model's own path)
on a large batch. Prints the JSON (targets: step ratios <= 1.05, >= 20 M triplets/s).

``--uma-s`` times the same step on UMA-S's published backbone (``pamm/configs/uma_s.yaml``:
MoLE, 32 experts, 128 channels, 4 layers, random weights) instead of the small eSCN-MD,
and adds per model the peak resident memory of a separate process that builds it and
runs ``--memory-steps`` training steps (``peak_rss_mb``), and the parameter split
(``pamm.uma_s.parameter_counts``: the memory tables' share of all and of the active
parameters). Target: step ratios <= 1.02 at that size.

``step_ratio_*`` is the ratio of the median wall times (the issue's definition). On a
shared machine that number drifts with the load, so the JSON also has the median of the
per-round paired ratios (each round runs the three models back to back on the same
batch), the same ratios in process CPU time, and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from pamm.keys import extract_motifs
from pamm.memory import MotifMemory
from pamm.plumbing import atomic_write_json
from pamm.spec import MotifMemorySpec
from pamm.testing import random_crystal, tiny_batch, tiny_model

MODEL = {
    "sphere_channels": 32,
    "num_layers": 2,
    "lmax": 2,
    "mmax": 2,
    "hidden_channels": 32,
    "edge_channels": 32,
    "num_distance_basis": 64,
    "cutoff": 6.0,
    "max_neighbors": 500,  # the shipped cap (pamm/configs/base.yaml); 30 for the old one
}


def _crystals(n: int, atoms_per: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    elements = (3, 8, 12, 13, 14, 22, 26, 29)
    return [
        random_crystal(rng, n_atoms=atoms_per, volume_per_atom=14.0, elements=elements)
        for _ in range(n)
    ]


def _batches(count: int, n_structures: int, atoms_per: int, data: Path | None) -> list[list]:
    """``count`` batches: random crystals (seeds 0, 1, ...) or structures drawn from ``data``."""
    if data is None:
        return [_crystals(n_structures, atoms_per, seed) for seed in range(count)]
    from pamm.evaluate import read_split

    frames = read_split(data)
    if len(frames) < n_structures:
        raise ValueError(f"{data} holds {len(frames)} structures, fewer than {n_structures}")
    rng = np.random.default_rng(0)
    picks = [rng.choice(len(frames), n_structures, replace=False) for _ in range(count)]
    return [[frames[i] for i in pick] for pick in picks]


def _step(model: torch.nn.Module, opt: torch.optim.Optimizer, atoms: list) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one training step on ``atoms``."""
    batch = tiny_batch(atoms)
    start, cpu = time.perf_counter(), time.process_time()
    opt.zero_grad(set_to_none=True)
    out = model(batch)
    out = out.get("efs", out)  # UMA-S's config passes the head outputs through
    loss = (
        out["energy"]["energy"].square().mean()
        + out["forces"]["forces"].square().mean()
        + out["stress"]["stress"].square().mean()
    )
    loss.backward()
    opt.step()
    return time.perf_counter() - start, time.process_time() - cpu


def variants(lookups: list[str], triplet_cutoff: float) -> dict[str, dict[str, Any]]:
    """Name -> PaMM spec fields of the timed models: baseline, then fusion x lookup."""
    out: dict[str, dict[str, Any]] = {"baseline": {"mode": "baseline"}}
    for fusion in ("gate", "affine"):
        for lookup in lookups:
            out[f"{fusion}_{lookup}"] = {
                "mode": "pamm", "fusion": fusion, "lookup": lookup,
                "triplet_cutoff": triplet_cutoff,
            }  # fmt: skip
    return out


def build(pamm: dict[str, Any], model: dict[str, Any] | None) -> torch.nn.Module:
    """The small eSCN-MD of ``model`` (backbone kwargs), or UMA-S's shape when None."""
    if model is not None:
        return tiny_model(pamm, **model)
    from pamm.uma_s import build_uma_s_model

    return build_uma_s_model([f"pamm.{k}={v}" for k, v in pamm.items()])


def step_times(
    rounds: int,
    n_structures: int,
    atoms_per: int,
    model: dict[str, Any] | None,
    lookups: list[str],
    triplet_cutoff: float = 4.0,
    data: Path | None = None,
) -> dict[str, Any]:
    """Median train-step seconds of baseline and gate / affine x ``lookups``, interleaved.

    ``model``: the small backbone's kwargs, or None for UMA-S's shape; ``data``: a split to
    draw the batches from instead of random crystals.
    """
    models = {k: build(v, model) for k, v in variants(lookups, triplet_cutoff).items()}
    state = models["baseline"].state_dict()
    for name in list(models)[1:]:
        models[name].load_state_dict(state, strict=False)
    opts = {k: torch.optim.AdamW(m.parameters(), lr=1e-3) for k, m in models.items()}
    batches = _batches(rounds + 2, n_structures, atoms_per, data)
    wall: dict[str, list[float]] = {k: [] for k in models}
    cpu: dict[str, list[float]] = {k: [] for k in models}
    names = list(models)
    for r, atoms in enumerate(tqdm(batches, desc="train steps", unit="round")):
        shift = r % len(names)
        order = names[shift:] + names[:shift]  # rotate who goes first
        for name in order:
            t_wall, t_cpu = _step(models[name], opts[name], atoms)
            if r >= 2:  # two warm-up rounds
                wall[name].append(t_wall)
                cpu[name].append(t_cpu)
    med = {k: statistics.median(v) for k, v in wall.items()}
    pamm_names = names[1:]

    def paired(times: dict[str, list[float]], name: str) -> float:
        return statistics.median(t / b for t, b in zip(times[name], times["baseline"], strict=True))

    return {
        "step_s": med,
        "step_cpu_s": {k: statistics.median(v) for k, v in cpu.items()},
        **{f"step_ratio_{k}": med[k] / med["baseline"] for k in pamm_names},
        "paired_step_ratio": {k: paired(wall, k) for k in pamm_names},
        "paired_cpu_ratio": {k: paired(cpu, k) for k in pamm_names},
        "params": {k: sum(p.numel() for p in m.parameters()) for k, m in models.items()},
        "atoms_per_batch": statistics.median(sum(len(a) for a in b) for b in batches),
    }


def peak_memory(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Peak RSS (MB) of a fresh process that builds model ``name`` and trains
    ``args.memory_steps`` steps; its parameter counts by part for UMA-S."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--peak-of", name,
           "--threads", str(args.threads), "--structures", str(args.structures),
           "--atoms", str(args.atoms), "--lookups", args.lookups,
           "--triplet-cutoff", str(args.triplet_cutoff), "--memory-steps", str(args.memory_steps),
           "--sphere-channels", str(args.sphere_channels), "--layers", str(args.layers),
           "--max-neighbors", str(args.max_neighbors)]  # fmt: skip
    cmd += ["--uma-s"] if args.uma_s else []
    cmd += ["--data", str(args.data)] if args.data else []
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"peak-memory run of {name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _peak_of(name: str, model: dict[str, Any] | None, args: argparse.Namespace) -> dict[str, Any]:
    """In this process: build ``name``, train, report peak RSS (the ``--peak-of`` child)."""
    net = build(variants(args.lookups.split(","), args.triplet_cutoff)[name], model)
    built_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    for atoms in _batches(args.memory_steps, args.structures, args.atoms, args.data):
        _step(net, opt, atoms)
    out: dict[str, Any] = {
        "built_rss_mb": built_mb,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if model is None:
        from pamm.uma_s import parameter_counts

        out["params"] = parameter_counts(net)
    return out


def key_throughput(
    n_structures: int, atoms_per: int, repeats: int, lookup: str, triplet_cutoff: float = 4.0
) -> dict[str, Any]:
    """Triplets per second of the model's key path (extract, blend if smooth, hash)."""
    from fairchem.core.graph.compute import generate_graph

    from pamm.blend import blend_lookups

    spec = MotifMemorySpec(cutoff=MODEL["cutoff"], lookup=lookup, triplet_cutoff=triplet_cutoff)
    batch = tiny_batch(_crystals(n_structures, atoms_per, seed=123))
    graph = generate_graph(
        batch,
        cutoff=spec.cutoff,
        max_neighbors=MODEL["max_neighbors"],
        enforce_max_neighbors_strictly=False,
        radius_pbc_version=2,
        pbc=torch.ones(n_structures, 3, dtype=torch.bool),
    )
    memory = MotifMemory(spec, edge_dim=8)
    z = batch.atomic_numbers.long()
    dist, vec = graph["edge_distance"], graph["edge_distance_vec"]

    def run() -> int:
        keys = extract_motifs(graph["edge_index"], dist, vec, z, spec)
        if spec.smooth:
            keys = blend_lookups(keys, dist, vec, spec)
        memory.buckets(keys)
        return keys.num_triplets

    n_trip = run()
    seconds = []
    for _ in tqdm(range(repeats), desc=f"key extraction ({lookup})", unit="run"):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    med = statistics.median(seconds)
    return {
        "triplets_per_s": n_trip / med,
        "triplets": n_trip,
        "triplets_per_atom": n_trip / int(z.shape[0]),
        "edges": int(graph["edge_index"].shape[1]),
        "atoms": int(z.shape[0]),
        "extract_hash_s": med,
        "spec": spec.to_dict(),
    }


def _tables_share(memory: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per PaMM model: memory tables / all parameters, and / the active parameters."""
    out = {}
    for name, m in memory.items():
        p = m.get("params", {})
        if p.get("memory_tables"):
            active = p["backbone_active"] + p["memory_tables"] + p["memory_other"] + p["fusion"]
            out[name] = {
                "of_total": p["memory_tables"] / p["total"],
                "of_active": p["memory_tables"] / (active + p["heads"]),
            }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the JSON here (atomically)")
    parser.add_argument("--rounds", type=int, default=9, help="timed rounds per model")
    parser.add_argument("--structures", type=int, default=8)
    parser.add_argument("--atoms", type=int, default=14, help="atoms per structure")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--big-structures", type=int, default=256)
    parser.add_argument(
        "--sphere-channels", type=int, default=MODEL["sphere_channels"], help="backbone width"
    )
    parser.add_argument("--layers", type=int, default=MODEL["num_layers"], help="backbone depth")
    parser.add_argument("--lookups", default="hard,smooth", help="lookup modes to time")
    parser.add_argument("--max-neighbors", type=int, default=MODEL["max_neighbors"])
    parser.add_argument("--triplet-cutoff", type=float, default=4.0, help="PaMM triplet cutoff, Å")
    parser.add_argument("--uma-s", action="store_true", help="UMA-S's backbone (uma_s.yaml)")
    parser.add_argument("--memory-steps", type=int, default=2, help="steps of the memory runs")
    parser.add_argument("--data", type=Path, default=None, help="draw the batches from this split")
    parser.add_argument("--peak-of", default=None, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args(argv)
    lookups = args.lookups.split(",")
    model: dict[str, Any] | None = {
        **MODEL,
        "sphere_channels": args.sphere_channels,
        "num_layers": args.layers,
        "max_neighbors": args.max_neighbors,
    }
    if args.uma_s:
        model = None
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.peak_of:
        print(json.dumps(_peak_of(args.peak_of, model, args)))
        return 0
    load_before = os.getloadavg()
    memory = {}
    if args.uma_s:
        names = variants(lookups, args.triplet_cutoff)
        memory = {n: peak_memory(n, args) for n in tqdm(names, desc="peak memory", unit="model")}
    result = {
        "config": {
            **(model or {"uma_s": "pamm/configs/uma_s.yaml"}),
            "structures": args.structures,
            "atoms_per_structure": args.atoms,
            "rounds": args.rounds,
            "threads": args.threads,
            "triplet_cutoff": args.triplet_cutoff,
            "data": None if args.data is None else str(args.data),
            "torch": torch.__version__,
        },
        **step_times(
            args.rounds, args.structures, args.atoms, model, lookups, args.triplet_cutoff, args.data
        ),
        **({"memory": memory, "tables_share": _tables_share(memory)} if memory else {}),
        "keys": {
            lk: key_throughput(args.big_structures, 16, 7, lk, args.triplet_cutoff)
            for lk in lookups
        },
        "cpus": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        atomic_write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
