"""benchmarks/compare_diagnose.py on hand-made checkpoints whose table changes are known."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from benchmarks.compare_diagnose import diagnose, main
from pamm.checkpoint import attach_pamm, build_model, save_checkpoint
from pamm.testing import randomize_memory, tiny_plain_checkpoint

DATA = Path(__file__).resolve().parents[2] / "assets" / "data"


def _doubled_pair_rows_run(root: Path, lookup: str) -> Path:
    """A gate run whose step-0 and final checkpoints differ by every pair row doubled."""
    spec = {"fusion": "gate", "lookup": lookup, "pair_buckets": 64, "triplet_buckets": 128}
    ckpt = attach_pamm(tiny_plain_checkpoint(), spec)
    model = build_model(ckpt)
    randomize_memory(model, scale=1.0)  # gates spread over (0, 1)
    states = {}
    for step, factor in (("step_0", 1.0), ("final", 2.0)):  # final: every pair row doubled
        with torch.no_grad():
            model.backbone.motif_memory.pair_table.mul_(factor)
        ckpt.model_state_dict = model.state_dict()
        ckpt.ema_state_dict = torch.optim.swa_utils.AveragedModel(model).state_dict()
        states[step] = save_checkpoint(ckpt, root / step / "inference_ckpt.pt")
    return states["final"]


@pytest.mark.parametrize("lookup", ["hard", "smooth"])
def test_moved_rows_and_gate_selectivity(tmp_path, lookup) -> None:
    final = _doubled_pair_rows_run(tmp_path / "checkpoints", lookup)
    record = {"checkpoint": str(final), "variant": "gate", "seed": 0}
    out = diagnose(record, DATA / "train", 8)
    assert out["pair_hit_rows_moved_over_half"] == 1.0
    assert out["pair_rel_change_hit_rows"] == pytest.approx(1.0, rel=1e-5)
    assert out["triplet_hit_rows_moved_over_half"] == 0.0
    assert out["triplet_rel_change_hit_rows"] == pytest.approx(0.0, abs=1e-7)
    assert 0.0 < out["pair_rows_hit_frac"] <= 1.0
    # the per-edge gate is a mean over channels: random weights keep it near 0.5
    assert 0.0 <= out["gate_frac_below_0.2"] + out["gate_frac_above_0.8"] <= 1.0
    assert out["gate_std"] > 0.0 and out["gate_per_motif_std"] > 0.0
    assert out["W_v_fro"] > 0.0


def test_main_merges_and_keeps_runs_whose_checkpoint_is_gone(tmp_path) -> None:
    final = _doubled_pair_rows_run(tmp_path / "checkpoints", "smooth")
    out = tmp_path / "results"
    (out / "runs").mkdir(parents=True)
    records = {
        "gate_s0": str(final),
        "gate_s1": str(tmp_path / "gone" / "inference_ckpt.pt"),  # an earlier session's /tmp
        "baseline_s0": str(final),  # no memory: never diagnosed
    }
    for name, checkpoint in records.items():
        variant, seed = name.rsplit("_s", 1)
        record = {"checkpoint": checkpoint, "variant": variant, "seed": int(seed)}
        (out / "runs" / f"{name}.json").write_text(json.dumps(record))
    earlier = [{"run": "gate_s0", "stale": True}, {"run": "gate_s1", "stale": True}]
    (out / "diagnostics.json").write_text(json.dumps(earlier))
    assert main(["--out", str(out), "--data", str(DATA), "--structures", "8"]) == 0
    merged = {d["run"]: d for d in json.loads((out / "diagnostics.json").read_text())}
    assert sorted(merged) == ["gate_s0", "gate_s1"]
    assert merged["gate_s1"] == {"run": "gate_s1", "stale": True}
    assert "stale" not in merged["gate_s0"]
    assert merged["gate_s0"]["pair_hit_rows_moved_over_half"] == 1.0
