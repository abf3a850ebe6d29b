"""Fixed-budget comparison of PaMM, the eSCN-MD baseline and the controls.

    python benchmarks/compare.py run   --data assets/data --steps 400 --seeds 0,1,2 \\
        --variants baseline,gate,affine --out benchmarks/results --work /tmp/pamm_compare
    python benchmarks/compare.py table --out benchmarks/results
    python benchmarks/compare.py adopt --checkpoint CKPT --variant gate --steps 3000 --out OUT
    python benchmarks/compare.py export-demo --out benchmarks/results --dest assets/checkpoints

``run`` trains every (variant, seed) with the packaged ``fairchem -c`` configs
(``pamm.train``) at one step budget; runs of the same seed see the identical data order
(the sampler is seeded with ``job.seed``). Each finished run is scored on the val, test
and held-out-family splits (``pamm.evaluate``) and written at once to
``OUT/runs/<variant>_s<seed>.json``; a rerun skips finished runs, so the job is resumable,
and several ``run`` processes may share one ``OUT`` (each claims a run with an exclusive
lock file). ``table`` aggregates whatever has finished into ``OUT/results.json`` and
``OUT/results.md`` (mean ± std over seeds, per split and per family) and names what is
missing. ``adopt`` scores a checkpoint trained elsewhere (a learning-curve run) into the same
run record. ``export-demo`` copies the seed-0 baseline/gate/affine checkpoints with a metrics
JSON (including the first 20 test structures) beside each.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from benchmarks.compare_table import write_table  # noqa: E402
from pamm.evaluate import evaluate_checkpoint, load_predictor  # noqa: E402
from pamm.plumbing import atomic_write_json, folder_sha256  # noqa: E402
from pamm.train import (  # noqa: E402
    VARIANTS,
    References,
    check_split_dir,
    config_path,
    find_checkpoint,
    fit_references,
    run_fairchem,
    training_overrides,
)

RUN_SCHEMA = "pamm-compare-run/1"
SPLITS = ("val", "test", "heldout", "heldout_chemistry")
DEMO_VARIANTS = ("baseline", "gate", "affine")
#: structures of the stored test order re-scored by tests/assets/test_checkpoints.py
DEMO_CHECK_STRUCTURES = 20


def _write_json(path: Path, obj: Any) -> None:
    """Atomic JSON write (indent 1, sorted keys)."""
    atomic_write_json(path, obj, indent=1, sort_keys=True)


def run_name(variant: str, seed: int) -> str:
    """File stem of one run: ``gate_s0``."""
    return f"{variant}_s{seed}"


def _claim(lock: Path) -> bool:
    """Create ``lock`` exclusively (holding our pid); take over a lock whose pid is dead."""
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        try:
            pid = int(lock.read_text().strip() or 0)
            os.kill(pid, 0)
            return False  # held by a live process
        except (ValueError, ProcessLookupError, FileNotFoundError):
            lock.unlink(missing_ok=True)
            return _claim(lock)
        except PermissionError:
            return False
    with os.fdopen(fd, "w") as fh:
        fh.write(str(os.getpid()))
    return True


def _references(data: Path, out: Path) -> References:
    """Element references fitted once on ``data/train`` and cached in ``OUT/references.json``
    (refitted when the training files change)."""
    cache = out / "references.json"
    train_sha256 = folder_sha256(data / "train")
    if cache.is_file():
        d = json.loads(cache.read_text())
        if d.get("train_sha256") == train_sha256 and "stress_rmsd" in d:
            return References(
                tuple(d["elem_refs"]), d["normalizer_rmsd"], d["n_structures"], d["stress_rmsd"]
            )
    refs = fit_references(data / "train")
    _write_json(
        cache,
        {
            "train_dir": str((data / "train").resolve()),
            "train_sha256": train_sha256,
            "elem_refs": list(refs.elem_refs),
            "normalizer_rmsd": refs.normalizer_rmsd,
            "stress_rmsd": refs.stress_rmsd,
            "n_structures": refs.n_structures,
        },
    )
    return refs


def _write_errors(path: Path, rows: dict, variant: str, seed: int) -> None:
    """Per-structure errors of every scored split, for the paired bootstrap."""
    import pandas as pd

    from pamm.plumbing import atomic_write_parquet

    table = pd.concat(
        [r.assign(split=split, variant=variant, seed=seed) for split, r in rows.items()],
        ignore_index=True,
    )
    atomic_write_parquet(path, table)


def _param_counts(predictor) -> dict[str, int]:
    params = dict(predictor.model.named_parameters())
    memory = sum(p.numel() for n, p in params.items() if ".motif_" in n or n.startswith("motif_"))
    return {"params_total": sum(p.numel() for p in params.values()), "params_memory": memory}


def _step_seconds(checkpoint: Path, steps: int) -> float | None:
    """(final - step_0 checkpoint mtime) / steps: in-run time per step, startup excluded."""
    step0 = checkpoint.parents[1] / "step_0" / checkpoint.name
    if not step0.is_file():
        return None
    return (checkpoint.stat().st_mtime - step0.stat().st_mtime) / steps


def train_and_score(
    variant: str, seed: int, args: argparse.Namespace, refs: References
) -> dict[str, Any]:
    """Train one (variant, seed) with ``fairchem -c``, score it, return the run record."""
    run_dir = args.work / run_name(variant, seed)
    timestamp_id = f"{variant}-s{seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    base = training_overrides(
        data_dir=args.data,
        run_dir=run_dir,
        steps=args.steps,
        seed=seed,
        timestamp_id=timestamp_id,
        references=refs,
    )
    overrides = [
        *base,
        f"batch_size={args.batch_size}",
        f"lr={args.lr}",
        f"max_eval_steps={args.max_eval_steps}",
        f"checkpoint_every={10 * args.steps}",
        *args.overrides,
    ]
    start = time.time()
    log = run_dir / f"{timestamp_id}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    print(
        f"compare: training {run_name(variant, seed)} ({args.steps} steps), log {log}", flush=True
    )
    sys.stdout.flush()
    result = run_fairchem(config_path(variant), overrides, log=log)
    train_wall = time.time() - start
    if result.returncode != 0:
        raise RuntimeError(f"fairchem failed for {run_name(variant, seed)}; see {log}")
    checkpoint = find_checkpoint(run_dir, timestamp_id)
    return score_run(variant, seed, checkpoint, args, overrides, train_wall)


def score_run(
    variant: str,
    seed: int,
    checkpoint: Path,
    args: argparse.Namespace,
    overrides: list[str],
    train_wall: float | None,
) -> dict[str, Any]:
    """Score a trained checkpoint on every split; write its per-structure errors; the record."""
    predictor = load_predictor(checkpoint)
    splits = {s: args.data / s for s in SPLITS if (args.data / s).is_dir()}
    start = time.time()
    rows: dict = {}
    metrics = evaluate_checkpoint(
        checkpoint, splits, limit=args.eval_limit, batch_size=8, predictor=predictor, rows_out=rows
    )
    _write_errors(
        args.out / "runs" / f"{run_name(variant, seed)}.errors.parquet", rows, variant, seed
    )
    import fairchem.core
    import torch

    shown = [o for o in overrides if not o.startswith("elem_refs=")]
    return {
        "schema": RUN_SCHEMA,
        "variant": variant,
        "config": config_path(variant).name,
        "seed": seed,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "overrides": shown,
        "data_dir": str(args.data.resolve()),
        "eval_limit": args.eval_limit,
        "checkpoint": str(checkpoint),
        "train_wall_s": train_wall,
        "eval_wall_s": time.time() - start,
        "wall_s_per_step": _step_seconds(checkpoint, args.steps),
        **_param_counts(predictor),
        "metrics": metrics,
        "versions": {"torch": torch.__version__, "fairchem": fairchem.core.__version__},
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


class CompositionPredictor:
    """Reference model for context: E = sum of the fitted element references, F = S = 0.

    Implements fairchem's ``predict(batch)`` contract, so :mod:`pamm.evaluate` scores it
    like a checkpoint; its errors are the floor a trained model has to beat.
    """

    def __init__(self, refs: References) -> None:
        import torch

        self.refs = torch.tensor(refs.elem_refs, dtype=torch.float64)  # [Zmax]

    def predict(self, batch) -> dict:
        import torch

        per_atom = self.refs[batch.atomic_numbers.long()]  # [N]
        energy = torch.zeros(len(batch.natoms), dtype=torch.float64)  # [B]
        energy.index_add_(0, batch.batch, per_atom)
        return {
            "energy": energy,
            "forces": torch.zeros(len(per_atom), 3),  # [N, 3]
            "stress": torch.zeros(len(batch.natoms), 9),  # [B, 9]
        }


def score_composition_only(args: argparse.Namespace, refs: References) -> None:
    """Write ``OUT/composition_only.json`` (metrics of :class:`CompositionPredictor`) once."""
    path = args.out / "composition_only.json"
    if path.is_file():
        return
    splits = {s: args.data / s for s in SPLITS if (args.data / s).is_dir()}
    metrics = evaluate_checkpoint(
        "composition-only", splits, limit=args.eval_limit, predictor=CompositionPredictor(refs)
    )
    _write_json(path, {"eval_limit": args.eval_limit, "metrics": metrics})


def _budget_mismatches(runs_dir: Path, args: argparse.Namespace) -> list[str]:
    """Requested runs already finished at another steps/batch size/lr (a rerun would skip them)."""
    wanted = {"steps": args.steps, "batch_size": args.batch_size, "lr": args.lr}
    mixed = []
    for seed in args.seeds:
        for variant in args.variants:
            path = runs_dir / f"{run_name(variant, seed)}.json"
            record = json.loads(path.read_text()) if path.is_file() else wanted
            if any(record.get(k) != v for k, v in wanted.items()):
                mixed.append(f"{path.stem}: {record.get('steps')} steps, lr {record.get('lr')}")
    return mixed


def cmd_run(args: argparse.Namespace) -> int:
    """Train and score every pending (variant, seed); finished runs are skipped."""
    for split in ("train", "val", "test"):
        check_split_dir(args.data / split)
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        print(f"compare: unknown variants {unknown}; choose from {sorted(VARIANTS)}")
        return 2
    if args.threads:
        import torch

        os.environ["OMP_NUM_THREADS"] = str(args.threads)
        torch.set_num_threads(args.threads)
    runs_dir = args.out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    mixed = _budget_mismatches(runs_dir, args)
    if mixed:
        print(
            f"compare: {args.out} already holds these runs at another budget ({', '.join(mixed)});"
            " they would be skipped and the table would mix budgets: pass another --out, or"
            " the budget they were run with"
        )
        return 2
    refs = _references(args.data, args.out)
    score_composition_only(args, refs)
    failed = []
    for seed in args.seeds:  # seed-major: every variant gets seed 0 before any gets seed 1
        for variant in args.variants:
            name = run_name(variant, seed)
            done, lock = runs_dir / f"{name}.json", runs_dir / f".{name}.lock"
            if done.is_file() or not _claim(lock):
                continue
            try:
                if done.is_file():  # finished by another process meanwhile
                    continue
                record = train_and_score(variant, seed, args, refs)
                _write_json(done, record)
                test = record["metrics"]["test"]["overall"]
                print(
                    f"compare: {name} done: test E {test['energy_mae_mev_per_atom']:.2f} meV/atom,"
                    f" F {test['force_mae_mev_per_a']:.1f} meV/A",
                    flush=True,
                )
            except Exception as err:  # keep going with the next run; report at the end
                print(f"compare: {name} FAILED: {err}", flush=True)
                failed.append(name)
            finally:
                lock.unlink(missing_ok=True)
    write_table(args.out, data=args.data)
    return 1 if failed else 0


def describe_init(init: str) -> str:
    """``name (N steps)`` for a checkpoint with export-demo's metrics JSON beside it; else as is."""
    path = Path(init)
    metrics = path.with_suffix(".metrics.json")
    if not metrics.is_file():
        return init
    return f"{path.name} ({json.loads(metrics.read_text())['trained']['steps']} steps)"


