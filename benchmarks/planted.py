"""Does the lab find what we planted? Planted-motif recovery, one resumable command (issue #16).

    python benchmarks/planted.py --data assets/data \\
        --json benchmarks/results/planted.json --work /tmp/pamm_planted

1. **Calibrate.** On the first ``--calibration-structures`` training structures: the
   per-atom energy spread σ_E (std of the composition-fit residual, meV/atom) and, per
   motif, u = the RMS planted energy per atom at ε = 1 eV over the structures holding it.
   A relative strength r gives ε = r σ_E / u: over the structures holding the motif the
   planted term's RMS is r σ_E per atom (both motifs alike).
2. **Plant.** For every r in ``--strengths`` (default 1, 0.2, 0.02): a copy of the
   train/val/test splits with both motifs planted (``pamm.data.planted.plant_datasets``):
   the pair bump Si–O centred at 1.65 Å (the centre of distance bin 16, half-width
   0.05 Å: every planted bond lies in that bin) and the triplet bump Ti–O–Ti centred at
   105° (angle bin 10, half-width 5°). Both in one dataset: their keys share no element
   triple (Si–O vs Ti–O–Ti), so neither term can hide in the other's keys, and one
   training run serves both motifs. (O–Si–O would share the Si–O bonds with the pair.)
   The triplet's partners are weighted by (1 − (r/3 Å)²)³; ``--triplet-envelope flat``
   (with ``--triplet-cutoff``) weights them 1 up to r_c − 0.5 Å, then the memory's own C²
   fade, so the planted term depends on the angle alone (``pamm.data.planted``).
3. **Train** ``--variant`` (gate) at every r and on the unplanted data (r = 0, the negative
   control), and the baseline at the largest r and r = 0 (``--baseline-strengths``), with
   the comparison table's recipe (``benchmarks/compare.py``: batch 8, lr 1e-3, EMA 1 −
   10/steps) for ``--steps``; same seed, so every run starts from the same weights and
   sees the same data order.
4. **Score** each run on the held-out set (the first ``--eval-structures`` test
   structures, plus further test structures holding a motif until each has
   ``--min-with-motif``): energy/force MAE against planted and unplanted labels and the
   predicted energies. For the memory variant, ``analysis.recovery.motif_recovery`` of
   both motifs: ranks by attribution, exact ablation (top ``--top-n`` + planted) and gate,
   and the removal ratio (docs/PLANTED.md defines the buckets).
5. **Summarise** per motif and strength (``summary``): the ranks, the removal ratio, the
   net ratio (minus what the same ablation removes in the r = 0 run on the same
   structures), the captured fraction (least-squares slope of E_r − E_0, the paired
   control's prediction, on the planted term), the noise floor (the r = 0 run's test
   energy MAE), and the issue's checks.

**The shipped recipe** (``--finetune-from PLAIN.pt``, e.g. ``assets/checkpoints/baseline.pt``):
instead of step 3, a zero-initialised memory of ``--variant`` is attached to the plain
checkpoint and only the memory is fine-tuned, as ``gate.pt`` was made: per data order in
``--seeds`` a control on the unplanted labels and, per motif and strength, a run on a copy
carrying that one term; ``--jobs`` fine-tunes at a time (``benchmarks/planted_finetune.py``;
``summary`` is then per data order; ``--seed`` and ``--baseline-strengths`` do not apply:
the baseline is the frozen start). The reading of docs/PLANTED.md in one command::

    python benchmarks/planted.py --finetune-from assets/checkpoints/baseline.pt \
        --seeds 0 --strengths 1 --steps 1000 --threads 1 --jobs 2 \
        --triplet-elements Zn,O,Zn --triplet-centre 125 --triplet-envelope flat \
        --json benchmarks/results/planted_shipped.json --work runs/planted_shipped \
        pamm.triplet_cutoff=3.0 table_lr_factor=10

Resumable: every finished stage (calibration, each run's training, scoring and recovery)
is written atomically to the JSON at once, a rerun skips what is there (the JSON's
``config`` must match; strengths may be added). Trained runs live under ``--work``.

**Budget.** Measured 2026-12-02 on the 2-core machine while the oxide generation ran
(load ≈ 4-5; OMP_NUM_THREADS=1, nice 15), on a 3.4k-structure oxide development set,
``--strengths 1 --steps 40 --eval-structures 32 --top-n 10``: training 3.4-4.5 s/step plus
≈ 60 s per run (references, fairchem start-up, validation); planting ≈ 33 ms per structure
(both motifs, one strength, written); recovery of both motifs 76-116 s per run on 37
structures; 760 s in all. The defaults (6 runs x 300 steps, the comparison table's recipe;
planting once per structure for all strengths, ≈ 5k structures; recovery on ≈ 70 structures
with 20 + 4 candidates, ≈ 4 min per memory run at that load) extrapolate to ≈ 50-65 min on
an idle machine with ``--threads 2`` (≈ 1 s/step: the field notes' 0.6 s/step for 112
atoms, here ≈ 140 atoms per batch, and the smooth memory's 1.12x).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from pamm.data.planted import ENVELOPES, PlantedMotif, plant_datasets, planted_labels  # noqa: E402
from pamm.plumbing import atomic_write_json  # noqa: E402

SCHEMA = "pamm-planted/1"
SPLITS = ("train", "val", "test")
#: the planted motifs at ε = 1 eV (scaled per strength); names are the summary's keys
MOTIFS = {
    "pair": PlantedMotif("pair", ("O", "Si"), centre=1.65, half_width=0.05, strength=1.0),
    "triplet": PlantedMotif("triplet", ("Ti", "O", "Ti"), centre=105.0, half_width=5.0,
                            strength=1.0),
}  # fmt: skip
#: config keys a resumed JSON must share (strengths may differ: runs are keyed by r)
FIXED = ("data", "variant", "steps", "seed", "batch_size", "lr", "eval_structures",
         "min_with_motif", "calibration_structures", "top_n", "replace", "overrides",
         "motifs", "finetune_from")  # fmt: skip


def tag(r: float) -> str:
    """Run/dataset tag of a relative strength.

    >>> tag(0.2), tag(1.0), tag(0.0)
    ('r0.2', 'r1', 'r0')
    """
    return f"r{r:g}"


def set_threads(threads: int) -> None:
    """``--threads`` > 0: torch and OpenMP use that many (every planted_* script)."""
    if threads:
        import torch

        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)


def _save(args, result: dict) -> None:
    atomic_write_json(args.json, result, indent=1)


# --- calibration and the held-out set ---------------------------------------------------
def calibrate(frames: list, motifs: dict[str, PlantedMotif]) -> dict:
    """σ_E (meV/atom, composition-fit residual std) and per motif u (module docstring),
    and the RMS planted force component at ε = 1 eV (atoms of structures holding it)."""
    zs = sorted({int(z) for a in frames for z in a.numbers})
    counts = np.array([[np.sum(a.numbers == z) for z in zs] for a in frames], float)  # [S, Z]
    energy = np.array([a.get_potential_energy() for a in frames])  # [S]
    natoms = counts.sum(1)
    fit = np.linalg.lstsq(counts, energy, rcond=None)[0]
    spread = float(np.std((energy - counts @ fit) / natoms) * 1000.0)
    out = {"n_structures": len(frames), "energy_spread_mev_per_atom": spread, "motifs": {}}
    for name, motif in motifs.items():
        terms = [planted_labels(a, motif) for a in frames]
        e = np.array([t[0] for t in terms]) / natoms * 1000.0  # [S] meV/atom
        has = e != 0
        if not has.any():
            raise ValueError(f"motif {name} {motif} never occurs in the calibration structures")
        f = np.concatenate([t[1].reshape(-1) for t, h in zip(terms, has, strict=True) if h])
        out["motifs"][name] = {
            "fraction_with_motif": float(has.mean()),
            "unit_mev_per_atom_rms": float(np.sqrt(np.mean(e[has] ** 2))),
            "unit_force_rms_ev_per_a": float(np.sqrt(np.mean(f**2))),
        }
    return out


def epsilon(calibration: dict, name: str, r: float) -> float:
    """ε (eV) of motif ``name`` at relative strength ``r``."""
    unit = calibration["motifs"][name]["unit_mev_per_atom_rms"]
    return r * calibration["energy_spread_mev_per_atom"] / unit


def motifs_of(config: dict) -> dict[str, PlantedMotif]:
    """The planted motifs (at ε = 1 eV) a run's config records; ``MOTIFS`` if none."""
    recorded = config.get("motifs")
    if not recorded:
        return dict(MOTIFS)
    return {k: PlantedMotif.from_dict(v) for k, v in recorded.items()}


