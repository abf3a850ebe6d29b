"""``pamm train``: train a variant through fairchem's own CLI (``fairchem -c``).

    pamm train --variant gate --data DATA --steps 2000 --out runs/gate [--seed 0] [--device cpu]

``DATA`` holds ``train/`` (and ``val/``) folders of ``*.aselmdb`` shards + ``metadata.npz``.
Energy references and the normalizer are fitted on ``DATA/train`` first; the EMA decay
follows the number of steps. Extra ``key=value`` arguments go to fairchem unchanged
(e.g. ``batch_size=16 job.scheduler.ranks_per_node=4``). ``--init CKPT`` starts from a
checkpoint's weights instead of a fresh initialisation (see :mod:`pamm.finetune`). The
command prints the exact ``fairchem -c`` call and, at the end, where the checkpoint landed.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from pamm.finetune import TRAIN_ONLY, init_overrides
from pamm.train import (
    VARIANTS,
    check_split_dir,
    config_path,
    fairchem_command,
    find_checkpoint,
    fit_references,
    run_fairchem,
    training_overrides,
)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pamm train``."""
    parser.add_argument("--variant", default="gate", choices=sorted(VARIANTS))
    parser.add_argument("--data", required=True, type=Path, help="folder with train/ and val/")
    parser.add_argument("--steps", required=True, type=int, help="optimiser steps")
    parser.add_argument("--out", required=True, type=Path, help="run directory (job.run_dir)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--no-fit-refs",
        action="store_true",
        help="keep the config's element references (zeros) and normalizer (1.0)",
    )
    parser.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from this checkpoint's weights (fine-tuning, e.g. after `pamm attach`); "
        "it must hold the variant's architecture and memory spec",
    )
    parser.add_argument(
        "--train-only",
        choices=sorted(TRAIN_ONLY),
        default=None,
        help="with --init: train only the motif memory and its fusion (backbone and heads "
        "frozen at the checkpoint's weights)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the command only")
    parser.add_argument("overrides", nargs="*", help="extra fairchem overrides key=value")


def run(args: argparse.Namespace) -> int:
    """Fit references, run ``fairchem -c``, print the checkpoint path; the exit code."""
    if args.steps <= 0:
        print(f"pamm train: --steps must be > 0, got {args.steps}", file=sys.stderr)
        return 2
    if args.train_only is not None and args.init is None:
        print("pamm train: --train-only needs --init (the weights to keep)", file=sys.stderr)
        return 2
    bad = [o for o in args.overrides if "=" not in o]
    if bad:
        print(f"pamm train: overrides must be key=value, got {bad}", file=sys.stderr)
        return 2
    try:
        train_dir = check_split_dir(args.data / "train")
        val_dir = None
        if not (args.data / "val").is_dir():
            print(f"pamm train: no {args.data / 'val'}; validating on {train_dir}", file=sys.stderr)
            val_dir = train_dir
        else:
            check_split_dir(args.data / "val")
        init = [] if args.init is None else init_overrides(args.init, args.train_only)
        refs = None if args.no_fit_refs else fit_references(train_dir)
    except (FileNotFoundError, ValueError) as err:
        print(f"pamm train: {err}", file=sys.stderr)
        return 2
    if refs is not None:
        print(
            f"pamm train: fitted element references on {refs.n_structures} structures, "
            f"normalizer_rmsd={refs.normalizer_rmsd:.4g}, stress_rmsd={refs.stress_rmsd:.4g} "
            f"(stress_coefficient={refs.stress_coefficient:.4g})"
        )
    timestamp_id = f"{args.variant}-{time.strftime('%Y%m%d-%H%M%S')}"
    overrides = training_overrides(
        data_dir=args.data,
        run_dir=args.out,
        steps=args.steps,
        seed=args.seed,
        device=args.device,
        timestamp_id=timestamp_id,
        val_dir=val_dir,
        references=refs,
    )
    overrides += init + list(args.overrides)
    config = config_path(args.variant)
    shown = [o if not o.startswith("elem_refs=") else "elem_refs=[...]" for o in overrides]
    print("pamm train: " + shlex.join(fairchem_command(config, shown)), flush=True)
    if args.dry_run:
        return 0
    result = run_fairchem(config, overrides)
    if result.returncode != 0:
        print(f"pamm train: fairchem exited with code {result.returncode}", file=sys.stderr)
        return result.returncode
    try:
        checkpoint = find_checkpoint(args.out, timestamp_id)
    except FileNotFoundError as err:
        print(f"pamm train: {err}", file=sys.stderr)
        return 1
    print(f"pamm train: checkpoint {checkpoint}")
    return 0
