"""Planted motifs with the backbone frozen: what can the memory alone represent, and do the
probes find it there?

    python benchmarks/planted_frozen.py --planted benchmarks/results/planted.json \
        --json benchmarks/results/planted_frozen.json --out /tmp/pamm_planted_frozen \
        [--strength 1] [--steps 300] [--threads 2] [table_lr_factor=10 ...]

Takes a finished ``benchmarks/planted.py`` run (its JSON and ``--work`` folder): the control
checkpoint ``<variant>_r0`` (trained on unplanted labels) is fine-tuned on the planted copy
at ``--strength`` with ``pamm train --init CONTROL --train-only memory`` (backbone and heads
frozen, the control's element references and normaliser kept, the planted run's recipe:
batch size, lr, seed). Whatever the run learns of the planted term is then in the tables
and the fusion, so ``captured_fraction`` (paired slope of E_frozen − E_control on the
planted energy, same held-out structures) is what the memory alone captured, and the ranks
and removal say whether the probes point at it. Scored and summarised exactly as
``planted.py`` does (its ``_score``, ``_recover``, ``summarise_runs``); the control is the
planted run's own ``<variant>_r0`` entry. Resumable: a finished fine-tune is reused.

Extra ``key=value`` overrides come after the source's recipe (``batch_size``, ``lr``, its
overrides), so they replace it: ``lr=0.003`` fine-tunes at 3e-3 (hydra keeps the last value
of a key); ``config.overrides`` in the JSON lists the source's overrides, then these.

``--only pair`` / ``--only triplet`` fine-tunes on a copy carrying that one term (written to
``OUT/data``, same ε as the source's copy) and scores that motif only, so that the other
term can neither compete for the memory nor leak into its shares.

``--init CKPT`` starts the fine-tune from another checkpoint than the source's control: the
reading on the shipped ``gate.pt`` recipe starts from the bundled baseline with a
zero-initialised memory of the run's spec attached (``pamm attach
assets/checkpoints/baseline.pt init.pt --fusion gate --set triplet_cutoff=3.0``). Its control
is the same fine-tune on the unplanted labels: ``--strength 0 --init CKPT`` writes it, and
``--control THAT.json`` makes it the control of the planted runs (same ``--init`` and
``--seed`` required). Nothing of the source's ``--work`` folder is read then: the source JSON
(calibration, eval structures, recipe) is enough.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import planted  # noqa: E402

from pamm.plumbing import atomic_write_json  # noqa: E402


def _references(control: Path) -> list[str]:
    """The control checkpoint's ``elem_refs``, ``normalizer_rmsd``, ``stress_coefficient``
    overrides (read from its ``tasks_config`` with ``pamm.units.task_transforms``)."""
    from pamm.checkpoint import load_checkpoint
    from pamm.train import References
    from pamm.units import task_transforms

    tasks = load_checkpoint(control).tasks_config
    _, normalizer, refs = task_transforms(tasks)["energy"]
    rmsd = float(normalizer.rmsd)
    coefficient = next(t for t in tasks if t["name"] == "stress")["loss_fn"]["coefficient"]
    return References(
        elem_refs=tuple(refs.element_references.tolist()),
        normalizer_rmsd=rmsd,
        n_structures=0,
        stress_rmsd=rmsd / coefficient,  # so that stress_coefficient is the control's
    ).to_overrides()


def fine_tune(
    out: Path, config: dict, init: Path, data: Path, *, steps: int, seed: int, extra=()
) -> Path:
    """``pamm train --train-only memory`` from ``init`` on ``data`` into ``out`` (the recipe
    of the source ``config``, then ``extra`` overrides); the final checkpoint. A finished
    fine-tune is reused."""
    done = sorted(out.glob("*/checkpoints/final/inference_ckpt.pt"))
    if done:
        return done[-1]
    command = [
        sys.executable, "-m", "pamm_lab", "train", "--variant", config["variant"],
        "--data", str(data), "--steps", str(steps), "--out", str(out),
        "--seed", str(seed), "--init", str(init), "--train-only", "memory",
        "--no-fit-refs", *_references(init),
        f"batch_size={config['batch_size']}", f"lr={config['lr']}",
        *config["overrides"], *extra,
    ]  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "train.log", "w") as log:
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"pamm train failed, see {out / 'train.log'}")
    return sorted(out.glob("*/checkpoints/final/inference_ckpt.pt"))[-1]


def score_run(source: dict, checkpoint: Path, init: Path, r: float, motifs: dict) -> dict:
    """A fine-tuned run on the source's held-out structures: errors against the labels
    planted at ``r`` (``motifs`` only) and unplanted, and the recovery of ``motifs``."""
    from pamm.data.planted import plant
    from pamm.evaluate import read_split

    config = source["config"]
    test = read_split(Path(config["data"]) / "test")
    frames = [test[i] for i in source["eval"]["index"]]
    strengths = {k: planted.epsilon(source["calibration"], k, r) for k in motifs}
    run = {
        "variant": config["variant"], "relative_strength": r, "epsilon_ev": strengths,
        "planted": sorted(motifs), "checkpoint": str(checkpoint), "train_only": "memory",
        "init": str(init),
    }  # fmt: skip
    planted_frames = plant(frames, planted.planted_motifs(source["calibration"], r, motifs))
    run |= planted._score(checkpoint, planted_frames, frames)
    recover_args = argparse.Namespace(replace=config["replace"], top_n=config["top_n"])
    run["recovery"] = planted._recover(recover_args, checkpoint, frames, strengths, motifs)
    return run


def control_of(parser, args, source: dict, variant: str) -> dict | None:
    """The control run: ``--control``'s (same ``--init``), else the source's ``<variant>_r0``;
    ``None`` for a ``--strength 0 --init`` run, which is a control itself."""
    if args.strength == 0:
        if args.init is None or args.control is not None:
            parser.error("--strength 0 is the control of an --init reading: give --init only")
        return None
    if args.control is not None:
        other = json.loads(args.control.read_text())
        made = other["config"]
        same = args.init is not None and Path(made.get("init", "")).resolve() == args.init.resolve()
        if not same or made["strength"] != 0 or made["seed"] != args.seed:
            parser.error(f"{args.control} is not a --strength 0 run from this --init and --seed")
        return other["runs"][f"{variant}_r0"]
    if args.init is not None:
        parser.error("--init needs its own --control (a --strength 0 run from the same --init)")
    control = source["runs"].get(f"{variant}_r0")
    if control is None:
        parser.error(f"{args.planted} has no {variant}_r0 run")
    return control


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--planted", type=Path, required=True, help="a planted.py JSON")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="the fine-tune's run directory")
    parser.add_argument("--strength", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--seed", type=int, default=None,
                        help="the fine-tune's seed (data order); default the source's")  # fmt: skip
    parser.add_argument("--only", choices=tuple(planted.MOTIFS),
                        help="plant this motif alone (default: every motif)")  # fmt: skip
    parser.add_argument(
        "--init", type=Path, help="fine-tune from this checkpoint (default: the source's control)"
    )
    parser.add_argument(
        "--control",
        type=Path,
        help="a --strength 0 run of this script with the same --init: the control",
    )
    parser.add_argument("overrides", nargs="*", help="extra fairchem key=value overrides")
    args = parser.parse_args(argv)
    planted.set_threads(args.threads)
    from pamm.data.planted import plant_datasets

    source = json.loads(args.planted.read_text())
    config, variant = source["config"], source["config"]["variant"]
    if args.seed is None:  # the fine-tune's data order: the source run's seed
        args.seed = config["seed"]
    name, r = f"{variant}_{planted.tag(args.strength)}", args.strength
    control_run = control_of(parser, args, source, variant)
    dataset = source["datasets"].get(planted.tag(r))
    if dataset is None and not args.only and r > 0:
        parser.error(f"{args.planted} has no {planted.tag(r)} copy")
    start = time.time()
    motifs = planted.motifs_of(config)
    if args.only:
        motifs = {args.only: motifs[args.only]}
    if r == 0:  # the control of an --init reading: the unplanted labels
        data = Path(config["data"])
    elif args.only:  # a copy of the source data with this one term (ε from the calibration)
        data = args.out / "data"
        copy = {data: planted.planted_motifs(source["calibration"], r, motifs)}
        plant_datasets(config["data"], copy, splits=planted.SPLITS)
    else:
        data = Path(dataset["path"])
    init = args.init or Path(control_run["checkpoint"])
    try:
        checkpoint = fine_tune(
            args.out, config, init, data, steps=args.steps, seed=args.seed, extra=args.overrides
        )
    except RuntimeError as err:
        raise SystemExit(f"planted_frozen: {err}") from None
    run = score_run(source, checkpoint, init, r, motifs)
    result = {
        "schema": "pamm-planted-frozen/1",
        "config": {"planted": str(args.planted), "strength": r, "steps": args.steps,
                   "seed": args.seed, "only": args.only, "init": str(init),
                   "control": None if args.control is None else str(args.control),
                   "overrides": [*config["overrides"], *args.overrides], "out": str(args.out)},
        "calibration": source["calibration"], "eval": source["eval"],
        "runs": {f"{variant}_r0": control_run, name: run} if control_run else {name: run},
    }  # fmt: skip
    result["summary"] = planted.summarise_runs(result, variant)
    result["wall_s_last_invocation"] = round(time.time() - start, 1)
    atomic_write_json(args.json, result, indent=1)
    print(json.dumps(result["summary"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