def planted_motifs(calibration: dict, r: float, motifs: dict[str, PlantedMotif]) -> list:
    """The ``motifs`` at relative strength ``r``, in their order."""
    return [m.scaled(epsilon(calibration, k, r)) for k, m in motifs.items()]


def eval_set(test: list, motifs: dict[str, PlantedMotif], n: int, min_with: int) -> dict:
    """Indices into ``test``: the first ``n``, then structures holding a motif that has
    fewer than ``min_with`` occurrences, in stored order; with per-structure unit energies."""
    unit = {k: np.array([planted_labels(a, m)[0] for a in test]) for k, m in motifs.items()}
    chosen = list(range(min(n, len(test))))
    for k in motifs:
        for i in range(len(test)):
            if sum(unit[k][j] != 0 for j in chosen) >= min_with:
                break
            if i not in chosen and unit[k][i] != 0:
                chosen.append(i)
    return {
        "split": "test",
        "index": chosen,
        "sid": [str(test[i].info.get("sid", i)) for i in chosen],
        "natoms": [len(test[i]) for i in chosen],
        "unit_planted_ev": {k: [float(v[i]) for i in chosen] for k, v in unit.items()},
        "n_with_motif": {k: int(sum(v[i] != 0 for i in chosen)) for k, v in unit.items()},
    }


