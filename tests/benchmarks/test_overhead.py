"""benchmarks/overhead.py at toy size: the JSON it promises, and numbers that agree."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.overhead import main  # noqa: E402


@pytest.mark.slow
def test_overhead_json_is_complete_and_consistent(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    out = tmp_path / "overhead.json"
    try:
        args = ["--json", str(out), "--rounds", "1", "--structures", "2", "--atoms", "4"]
        main([*args, "--big-structures", "3", "--threads", "1", "--layers", "1"])
    finally:
        torch.set_num_threads(threads)
    result = json.loads(out.read_text())
    for key in ("step_ratio_gate", "step_ratio_affine", "triplets_per_s"):
        assert math.isfinite(result[key]) and result[key] > 0, key
    steps = result["step_s"]
    assert math.isclose(result["step_ratio_gate"], steps["gate"] / steps["baseline"])
    assert result["triplets"] > 0
    assert math.isclose(result["triplets_per_s"], result["triplets"] / result["extract_hash_s"])
    # the memory adds parameters; the baseline has none of them
    assert result["params"]["gate"] > result["params"]["baseline"]
    assert result["config"]["num_layers"] == 1
