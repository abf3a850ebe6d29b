"""``pamm generate``: the synthetic datasets (CHGNet labels, not DFT).

The default recipe, ``oxides``, builds an oxide dataset (oxides of Si Al Mg Ti Ca Li Zn,
relaxed parents, splits by parent; :mod:`pamm.data.oxide_dataset`); the bundled demo data is
such a run extended by ``--extend BASE``, which adds parents to a finished oxide dataset,
keeping its frames (:mod:`pamm.data.oxide_extension`)::

    pamm generate --out /tmp/oxides --seed 0 --workers 2
    pamm generate --extend /tmp/oxides --out assets/data --workers 2

``scripts/generate_oxide_data.sh`` runs both (and the card) from the bundled candidate
list. ``--labels calculator`` labels with CHGNet's own ASE calculator, as the bundled data
was made (the default ``one-backward`` is 1.7–2.1x faster per label:
:mod:`pamm.data.chgnet_labels`). ``--recipe omat-like`` is the earlier any-element recipe
(:mod:`pamm.data.generate`). Re-running the same command resumes an interrupted run; a
finished run is left as is.
"""

from __future__ import annotations

import argparse
import json
import os

from pamm.data.families import HELDOUT_FAMILIES, SYNTHETIC_FAMILIES

STAGES = ("candidates", "relax", "parents", "tasks")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pamm generate``."""
    parser.add_argument("--out", required=True, help="output folder (DATA)")
    parser.add_argument(
        "--recipe",
        choices=("oxides", "omat-like"),
        default="oxides",
        help="oxides (default: the demo data) or omat-like (any element)",
    )
    parser.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    parser.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    parser.add_argument("--max-force", type=float, default=50.0, help="reject |F| above (eV/Å)")
    parser.add_argument(
        "--keep-work", action="store_true", help="keep DATA/.work (per-task results) after assembly"
    )
    oxides = parser.add_argument_group("oxides recipe")
    oxides.add_argument(
        "--extend",
        metavar="BASE",
        default=None,
        help="add parents to the finished oxide dataset BASE into --out (BASE's frames, "
        "splits and recipe kept; --seed and --max-force do not apply)",
    )
    oxides.add_argument(
        "--labels",
        choices=("one-backward", "calculator"),
        default="one-backward",
        help="CHGNet label path: one-backward (default, 1.7–2.1x faster per label) or calculator "
        "(CHGNet's own ASE calculator, as the bundled data was made; with --extend the "
        "base's applies)",
    )
    oxides.add_argument(
        "--stop-after",
        choices=STAGES,
        default=None,
        help="end after this stage (resume later with the same command)",
    )
    omat = parser.add_argument_group("omat-like recipe")
    omat.add_argument("--n-structures", type=int, default=3700, help="target structure count")
    omat.add_argument(
        "--families", nargs="+", default=list(SYNTHETIC_FAMILIES), choices=SYNTHETIC_FAMILIES
    )
    omat.add_argument(
        "--heldout", nargs="*", default=list(HELDOUT_FAMILIES), help="families kept for 'heldout'"
    )
    omat.add_argument("--min-atoms", type=int, default=8)
    omat.add_argument("--max-atoms", type=int, default=24)
    omat.add_argument(
        "--max-tasks",
        type=int,
        default=None,
        help="use only the first N planned tasks (stop a long run early, deterministically)",
    )


def _run_oxides(args: argparse.Namespace) -> dict | None:
    from pamm.data.oxide_dataset import OxideConfig, generate_oxides
    from pamm.data.recipes import FrameFilter

    if args.extend:  # the base's recipe (seed, filters) applies
        from pamm.data.oxide_extension import extend_oxides

        return extend_oxides(
            args.extend,
            args.out,
            workers=args.workers,
            stop_after=args.stop_after,
            keep_work=args.keep_work,
        )

    config = OxideConfig(
        seed=args.seed, frame_filter=FrameFilter(max_force=args.max_force), labels=args.labels
    )
    return generate_oxides(
        config, args.out, workers=args.workers, stop_after=args.stop_after, keep_work=args.keep_work
    )


def _run_omat_like(args: argparse.Namespace) -> dict:
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
    return generate(
        config, args.out, workers=args.workers, keep_work=args.keep_work, max_tasks=args.max_tasks
    )


def run(args: argparse.Namespace) -> int:
    """Generate or resume; print the dataset card summary as JSON."""
    import sys

    from pamm.data.oxide_extension import DatasetFolderError

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.extend and args.recipe != "oxides":
        print("pamm generate: --extend applies to the oxides recipe", file=sys.stderr)
        return 2
    try:
        card = _run_oxides(args) if args.recipe == "oxides" else _run_omat_like(args)
    except (FileNotFoundError, FileExistsError, DatasetFolderError) as err:
        print(f"pamm generate: {err}", file=sys.stderr)
        return 2
    if card is None:
        print(json.dumps({"stopped_after": args.stop_after}))
        return 0
    keys = ("n_structures", "n_parents", "counts", "rejected_total", "rejected", "run")
    print(json.dumps({k: card[k] for k in keys if k in card}, indent=2))
    return 0
