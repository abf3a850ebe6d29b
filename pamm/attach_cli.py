"""``pamm attach``: add a zero-initialised PaMM memory to a plain eSCN-MD/UMA checkpoint.

Example::

    pamm attach plain.pt pamm_affine.pt --fusion affine --set triplet_buckets=8192

The new checkpoint predicts exactly what the input did (the fusion starts as identity)
and loads with fairchem's loaders (``load_predict_unit``) or ``pamm.checkpoint``.
"""

from __future__ import annotations

import argparse
import json

from pamm.spec import FUSIONS, MODES


def _field(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set expects FIELD=VALUE, got {text!r}")
    name, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return name.strip(), value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pamm attach``."""
    parser.add_argument("checkpoint", help="input MLIPInferenceCheckpoint (.pt) of a plain model")
    parser.add_argument("output", help="where to write the PaMM checkpoint")
    parser.add_argument("--fusion", choices=FUSIONS, default="gate")
    parser.add_argument("--mode", choices=[m for m in MODES if m != "baseline"], default="pamm")
    parser.add_argument(
        "--set",
        dest="fields",
        type=_field,
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="any other MotifMemorySpec field, e.g. --set pair_buckets=8192 (repeatable)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the table initialisation")


def run(args: argparse.Namespace) -> int:
    """Load (weights_only), attach, save atomically; print the spec."""
    from pamm.checkpoint import attach_pamm, load_checkpoint, save_checkpoint

    spec = {"mode": args.mode, "fusion": args.fusion, **dict(args.fields)}
    ckpt = attach_pamm(load_checkpoint(args.checkpoint), spec, seed=args.seed)
    path = save_checkpoint(ckpt, args.output)
    stored = ckpt.model_config["backbone"]["pamm"]
    print(f"wrote {path} ({ckpt.model_config['backbone']['model']})")
    print(json.dumps(stored, indent=2, sort_keys=True))
    return 0
