"""benchmarks/scale_data.py + census_scale.py at toy size: the data they promise, a JSON whose
numbers agree, the 2-process census equal to the 1-process one, and resuming."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from analysis.census import Census  # noqa: E402
from analysis.data import StructureSource  # noqa: E402
from benchmarks import census_scale, scale_data  # noqa: E402


def test_scale_data_copies_rattle_and_keep_families(tmp_path: Path, tiny_dataset) -> None:
    src = tiny_dataset(tmp_path / "tiny.extxyz", n=6, seed=2)
    out = tmp_path / "scale"
    assert scale_data.main([str(out), "--structures", "15", "--shard-size", "5",
                            "--data", str(src)]) == 0  # fmt: skip
    shards = sorted(p.name for p in out.glob("*.aselmdb"))
    assert shards == ["data.0000.aselmdb", "data.0001.aselmdb", "data.0002.aselmdb"]
    scaled, original = StructureSource.open(out), StructureSource.open(src)
    assert len(scaled) == 15
    for i in (0, 6, 13):  # frame i % 6, copy i // 6
        a, b = scaled.get_atoms(i), original.get_atoms(i % 6)
        assert scaled.family(a) == original.family(b)
        assert a.info["sid"] == f"{b.info['sid']}~{i // 6}"
        shift = np.abs(a.positions - b.positions).max()
        assert (shift == 0) if i < 6 else (0 < shift < 0.2)
    # resumes: a deleted shard is rewritten identically, the others are left alone
    kept = (out / "data.0000.aselmdb").stat().st_mtime_ns
    first = scaled.get_atoms(7).positions
    (out / "data.0001.aselmdb").unlink()
    assert scale_data.main([str(out), "--structures", "15", "--shard-size", "5",
                            "--data", str(src)]) == 0  # fmt: skip
    assert (out / "data.0000.aselmdb").stat().st_mtime_ns == kept
    assert np.array_equal(StructureSource.open(out).get_atoms(7).positions, first)


@pytest.mark.slow
def test_census_scale_json_agrees_and_two_processes_match(tmp_path: Path, tiny_dataset) -> None:
    from pamm.testing import tiny_pamm_checkpoint

    src = tiny_dataset(tmp_path / "tiny.extxyz", n=6, seed=4)
    data = tmp_path / "scale"
    scale_data.main([str(data), "--structures", "12", "--shard-size", "6", "--data", str(src)])
    spec = {"mode": "pamm", "pair_buckets": 64, "triplet_buckets": 128}
    ckpt, _ = tiny_pamm_checkpoint(tmp_path / "tiny.pt", spec)
    out = tmp_path / "scale.json"
    args = ["--data", str(data), "--json", str(out), "--work", str(tmp_path / "work"),
            "--sizes", "6,12", "--model-sizes", "6", "--checkpoint", str(ckpt),
            "--distributed", "graphs/12,model/6", "--batch-size", "4"]  # fmt: skip
    assert census_scale.main(args) == 0
    result = json.loads(out.read_text())
    small, full = result["graphs/6"], result["graphs/12"]
    assert full["structures"] == 12 and full["occurrences"]["pair"] > small["occurrences"]["pair"]
    assert full["peak_rss_mb"] >= full["import_rss_mb"] > 0
    census = Census.load(full["census"])
    assert int(census.tables["pair"].count.sum()) == full["occurrences"]["pair"]
    assert len(np.unique(census.tables["triplet"].key)) == full["distinct_motifs"]["triplet"]
    # the model's census (the tiny model's own cutoffs) carries its gates
    model = result["model/6"]
    assert model["occurrences"]["triplet"] > 0 and Census.load(model["census"]).has_gate
    for name in ("distributed_graphs/12", "distributed_model/6"):
        assert result[name]["equals_single_process"] is True, name
        assert result[name]["world_size"] == 2
    # resuming: finished entries are kept as they are, not measured again
    assert census_scale.main(args) == 0
    again = json.loads(out.read_text())
    assert again["graphs/12"]["census_s"] == full["census_s"]
