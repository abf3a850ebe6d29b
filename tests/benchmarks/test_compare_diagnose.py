"""benchmarks/compare_diagnose.py on hand-made checkpoints whose table changes are known."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmarks.compare_diagnose import diagnose
from pamm.checkpoint import attach_pamm, build_model, save_checkpoint
from pamm.testing import randomize_memory, tiny_plain_checkpoint

DATA = Path(__file__).resolve().parents[2] / "assets" / "data"


@pytest.mark.parametrize("lookup", ["hard", "smooth"])
def test_moved_rows_and_gate_selectivity(tmp_path, lookup) -> None:
    spec = {"fusion": "gate", "lookup": lookup, "pair_buckets": 64, "triplet_buckets": 128}
    ckpt = attach_pamm(tiny_plain_checkpoint(), spec)
    model = build_model(ckpt)
    randomize_memory(model, scale=1.0)  # gates spread over (0, 1)
    root = tmp_path / "checkpoints"
    states = {}
    for step, factor in (("step_0", 1.0), ("final", 2.0)):  # final: every pair row doubled
        with torch.no_grad():
            model.backbone.motif_memory.pair_table.mul_(factor)
        ckpt.model_state_dict = model.state_dict()
        ckpt.ema_state_dict = torch.optim.swa_utils.AveragedModel(model).state_dict()
        states[step] = save_checkpoint(ckpt, root / step / "inference_ckpt.pt")
    record = {"checkpoint": str(states["final"]), "variant": "gate", "seed": 0}
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
