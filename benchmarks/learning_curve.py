"""Learning curve of one variant on a dataset: val/test energy and force MAE every N steps.

    python benchmarks/learning_curve.py --data assets/data --variant baseline \\
        --steps 6000 --every 500 --eval-limit 400 \\
        --json benchmarks/results/learning_curve.json --work /tmp/pamm_lc

Trains once through the packaged ``fairchem -c`` config (``pamm.train``), keeping a
checkpoint every ``--every`` steps, then scores each checkpoint on the val and test
splits (``pamm.evaluate``, the first ``--eval-limit`` structures of each split, which the
oxide recipe stores in a seeded random order). Resumable: a finished training run is
reused and every scored checkpoint is written to the JSON at once (a point is reused only
when it was scored on the same checkpoint file, splits and limit: ``point["scored"]``).
The JSON also holds the dataset's composition-only and ridge rows
(``DATA/statistics.json``) and the issue's targets, so the reader sees the floor in the
same place. ``--init CKPT`` fine-tunes from a
checkpoint (``pamm train --init``); its step-0 point is then CKPT's weights. With
``--train-only memory`` only the motif memory and its fusion train (backbone frozen).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from pamm.evaluate import evaluate_checkpoint  # noqa: E402
from pamm.finetune import TRAIN_ONLY, init_overrides  # noqa: E402
from pamm.plumbing import atomic_write_text, folder_sha256, sha256_file  # noqa: E402
from pamm.train import config_path, fit_references, run_fairchem, training_overrides  # noqa: E402

TARGETS = {
    "test_energy_mae_mev_per_atom": 30.0,
    "test_force_mae_mev_per_a": 200.0,
    "ridge_over_model_energy": 3.0,
}


def _train(args: argparse.Namespace, run_dir: Path) -> Path:
    ckpt_root = run_dir / "lc" / "checkpoints"
    if (ckpt_root / "final" / "inference_ckpt.pt").is_file():
        return ckpt_root
    refs = fit_references(args.data / "train")
    overrides = [
        *training_overrides(
            data_dir=args.data,
            run_dir=run_dir,
            steps=args.steps,
            seed=args.seed,
            timestamp_id="lc",
            references=refs,
        ),
        f"checkpoint_every={args.every}",
        f"max_saved_checkpoints={args.steps // args.every + 2}",
        f"batch_size={args.batch_size}",
        *([] if args.init is None else init_overrides(args.init, args.train_only)),
        *args.overrides,
    ]
    log = run_dir / "train.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"learning_curve: training {args.variant} for {args.steps} steps, log {log}", flush=True)
    sys.stdout.flush()
    result = run_fairchem(config_path(args.variant), overrides, log=log)
    if result.returncode != 0:
        raise RuntimeError(f"fairchem failed; see {log}")
    return ckpt_root


def _checkpoints(ckpt_root: Path) -> list[tuple[int, Path]]:
    found = [
        (int(d.name.split("_")[1]), d / "inference_ckpt.pt")
        for d in ckpt_root.glob("step_*")
        if (d / "inference_ckpt.pt").is_file()
    ]
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "assets" / "data")
    parser.add_argument("--variant", default="baseline")
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--eval-limit", type=int, default=400)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/pamm_learning_curve"))
    parser.add_argument(
        "--init", type=Path, default=None, help="fine-tune from this checkpoint (pamm train --init)"
    )
    parser.add_argument(
        "--train-only",
        choices=sorted(TRAIN_ONLY),
        default=None,
        help="with --init: train only the motif memory and its fusion (pamm train --train-only)",
    )
    parser.add_argument("overrides", nargs="*", help="extra fairchem key=value overrides")
    args = parser.parse_args(argv)
    if args.every <= 0 or args.steps <= 0:
        parser.error("--steps and --every must be > 0")
    if args.train_only and args.init is None:
        parser.error("--train-only needs --init (the checkpoint whose backbone stays frozen)")
    result = json.loads(args.json.read_text()) if args.json.is_file() else {}
    run_dir = args.work / f"{args.variant}_s{args.seed}"
    start = time.time()
    ckpt_root = _train(args, run_dir)
    stats_path = args.data / "statistics.json"
    stats = json.loads(stats_path.read_text()) if stats_path.is_file() else {}
    result |= {
        "variant": args.variant,
        "steps": args.steps,
        "every": args.every,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "eval_limit": args.eval_limit,
        "overrides": args.overrides,
        "init": None if args.init is None else str(args.init),
        "train_only": args.train_only,
        "targets": TARGETS,
        "floor": {
            s: {k: v[k] for k in ("composition_mae_meV", "ridge_mae_meV")}
            for s, v in stats.get("splits", {}).items()
        },
    }
    splits = {s: args.data / s for s in ("val", "test")}
    scored_on = {f"{s}_sha256": folder_sha256(d) for s, d in splits.items()}
    scored_on["eval_limit"] = args.eval_limit
    points = {}
    ckpts = _checkpoints(ckpt_root)
    final = ckpt_root / "final" / "inference_ckpt.pt"
    first = ckpts[0][1].stat().st_mtime if ckpts else final.stat().st_mtime
    earlier = {p["step"]: p for p in result.get("points", [])}
    for step, ckpt in [*ckpts, (args.steps, final)]:
        scored = {"checkpoint_sha256": sha256_file(ckpt), **scored_on}
        if earlier.get(step, {}).get("scored") == scored:  # this very checkpoint, scored so
            points[step] = earlier[step]
            continue
        metrics = evaluate_checkpoint(ckpt, splits, limit=args.eval_limit)
        points[step] = {
            "step": step,
            "train_minutes": round((ckpt.stat().st_mtime - first) / 60, 2),
            **{
                f"{s}_{k}": round(m["overall"][k], 2)
                for s, m in metrics.items()
                for k in ("energy_mae_mev_per_atom", "force_mae_mev_per_a")
            },
            "scored": scored,
        }
        result["points"] = [points[k] for k in sorted(points)]
        atomic_write_text(args.json, json.dumps(result, indent=1))
        print(json.dumps(points[step]), flush=True)
    last = points[max(points)]
    ridge = result["floor"].get("test", {}).get("ridge_mae_meV")
    result["verdict"] = {
        "test_energy_mae_mev_per_atom": last["test_energy_mae_mev_per_atom"],
        "test_force_mae_mev_per_a": last["test_force_mae_mev_per_a"],
        "ridge_over_model_energy": round(ridge / last["test_energy_mae_mev_per_atom"], 2)
        if ridge
        else None,
        "wall_minutes_this_invocation": round((time.time() - start) / 60, 1),
    }
    atomic_write_text(args.json, json.dumps(result, indent=1))
    print(json.dumps(result["verdict"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