def cmd_adopt(args: argparse.Namespace) -> int:
    """Score a checkpoint trained elsewhere (e.g. a learning-curve run) as one run record."""
    if not args.checkpoint.is_file():
        print(f"compare: no checkpoint {args.checkpoint}", file=sys.stderr)
        return 2
    if args.variant not in VARIANTS:
        print(f"compare: unknown variant {args.variant}; choose from {sorted(VARIANTS)}")
        return 2
    (args.out / "runs").mkdir(parents=True, exist_ok=True)
    refs = _references(args.data, args.out)
    score_composition_only(args, refs)
    record = score_run(args.variant, args.seed, args.checkpoint, args, [], None)
    record["trained_by"] = args.trained_by
    if args.init_from:
        record["init_from"] = describe_init(args.init_from)
    if args.train_only:
        record["train_only"] = args.train_only
    _write_json(args.out / "runs" / f"{run_name(args.variant, args.seed)}.json", record)
    test = record["metrics"]["test"]["overall"]
    print(
        f"compare: adopted {args.checkpoint} as {run_name(args.variant, args.seed)}: "
        f"test E {test['energy_mae_mev_per_atom']:.2f} meV/atom, "
        f"F {test['force_mae_mev_per_a']:.1f} meV/A",
        flush=True,
    )
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    """Write results.json + results.md from the finished runs."""
    summary = write_table(args.out, expected_seeds=args.expect, data=args.data)
    print(f"compare: {len(summary['runs'])} runs -> {args.out / 'results.md'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="train + score pending (variant, seed) runs")
    run.add_argument("--data", type=Path, default=ROOT / "assets" / "data")
    run.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    run.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "pamm_compare")
    run.add_argument("--variants", type=lambda s: s.split(","), default=list(DEMO_VARIANTS))
    run.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1, 2])
    run.add_argument("--steps", type=int, default=400)
    run.add_argument("--batch-size", type=int, default=8)
    run.add_argument("--lr", type=float, default=1e-3)
    run.add_argument("--max-eval-steps", type=int, default=5, help="fairchem's own val batches")
    run.add_argument("--eval-limit", type=int, default=None, help="structures scored per split")
    run.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    run.add_argument("overrides", nargs="*", help="extra fairchem key=value overrides")
    table = sub.add_parser("table", help="aggregate finished runs into results.{json,md}")
    table.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    table.add_argument("--expect", default=None, help="e.g. baseline:3,gate:3,mlp:1")
    table.add_argument("--data", type=Path, default=ROOT / "assets" / "data")
    adopt = sub.add_parser("adopt", help="score a checkpoint trained elsewhere as a run record")
    adopt.add_argument("--checkpoint", type=Path, required=True)
    adopt.add_argument("--variant", required=True)
    adopt.add_argument("--seed", type=int, default=0)
    adopt.add_argument("--steps", type=int, required=True, help="steps it was trained for")
    adopt.add_argument("--batch-size", type=int, default=8)
    adopt.add_argument("--lr", type=float, default=1e-3)
    adopt.add_argument("--data", type=Path, default=ROOT / "assets" / "data")
    adopt.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    adopt.add_argument("--eval-limit", type=int, default=None, help="structures scored per split")
    adopt.add_argument("--trained-by", default="", help="the command that trained it (recorded)")
    adopt.add_argument("--init-from", default="", help="checkpoint it was tuned from")
    adopt.add_argument(
        "--train-only", default="", help="what was trainable when tuning (pamm train --train-only)"
    )
    demo = sub.add_parser("export-demo", help="copy seed-0 checkpoints to assets/checkpoints")
    demo.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    demo.add_argument("--data", type=Path, default=ROOT / "assets" / "data")
    demo.add_argument("--dest", type=Path, default=ROOT / "assets" / "checkpoints")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--variants", type=lambda s: s.split(","), default=list(DEMO_VARIANTS))
    demo.add_argument("--card-only", action="store_true", help="rewrite README.md only")
    args = parser.parse_args(argv)
    if args.cmd == "adopt" and args.train_only and not args.init_from:
        parser.error("--train-only describes a fine-tune: pass --init-from too")
    if args.cmd == "run" and args.steps <= 0:
        parser.error(f"--steps must be > 0, got {args.steps}")
    if args.cmd == "export-demo":
        from benchmarks.compare_demo import cmd_export_demo

        return cmd_export_demo(args)
    return {"run": cmd_run, "table": cmd_table, "adopt": cmd_adopt}[args.cmd](args)


if __name__ == "__main__":
    raise SystemExit(main())
