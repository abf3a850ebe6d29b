"""A 2-process torch.distributed (gloo) census equals the 1-process census exactly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.census import Census
from analysis.data import StructureSource
from analysis.distributed import distributed_census
from analysis.runner import select_structures
from pamm.spec import MotifMemorySpec

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_process_census_equals_single_process(tmp_path, tiny_dataset):
    data = tiny_dataset(tmp_path / "tiny.extxyz", n=10, seed=3)
    out = tmp_path / "census2.npz"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "analysis.distributed", "--data", str(data), "--out", str(out),
           "--batch-size", "3", "--reservoir", "2"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = Census.load(out)
    assert two.meta.get("world_size") == 2

    source = StructureSource.open([str(data)])
    one = distributed_census(
        source, select_structures(source), MotifMemorySpec(), batch_size=5, reservoir=2,
        tqdm_bar=False,
    )  # fmt: skip
    assert one.tables["pair"].count.sum() > 0 and len(one.reservoirs["triplet"].key) > 0
    assert two.equals(one)
