"""``pamm generate``: the synthetic OMat-like dataset (CHGNet labels, not DFT).

Example::

    pamm generate --out assets/data --seed 0 --n-structures 3700 --workers 2

Re-running the same command resumes an interrupted run; a finished run is left as is.
"""

from __future__ import annotations

import argparse
import json
import os

from pamm.data.families import HELDOUT_FAMILIES, SYNTHETIC_FAMILIES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pamm generate``."""
    parser.add_argument("--out", required=True, help="output folder (DATA)")
    parser.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    parser.add_argument("--n-structures", type=int, default=3700, help="target structure count")
    parser.add_argument(
        "--families", nargs="+", default=list(SYNTHETIC_FAMILIES), choices=SYNTHETIC_FAMILIES
    )
    parser.add_argument(
        "--heldout", nargs="*", default=list(HELDOUT_FAMILIES), help="families kept for 'heldout'"
    )
    parser.add_argument("--min-atoms", type=int, default=8)
    parser.add_argument("--max-atoms", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    parser.add_argument("--max-force", type=float, default=50.0, help="reject |F| above (eV/Å)")
    parser.add_argument(
        "--max-tasks",
        type=int,
        default=None,
        help="use only the first N planned tasks (stop a long run early, deterministically)",
    )
    parser.add_argument(
        "--keep-work", action="store_true", help="keep DATA/.work (per-task results) after assembly"
    )


def run(args: argparse.Namespace) -> int:
    """Generate or resume; print the dataset card summary as JSON."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from pamm.data.generate import GenerateConfig, generate
    from pamm.data.recipes import FrameFilter

    config = GenerateConfig(
        seed=args.seed,
        n_structures=args.n_structures,
        families=tuple(args.families),
        heldout_families=tuple(f for f in args.heldout if f in args.families),
        min_atoms=args.min_atoms,
        max_atoms=args.max_atoms,
        frame_filter=FrameFilter(max_force=args.max_force),
    )
    card = generate(
        config, args.out, workers=args.workers, keep_work=args.keep_work, max_tasks=args.max_tasks
    )
    summary = {k: card[k] for k in ("n_structures", "counts", "rejected_total", "run") if k in card}
    print(json.dumps(summary, indent=2))
    return 0