# --- one run: train, score, recover -----------------------------------------------------
def _train(args, data: Path, variant: str, name: str) -> Path:
    from pamm.train import (
        config_path,
        find_checkpoint,
        fit_references,
        run_fairchem,
        training_overrides,
    )

    run_dir = args.work / "runs" / name
    try:
        return find_checkpoint(run_dir, name)
    except FileNotFoundError:
        shutil.rmtree(run_dir, ignore_errors=True)  # a run cut short starts over
    run_dir.mkdir(parents=True)
    overrides = [
        *training_overrides(data_dir=data, run_dir=run_dir, steps=args.steps, seed=args.seed,
                            timestamp_id=name, references=fit_references(data / "train")),
        f"batch_size={args.batch_size}", f"lr={args.lr}", "max_eval_steps=5",
        f"checkpoint_every={10 * args.steps}", *args.overrides,
    ]  # fmt: skip
    log = run_dir / "train.log"
    print(f"planted: training {name} ({args.steps} steps), log {log}", flush=True)
    sys.stdout.flush()
    result = run_fairchem(config_path(variant), overrides, log=log)
    if result.returncode != 0:
        raise RuntimeError(f"fairchem failed for {name}; see {log}")
    return find_checkpoint(run_dir, name)


def _score(checkpoint: Path, planted: list, unplanted: list) -> dict:
    """Test errors against planted and unplanted labels, and the predicted energies."""
    from pamm.evaluate import load_predictor, structure_errors, summarize

    predictor = load_predictor(checkpoint)
    out = {}
    for labels, frames in (("planted", planted), ("unplanted", unplanted)):
        rows = structure_errors(predictor, frames)
        out[f"test_{labels}_labels"] = {
            k: v for k, v in summarize(rows)["overall"].items() if k != "n_atoms"
        }
        if labels == "planted":
            out["energy_pred_ev"] = rows["energy_pred"].round(6).tolist()
    return out


def _recover(
    args, checkpoint: Path, frames: list, strengths: dict[str, float], motifs: dict
) -> dict:
    from analysis.ablation_effects import predict
    from analysis.attribution import bucket_attribution
    from analysis.recovery import motif_recovery
    from pamm.capture import find_pamm_backbone
    from pamm.plumbing import load_checked_model

    model = load_checked_model(checkpoint)
    per = bucket_attribution(model, frames, replace=args.replace, forces=False)
    reference = predict(model, frames)
    memory = find_pamm_backbone(model).motif_memory
    out = {}
    for name, motif in motifs.items():
        if getattr(memory, f"{motif.kind}_table") is None:  # e.g. pair_only: nothing to rank
            out[name] = {"skipped": f"the model has no {motif.kind} table"}
            continue
        rec = motif_recovery(
            model, frames, motif.scaled(strengths[name]), top_n=args.top_n,
            replace=args.replace, per_structure=per, reference=reference,
        )  # fmt: skip
        top = rec.buckets.head(5)[["head", "bucket", "abs_d_energy", "exact_abs_d_energy"]]
        out[name] = rec.metrics | {
            "removed_ev_per_structure": rec.structures["removed_ev"].round(8).tolist(),
            "top_buckets": top.round(6).to_dict("records"),
        }
    return out


