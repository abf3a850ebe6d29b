"""``pamm analyze``: write an analysis run directory for the dashboard and notebooks.

    pamm analyze --checkpoint C.pt --data assets/data --out runs/demo

Idempotent: re-running with unchanged inputs does nothing; a changed analysis setting
reuses the stored census. ``--chemiscope`` also writes ``chemiscope.json.gz``.
``--probes N`` also stores the causal probes of N evenly spaced structures (first-order
attribution of every bucket, exact check of the top ``--probe-top-k``, reliance) for
the Interventions page; see docs/PROBES.md. ``--census FILE`` builds the run from a census
made elsewhere (``torchrun ... -m analysis.distributed``, see docs/SCALE.md) for the same
checkpoint, data and census settings, instead of computing it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``pamm analyze``."""
    parser.add_argument("--checkpoint", required=True, type=Path, help="PaMM checkpoint (.pt)")
    parser.add_argument(
        "--data", required=True, nargs="+", type=Path,
        help="dataset: folder(s) of .aselmdb files, or extxyz/CIF/POSCAR files",
    )  # fmt: skip
    parser.add_argument("--out", required=True, type=Path, help="run directory to write")
    parser.add_argument(
        "--max-per-family", type=int, default=100,
        help="analyse at most this many structures per family (0 = all; default 100)",
    )  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--reservoir", type=int, default=8, help="examples kept per motif")
    parser.add_argument(
        "--embedding", choices=("auto", "umap", "pca"), default="auto",
        help="2-D map of table rows (auto: UMAP unless few rows)",
    )  # fmt: skip
    parser.add_argument("--heldout", nargs="*", default=None, help="held-out family names")
    parser.add_argument("--chemiscope", action="store_true", help="also export chemiscope JSON")
    parser.add_argument(
        "--probes", type=int, default=0, metavar="N",
        help="also store causal probes of N evenly spaced structures (default 0 = none)",
    )  # fmt: skip
    parser.add_argument("--probe-replace", choices=("zero", "mean"), default="zero")
    parser.add_argument(
        "--probe-top-k", type=int, default=10, help="buckets checked by exact ablation",
    )  # fmt: skip
    parser.add_argument(
        "--census", type=Path, default=None,
        help="use this census .npz (from `python -m analysis.distributed`) instead of computing",
    )  # fmt: skip
    parser.add_argument("--force", action="store_true", help="recompute even if up to date")


def run(args: argparse.Namespace) -> int:
    """Run the analysis; returns a process exit code (2 on bad input, with a message)."""
    from analysis.pipeline import run_analysis
    from analysis.settings import AnalysisSettings

    if args.max_per_family is not None and args.max_per_family < 0:
        print("pamm analyze: --max-per-family must be >= 0", file=sys.stderr)
        return 2
    if args.probes < 0 or args.probe_top_k < 1:
        print("pamm analyze: --probes must be >= 0 and --probe-top-k >= 1", file=sys.stderr)
        return 2
    try:
        settings = AnalysisSettings(
            max_per_family=args.max_per_family or None,
            batch_size=args.batch_size,
            reservoir=args.reservoir,
            embedding=args.embedding,
            probe_structures=args.probes,
            probe_replace=args.probe_replace,
            probe_top_k=args.probe_top_k,
            **({} if args.heldout is None else {"heldout": tuple(args.heldout)}),
        )
        data = [str(p) for p in args.data]
        out = run_analysis(
            args.checkpoint, data, args.out, settings, force=args.force, census_file=args.census
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"pamm analyze: {err}", file=sys.stderr)
        return 2
    if args.chemiscope:
        from analysis.data import StructureSource
        from analysis.export import export_chemiscope

        source = StructureSource.open([str(p) for p in args.data])  # the user's own --data
        export_chemiscope(out, out / "chemiscope.json.gz", source=source)
    print(f"analysis run written to {out}")
    return 0
