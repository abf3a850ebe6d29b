"""Why does (or doesn't) the memory help? Table use, gate saturation, how far the tables moved.

    python benchmarks/compare_diagnose.py --out benchmarks/results   # every finished memory run
    python benchmarks/compare_diagnose.py --runs gate_s0,affine_s0    # just these

For each finished run of ``benchmarks/compare.py`` (its record names the checkpoint; the
step-0 checkpoint beside it holds the initial weights) on ``--structures`` training
structures: fraction of table rows hit and motifs per hit row, the per-edge gate mean
(saturation; selectivity = shares of edges with g < 0.2 and > 0.8; the spread of the
per-motif mean gate), the relative change of hit and un-hit table rows since step 0 and the
share of hit rows that moved more than 50 % of their initial norm, and the norms of the
zero-initialised fusion weights (W_v, W_gamma). Merges into ``OUT/diagnostics.json``: runs
whose checkpoint is gone (the work dir lives in /tmp) keep their earlier entry.
With smooth lookups both blend slots of an edge count as hit rows (``*_lookups`` then
counts slots). ``diagnose(record, ...)`` takes any record with ``checkpoint``, ``variant``
and ``seed`` (e.g. a learning-curve run's final checkpoint with ``step_0`` beside it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.compare import _write_json  # noqa: E402

NO_MEMORY = ("baseline", "mlp")  # variants without tables or gates: nothing to diagnose


def _state(checkpoint: Path) -> dict[str, torch.Tensor]:
    from pamm.train import load_trained_checkpoint

    ckpt = load_trained_checkpoint(checkpoint)
    state = ckpt.ema_state_dict or ckpt.model_state_dict
    return {k.removeprefix("module."): v for k, v in state.items() if torch.is_tensor(v)}


def _find(state: dict[str, torch.Tensor], suffix: str) -> torch.Tensor | None:
    hits = [v for k, v in state.items() if k.endswith(suffix)]
    return hits[0].float() if hits else None


def diagnose(record: dict, train_dir: Path, n_structures: int) -> dict:
    """Diagnostics of one run record (see module docstring)."""
    from fairchem.core.datasets.atomic_data import AtomicData
    from fairchem.core.datasets.collaters.simple_collater import data_list_collater

    from pamm.capture import capture
    from pamm.evaluate import load_predictor, read_split

    final = Path(record["checkpoint"])
    start = final.parents[1] / "step_0" / final.name
    predictor = load_predictor(final)
    structures = read_split(train_dir, limit=n_structures)
    pair, trip, gates, pair_keys = [], [], [], []
    with capture(predictor.model.module) as cap:
        for k in range(0, len(structures), 8):
            data = [AtomicData.from_ase(a, task_name="omat") for a in structures[k : k + 8]]
            predictor.predict(data_list_collater(data, otf_graph=True))
    for rec in cap.records:
        if rec.pair_bucket is not None:
            pair.append(rec.pair_bucket)
            pair_keys.append(rec.keys.pair_key)
        if rec.triplet_bucket is not None:
            trip.append(rec.triplet_bucket)
        gates.append(rec.gate_mean)
    gate = torch.cat(gates).float()  # [E]
    out: dict = {
        "run": f"{record['variant']}_s{record['seed']}",
        "structures": len(structures),
        "gate_mean": float(gate.mean()),
        "gate_std": float(gate.std()),
        "gate_frac_below_0.05": float((gate < 0.05).float().mean()),
        "gate_frac_above_0.95": float((gate > 0.95).float().mean()),
        # selectivity: edges whose gate is decidedly shut or open
        "gate_frac_below_0.2": float((gate < 0.2).float().mean()),
        "gate_frac_above_0.8": float((gate > 0.8).float().mean()),
    }
    if pair_keys:  # spread of the per-motif mean gate (pair motifs seen >= 10 times)
        keys = torch.cat(pair_keys)
        uniq, inv, counts = keys.unique(return_inverse=True, return_counts=True)
        means = torch.zeros(len(uniq)).index_add(0, inv, gate) / counts
        common = means[counts >= 10]
        out["gate_per_motif_std"] = float(common.std()) if len(common) > 1 else 0.0
        out["gate_per_motif_p5_p95"] = (
            [float(x) for x in torch.quantile(common, torch.tensor([0.05, 0.95]))]
            if len(common) > 1
            else []
        )
    s0, s1 = _state(start), _state(final)
    for name, buckets in (("pair", pair), ("triplet", trip)):
        if not buckets:
            continue
        b = torch.cat(buckets)  # [E or T, H] (hard), [E or T, 2, H] (smooth: both blend slots)
        b = b.reshape(-1, b.shape[-1])  # [lookups, H]
        t0, t1 = _find(s0, f"{name}_table"), _find(s1, f"{name}_table")  # [H, M, D]
        heads, rows = t1.shape[:2]
        hit = torch.zeros(heads, rows, dtype=torch.bool)
        for h in range(heads):
            hit[h, b[:, h].unique()] = True
        delta = (t1 - t0).norm(dim=-1) / t0.norm(dim=-1).clamp_min(1e-12)  # [H, M]
        out[f"{name}_rows_hit_frac"] = float(hit.float().mean())
        out[f"{name}_lookups"] = int(b.shape[0])
        out[f"{name}_rel_change_hit_rows"] = float(delta[hit].mean())
        out[f"{name}_rel_change_unhit_rows"] = float(delta[~hit].mean()) if (~hit).any() else 0.0
        out[f"{name}_hit_rows_moved_over_half"] = float((delta[hit] > 0.5).float().mean())
    if pair_keys:
        keys = torch.cat(pair_keys)
        out["pair_distinct_keys"] = int(keys.unique().numel())
    for label, suffix in (("W_v", "value.weight"), ("W_gamma", "scale.weight")):
        w = _find(s1, suffix)
        if w is not None:
            out[f"{label}_fro"] = float(w.norm())
    return out


def _pending_runs(out: Path, names: str) -> list[dict]:
    """Records to diagnose: ``names`` (comma-separated) or ``all`` finished memory runs."""
    if names != "all":
        return [json.loads((out / "runs" / f"{n}.json").read_text()) for n in names.split(",")]
    records = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]
    return [r for r in records if r["variant"] not in NO_MEMORY]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--data", type=Path, default=ROOT / "assets" / "data")
    parser.add_argument(
        "--runs", default="all", help="comma-separated run names, or 'all' finished memory runs"
    )
    parser.add_argument("--structures", type=int, default=64)
    args = parser.parse_args(argv)
    target = args.out / "diagnostics.json"
    # merge: entries of runs whose checkpoints are gone (an earlier session's /tmp) are kept
    merged = {d["run"]: d for d in (json.loads(target.read_text()) if target.exists() else [])}
    for record in _pending_runs(args.out, args.runs):
        name = f"{record['variant']}_s{record['seed']}"
        if not Path(record["checkpoint"]).exists():
            print(
                f"diagnose: {name}: checkpoint {record['checkpoint']} is gone, "
                + ("keeping its earlier entry" if name in merged else "skipped")
            )
            continue
        merged[name] = diagnose(record, args.data / "train", args.structures)
        print(json.dumps(merged[name], indent=1))
    _write_json(target, [merged[k] for k in sorted(merged)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
