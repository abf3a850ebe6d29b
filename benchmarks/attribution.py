"""All-bucket first-order attribution vs exact ablation: time and rank agreement.

    python benchmarks/attribution.py --json attribution.json [--structures 200] [--buckets 50]
        [--checkpoint CKPT.pt --data DIR] [--threads 2] [--no-forces]

Without ``--checkpoint`` a tiny PaMM model with randomised memory runs on random crystals.
Times ``analysis.probes.bucket_attribution`` over all structures (every occupied bucket,
energy and RMS-force targets) and the exact ablation of the top ``--buckets`` buckets
(on the structures where each fires); prints JSON with both times, the extrapolated
time of exactly ablating every occupied bucket, the Spearman correlations, per-structure
and per-bucket rates, and the machine's load average before and after (the machine is
shared: ``os.getloadavg()``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from analysis.probes import attribution_agreement, bucket_attribution, bucket_effects
from pamm.plumbing import atomic_write_text
from pamm.testing import random_crystal, randomize_memory, tiny_model

SPEC = {"pair_buckets": 512, "triplet_buckets": 2048, "cutoff": 5.0}


def _inputs(args: argparse.Namespace):
    if args.checkpoint:
        from analysis.probes import probe_structures
        from pamm.plumbing import load_checked_model

        atoms, _, _ = probe_structures({"paths": [args.data]}, args.structures)
        return load_checked_model(args.checkpoint), atoms, {"checkpoint": str(args.checkpoint)}
    torch.manual_seed(0)
    model = tiny_model(SPEC, cutoff=5.0).eval()
    randomize_memory(model)
    rng = np.random.default_rng(0)
    elements = (3, 8, 12, 13, 14, 22, 26, 29)
    atoms = [
        random_crystal(rng, n_atoms=int(rng.integers(3, 9)), elements=elements)
        for _ in range(args.structures)
    ]
    return model, atoms, {"model": "tiny random-memory PaMM", "spec": SPEC}


def _bar(desc: str):
    """A tqdm bar driven by ``progress(fraction, message)`` callbacks."""
    bar = tqdm(total=1000, desc=desc, leave=False)

    def progress(fraction: float, message: str) -> None:
        bar.n = int(1000 * fraction)
        bar.set_postfix_str(message)

    return bar, progress


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the result here (atomically)")
    parser.add_argument("--structures", type=int, default=200)
    parser.add_argument("--buckets", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-forces", action="store_true")
    args = parser.parse_args(argv)
    if args.checkpoint and not args.data:
        parser.error("--checkpoint needs --data")
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    model, atoms, source = _inputs(args)

    bar, progress = _bar("attribution")
    start = time.perf_counter()
    per = bucket_attribution(
        model, atoms, forces=not args.no_forces, batch_size=args.batch_size, progress=progress
    )
    t_attr = time.perf_counter() - start
    bar.close()
    n_buckets = len(bucket_effects(per))

    bar, progress = _bar("exact ablation")
    start = time.perf_counter()
    frame, corr = attribution_agreement(
        model, atoms, per, top_k=args.buckets, batch_size=args.batch_size, progress=progress
    )
    t_exact = time.perf_counter() - start
    bar.close()
    fired = int(frame["n_structures"].sum()) if len(frame) else 0
    result = {
        "benchmark": "attribution",
        **source,
        "structures": len(atoms),
        "atoms": int(sum(len(a) for a in atoms)),
        "threads": args.threads,
        "occupied_buckets": n_buckets,
        "attribution_seconds": round(t_attr, 3),
        "attribution_seconds_per_structure": round(t_attr / max(len(atoms), 1), 4),
        "attribution_forces": not args.no_forces,
        "exact_buckets": len(frame),
        "exact_bucket_structure_pairs": fired,
        "exact_seconds": round(t_exact, 3),
        "exact_seconds_per_bucket": round(t_exact / max(len(frame), 1), 4),
        "exact_seconds_per_bucket_structure": round(t_exact / max(fired, 1), 4),
        "exact_all_buckets_seconds_estimate": round(t_exact / max(len(frame), 1) * n_buckets, 1),
        **{k: round(v, 4) for k, v in corr.items()},
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        atomic_write_text(args.json, text + "\n")
    return result


if __name__ == "__main__":
    main()