def run_one(args, result: dict, name: str, variant: str, r: float, test: list) -> None:
    """Train, score and (memory variants) recover one run; saved after each stage."""
    from pamm.data.planted import plant

    motifs = motifs_of(result["config"])
    strengths = {k: epsilon(result["calibration"], k, r) for k in motifs}
    data = args.work / "data" / tag(r) if r > 0 else args.data
    run = result["runs"].setdefault(name, {"variant": variant, "relative_strength": r,
                                           "epsilon_ev": strengths})  # fmt: skip
    frames = [test[i] for i in result["eval"]["index"]]
    if "test_planted_labels" not in run:
        start = time.time()
        checkpoint = _train(args, data, variant, name)
        run |= {"checkpoint": str(checkpoint), "train_wall_s": round(time.time() - start, 1)}
        planted = plant(frames, planted_motifs(result["calibration"], r, motifs)) if r else frames
        run |= _score(checkpoint, planted, frames)
        _save(args, result)
    if variant != "baseline" and "recovery" not in run:
        start = time.time()
        run["recovery"] = _recover(args, Path(run["checkpoint"]), frames, strengths, motifs)
        run["recovery_wall_s"] = round(time.time() - start, 1)
        _save(args, result)


# --- summary ------------------------------------------------------------------------------
def _slope(y: np.ndarray, x: np.ndarray) -> float | None:
    """Least-squares slope through 0 of y on x (None when x vanishes)."""
    denom = float(x @ x)
    return float(x @ y / denom) if denom > 0 else None


def summarise_runs(result: dict, variant: str) -> dict:
    """Per motif and strength: ranks, removal, captured fraction; the issue's checks."""
    runs, ev = result["runs"], result["eval"]
    natoms = np.array(ev["natoms"], float)
    control = runs.get(f"{variant}_{tag(0)}")
    floor = control["test_unplanted_labels"]["energy_mae_mev_per_atom"] if control else None
    f_floor = control["test_unplanted_labels"]["force_mae_mev_per_a"] if control else None
    out = {"noise_floor_mev_per_atom": floor, "noise_floor_force_mev_per_a": f_floor,
           "motifs": {}, "baseline": []}  # fmt: skip
    unit_f = {k: v["unit_force_rms_ev_per_a"] for k, v in result["calibration"]["motifs"].items()}
    strengths = sorted({r["relative_strength"] for r in runs.values()}, reverse=True)

    def captured(k: str, run: dict) -> float | None:
        base = runs.get(f"{run['variant']}_{tag(0)}")
        if base is None or "energy_pred_ev" not in base or run["relative_strength"] == 0:
            return None
        p = np.array(ev["unit_planted_ev"][k]) * run["epsilon_ev"][k]
        d = np.array(run["energy_pred_ev"]) - np.array(base["energy_pred_ev"])
        return _slope(d, p)

    for k in MOTIFS:
        rows = []
        for r in strengths:
            run = runs.get(f"{variant}_{tag(r)}")
            if run is None or "recovery" not in run:
                continue
            rec = run["recovery"].get(k)
            if rec is None or "skipped" in rec:  # not planted here, or no table for it
                continue
            unit = np.array(ev["unit_planted_ev"][k])
            has = unit != 0
            rms = float(
                np.sqrt(np.mean((1000 * unit[has] * run["epsilon_ev"][k] / natoms[has]) ** 2))
            )
            row = {
                "relative_strength": r,
                "epsilon_ev": run["epsilon_ev"][k],
                "planted_mev_per_atom_rms": rms,
                "below_noise_floor": None if floor is None else rms < floor,
                "planted_force_rms_mev_per_a": 1000 * unit_f[k] * run["epsilon_ev"][k],
                **{m: rec[m] for m in ("rank_attribution", "rank_attribution_total",
                                       "rank_exact", "rank_gate", "n_occupied_buckets",
                                       "n_with_motif", "removal_ratio", "removal_ratio_keys")},
            }  # fmt: skip
            ctrl = (control or {}).get("recovery", {}).get(k)
            if ctrl and "skipped" not in ctrl and rec["planted_energy_ev"]:
                net = rec["removed_energy_ev"] - ctrl["removed_energy_ev"]
                row["removal_ratio_net"] = net / rec["planted_energy_ev"]
            row["captured_fraction"] = captured(k, run)
            rows.append(row)
        out["motifs"][k] = rows
    for name, run in sorted(runs.items()):
        if run["variant"] == "baseline":
            out["baseline"].append({
                "run": name, "relative_strength": run["relative_strength"],
                "test_planted_labels": run.get("test_planted_labels"),
                "test_unplanted_labels": run.get("test_unplanted_labels"),
                "captured_fraction": {k: captured(k, run) for k in MOTIFS},
            })  # fmt: skip
    out["checks"] = checks(out["motifs"])
    return out


