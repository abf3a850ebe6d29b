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

SPLIT = ROOT / "assets" / "data" / "test"


def _main(*parts: str | Path) -> None:
    """``main`` on ``parts`` (strings split at spaces, paths kept whole); torch's thread count
    restored after."""
    argv = [w for p in parts for w in ([str(p)] if isinstance(p, Path) else p.split())]
    threads = torch.get_num_threads()
    try:
        main(argv)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_overhead_json_is_complete_and_consistent(tmp_path: Path) -> None:
    out = tmp_path / "overhead.json"
    _main(
        "--json",
        out,
        "--rounds 1 --structures 2 --atoms 4 --big-structures 3 --threads 1 --layers 1",
    )
    result = json.loads(out.read_text())
    steps = result["step_s"]
    assert set(steps) == {"baseline", "gate_hard", "gate_smooth", "affine_hard", "affine_smooth"}
    for name in ("gate_hard", "gate_smooth", "affine_hard", "affine_smooth"):
        ratio = result[f"step_ratio_{name}"]
        assert math.isfinite(ratio) and ratio > 0, name
        assert math.isclose(ratio, steps[name] / steps["baseline"])
        # the memory adds parameters; the baseline has none of them
        assert result["params"][name] > result["params"]["baseline"]
    keys = result["keys"]
    for lookup in ("hard", "smooth"):
        got = keys[lookup]
        assert got["triplets"] > 0 and got["spec"]["lookup"] == lookup
        assert math.isclose(got["triplets_per_s"], got["triplets"] / got["extract_hash_s"])
    # no K cap with smooth lookups: at least as many triplets as the hard rule
    assert keys["smooth"]["triplets"] >= keys["hard"]["triplets"]
    assert result["config"]["num_layers"] == 1


@pytest.mark.slow
def test_overhead_on_batches_of_a_dataset_split(tmp_path: Path) -> None:
    from benchmarks.overhead import _batches

    out = tmp_path / "overhead.json"
    _main(
        "--json", out, "--data", SPLIT,
        "--rounds 1 --structures 2 --lookups smooth --big-structures 3 --threads 1 --layers 1",
    )  # fmt: skip
    result = json.loads(out.read_text())
    assert result["config"]["data"] == str(SPLIT)
    assert set(result["step_s"]) == {"baseline", "gate_smooth", "affine_smooth"}
    batches = _batches(3, 2, 14, SPLIT)  # the rounds' batches: 1 timed + 2 warm-up
    sizes = sorted(sum(len(a) for a in b) for b in batches)
    assert result["atoms_per_batch"] == sizes[1]  # median of the split's batches
    assert all(a.info["sid"] for b in batches for a in b)
    with pytest.raises(ValueError, match="fewer than"):
        _batches(1, 10_000, 14, SPLIT)


@pytest.mark.slow
def test_peak_memory_child_trains_on_the_split(capsys: pytest.CaptureFixture[str]) -> None:
    args = ("--peak-of gate_smooth --lookups smooth --layers 1 --threads 1 --data", SPLIT)
    _main(*args, "--structures 2 --memory-steps 1")
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["peak_rss_mb"] >= out["built_rss_mb"] > 0
    with pytest.raises(ValueError, match="fewer than"):  # its batches do come from the split
        _main(*args, "--structures 10000 --memory-steps 1")
