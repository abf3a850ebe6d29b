"""Census throughput benchmark: prints (and optionally writes) JSON.

    python benchmarks/census.py --json OUT.json [--data assets/data] [--structures 512]
        [--checkpoint model.pt] [--threads 1]

Measures, on pre-collated batches (reading/collation excluded):
- ``keys_aggregation``: ``pamm.keys.extract_motifs`` + census aggregation, i.e. the
  census cost excluding the model forward and graph construction (target: >= 20k
  structures per minute per core);
- ``graph``: fairchem's radius graph alone;
- ``with_model``: ``analysis.runner.census_from_model`` end to end (reading, collation,
  model forward with capture, aggregation) for the given checkpoint or a tiny model;
- ``peak_rss_mb``: peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.census import CensusBuilder
from analysis.data import StructureSource
from analysis.runner import add_graph, batches, census_from_model, select_structures
from pamm.keys import extract_motifs
from pamm.spec import MotifMemorySpec


def _source(args: argparse.Namespace) -> StructureSource:
    if args.data:
        return StructureSource.open(args.data)
    from ase.build import bulk

    rng = np.random.default_rng(0)
    families = ("rattled-300", "rattled-relax", "aimd-from-PBE-1000-nvt")
    protos = [
        bulk("NaCl", "rocksalt", a=5.64, cubic=True),  # 8 atoms
        bulk("Fe", "bcc", a=2.87, cubic=True).repeat(2),  # 16
        bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 1)),  # 16
        bulk("Si", "diamond", a=5.43, cubic=True),  # 8
        bulk("MgO", "rocksalt", a=4.21, cubic=True).repeat((2, 1, 1)),  # 16
        bulk("ZnS", "zincblende", a=5.41, cubic=True).repeat((2, 2, 1)),  # 32
    ]
    substitutes = np.array([3, 8, 11, 12, 13, 14, 16, 22, 26, 28, 29, 30])
    atoms = []
    for k in range(args.structures):
        a = protos[k % len(protos)].copy()
        swap = rng.random(len(a)) < 0.2  # substitutions diversify the motifs
        a.numbers[swap] = rng.choice(substitutes, swap.sum())
        a.rattle(0.05 + 0.1 * rng.random(), seed=k)
        a.info["family"] = families[k % 3]
        atoms.append(a)
    return StructureSource.from_atoms(atoms)


def bench_keys(source: StructureSource, selection, spec: MotifMemorySpec, batch_size: int):
    from fairchem.core.graph.compute import generate_graph

    prepared = list(batches(source, selection, batch_size, spec.cutoff))
    graphs = []
    t0 = time.perf_counter()
    for _, batch in prepared:
        graphs.append(
            generate_graph(
                batch, cutoff=spec.cutoff, max_neighbors=300,
                enforce_max_neighbors_strictly=False, radius_pbc_version=2, pbc=batch["pbc"],
            )
        )  # fmt: skip
    t_graph = time.perf_counter() - t0
    builder = CensusBuilder(reservoir=8)
    n_edges = n_trip = 0
    t_keys = t_agg = 0.0
    for (pos, batch), g in zip(prepared, graphs, strict=True):
        t0 = time.perf_counter()
        keys = extract_motifs(
            g["edge_index"], g["edge_distance"], g["edge_distance_vec"],
            batch["atomic_numbers"], spec,
        )  # fmt: skip
        t1 = time.perf_counter()
        gate = torch.rand(keys.num_edges)  # a stand-in gate so gate sums are exercised
        add_graph(
            builder, keys, g["edge_index"], g["cell_offsets"], batch["batch"],
            selection.indices[pos], selection.family[pos], gate,
        )  # fmt: skip
        t_agg += time.perf_counter() - t1
        t_keys += t1 - t0
        n_edges += keys.num_edges
        n_trip += keys.num_triplets
    t0 = time.perf_counter()
    census = builder.finish()
    t_agg += time.perf_counter() - t0
    n = len(selection)
    total = t_keys + t_agg
    return {
        "structures": n,
        "edges": n_edges,
        "triplets": n_trip,
        "distinct_pair_motifs": len(np.unique(census.tables["pair"].key)),
        "distinct_triplet_motifs": len(np.unique(census.tables["triplet"].key)),
        "keys_s": t_keys,
        "aggregation_s": t_agg,
        "structures_per_min": 60 * n / total,
        "edges_per_s": n_edges / total,
        "graph_s": t_graph,
        "structures_per_min_incl_graph": 60 * n / (total + t_graph),
    }


def bench_model(source, selection, checkpoint: Path | None, batch_size: int):
    if checkpoint is not None:
        from pamm.plumbing import load_checked_model

        model = load_checked_model(checkpoint)
    else:
        from pamm.testing import tiny_model

        model = tiny_model({"mode": "pamm"})
    spec = getattr(model, "backbone", model).pamm_spec
    t0 = time.perf_counter()
    census = census_from_model(
        model, source, selection, spec, batch_size=batch_size, tqdm_bar=False
    )
    dt = time.perf_counter() - t0
    n_edges = int(census.tables["pair"].count.sum())
    return {
        "model": str(checkpoint) if checkpoint else "pamm.testing.tiny_model",
        "structures": len(selection),
        "seconds": dt,
        "structures_per_min": 60 * len(selection) / dt,
        "edges_per_s": n_edges / dt,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the results here too")
    parser.add_argument("--data", nargs="*", default=None)
    parser.add_argument("--structures", type=int, default=512, help="synthetic structures")
    parser.add_argument("--max-per-family", type=int, default=0)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (per core)")
    parser.add_argument("--skip-model", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    source = _source(args)
    selection = select_structures(source, args.max_per_family or None)
    spec = MotifMemorySpec()
    result = {
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "spec": {"cutoff": spec.cutoff, "triplet_cutoff": spec.triplet_cutoff},
        "keys_aggregation": bench_keys(source, selection, spec, args.batch_size),
    }
    if not args.skip_model:
        result["with_model"] = bench_model(source, selection, args.checkpoint, 16)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    text = json.dumps(result, indent=2)
    print(text)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