def checks(motifs: dict) -> dict:
    """The issue's must-shows, True/False/None (not run) per motif."""
    out = {}
    for k, rows in motifs.items():
        planted = [r for r in rows if r["relative_strength"] > 0]
        control = [r for r in rows if r["relative_strength"] == 0]
        top = planted[0] if planted else None
        ranks = ("rank_attribution", "rank_exact", "rank_gate")
        out[k] = {
            "largest_rank1_attribution_and_exact": None if top is None else
            top["rank_attribution"] == 1 and top["rank_exact"] == 1,
            "largest_removal_50_150_percent": None if top is None or top["removal_ratio"] is None
            else 0.5 <= top["removal_ratio"] <= 1.5,
            "control_never_top10": None if not control else
            all(control[0][m] is None or control[0][m] > 10 for m in ranks),
            "smallest_strength_ranks": None if not planted else
            {m: planted[-1][m] for m in ranks},
        }  # fmt: skip
    return out


# --- main ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "assets" / "data")
    parser.add_argument(
        "--json", type=Path, default=ROOT / "benchmarks" / "results" / "planted.json"
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/pamm_planted"))
    parser.add_argument("--strengths", default="1,0.2,0.02", help="relative strengths r > 0")
    parser.add_argument("--baseline-strengths", default="max,0", help="'max', '0', r values or ''")
    parser.add_argument("--variant", default="gate")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--eval-structures", type=int, default=64)
    parser.add_argument("--min-with-motif", type=int, default=12)
    parser.add_argument("--calibration-structures", type=int, default=1000)
    parser.add_argument("--top-n", type=int, default=20)
    parser.add_argument("--replace", choices=("zero", "mean"), default="zero")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument(
        "--triplet-envelope",
        choices=ENVELOPES,
        default="poly",
        help="radial weight of the planted triplet's partners (pamm.data.planted)",
    )
    parser.add_argument("--triplet-cutoff", type=float, default=3.0, help="its r_c (Å)")
    parser.add_argument(
        "--triplet-elements", default="Ti,O,Ti", help="the planted triplet Zj,Zi,Zk (Zi centre)"
    )
    parser.add_argument(
        "--triplet-centre", type=float, default=105.0, help="its bump centre (degrees)"
    )
    parser.add_argument(
        "--finetune-from", type=Path,
        help="a plain checkpoint: the shipped recipe instead of training (planted_finetune)",
    )  # fmt: skip
    parser.add_argument("--seeds", default="0", help="--finetune-from: the data orders")
    parser.add_argument("--jobs", type=int, default=2, help="--finetune-from: runs at a time")
    parser.add_argument("overrides", nargs="*", help="extra fairchem key=value overrides")
    args = parser.parse_args(argv)
    strengths = sorted({float(x) for x in args.strengths.split(",") if x}, reverse=True)
    if not strengths or min(strengths) <= 0 or args.steps <= 0:
        parser.error("--strengths must list values > 0 and --steps must be > 0")
    try:
        seeds = sorted({int(x) for x in args.seeds.split(",") if x})
    except ValueError:
        parser.error(f"--seeds must list integers, got {args.seeds!r}")
    if args.finetune_from and not (args.finetune_from.is_file() and seeds and args.jobs > 0):
        parser.error("--finetune-from needs an existing checkpoint, --seeds and --jobs > 0")
    if args.variant == "baseline":
        parser.error("--variant must have a memory (the baseline runs via --baseline-strengths)")
    base = [strengths[0] if x == "max" else float(x)
            for x in args.baseline_strengths.split(",") if x]  # fmt: skip
    if any(r != 0 and r not in strengths for r in base):
        parser.error("--baseline-strengths must be 'max', 0 or values of --strengths")
    motifs = dict(MOTIFS)
    try:
        motifs["triplet"] = replace(
            motifs["triplet"], envelope=args.triplet_envelope, cutoff=args.triplet_cutoff,
            elements=tuple(args.triplet_elements.split(",")), centre=args.triplet_centre,
        )  # fmt: skip
    except ValueError as err:
        parser.error(f"--triplet-elements/--triplet-centre: {err}")
    set_threads(args.threads)
    from pamm.evaluate import read_split
    from pamm.train import check_split_dir

    for split in SPLITS:
        check_split_dir(args.data / split)
    config = {"data": str(args.data.resolve()), "variant": args.variant, "steps": args.steps,
              "seed": args.seed, "batch_size": args.batch_size, "lr": args.lr,
              "eval_structures": args.eval_structures, "min_with_motif": args.min_with_motif,
              "calibration_structures": args.calibration_structures, "top_n": args.top_n,
              "replace": args.replace, "overrides": args.overrides,
              "motifs": {k: m.to_dict() for k, m in motifs.items()},
              "finetune_from": args.finetune_from and str(args.finetune_from.resolve()),
              }  # fmt: skip
    config = json.loads(json.dumps(config))
    result = json.loads(args.json.read_text()) if args.json.is_file() else {}
    if result:  # motifs recorded before a field existed read back with its default
        recorded = {k: m.to_dict() for k, m in motifs_of(result["config"]).items()}
        result["config"]["motifs"] = json.loads(json.dumps(recorded))
    if result and {k: result["config"].get(k) for k in FIXED} != {k: config[k] for k in FIXED}:
        print(f"planted: {args.json} was made with another config; use another --json")
        return 2
    result = {"schema": SCHEMA, "config": config, "datasets": {}, "runs": {}} | result
    result["config"]["strengths"] = sorted(
        set(result["config"].get("strengths", [])) | set(strengths), reverse=True
    )
    if args.finetune_from:  # data orders may be added too: runs are keyed by seed
        result["config"]["seeds"] = sorted(set(result["config"].get("seeds", [])) | set(seeds))
    start = time.time()
    if "calibration" not in result:
        frames = read_split(args.data / "train", limit=args.calibration_structures)
        result["calibration"] = calibrate(frames, motifs)
        _save(args, result)
    test = read_split(args.data / "test")
    if "eval" not in result:
        result["eval"] = eval_set(test, motifs, args.eval_structures, args.min_with_motif)
        _save(args, result)
    if args.finetune_from:
        from benchmarks import planted_finetune

        failed = planted_finetune.run_all(args, result, lambda: _save(args, result))
        result["summary"] = planted_finetune.summarise(result)
        result["wall_s_last_invocation"] = round(time.time() - start, 1)
        _save(args, result)
        print(json.dumps(result["summary"], indent=1))
        return 1 if failed else 0
    copies = {args.work / "data" / tag(r): planted_motifs(result["calibration"], r, motifs)
              for r in strengths}  # fmt: skip
    records = plant_datasets(args.data, copies, splits=SPLITS)
    for r in strengths:
        path = args.work / "data" / tag(r)
        result["datasets"][tag(r)] = {"path": str(path), **records[path]}
    _save(args, result)
    plan = [(f"{args.variant}_{tag(r)}", args.variant, r) for r in [*strengths, 0.0]]
    plan += [(f"baseline_{tag(r)}", "baseline", r) for r in sorted(set(base), reverse=True)]
    failed = []
    for name, variant, r in plan:
        try:
            run_one(args, result, name, variant, r, test)
        except Exception as err:  # keep going; report at the end
            print(f"planted: {name} FAILED: {type(err).__name__}: {err}", flush=True)
            failed.append(name)
    result["summary"] = summarise_runs(result, args.variant)
    result["wall_s_last_invocation"] = round(time.time() - start, 1)
    _save(args, result)
    print(json.dumps(result["summary"]["checks"], indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
