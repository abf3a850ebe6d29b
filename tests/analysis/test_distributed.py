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


@pytest.mark.slow
def test_two_process_model_census_builds_the_run(tmp_path, tiny_dataset, tiny_checkpoint):
    """With a model (gates too): the merged census equals the 1-process one, carries its
    identity, and ``run_analysis(census_file=...)`` builds the same run from it; a census of
    other settings is refused."""
    from analysis.pipeline import run_analysis
    from analysis.settings import AnalysisSettings
    from pamm.plumbing import load_checked_model

    data = tiny_dataset(tmp_path / "tiny.extxyz", n=8, seed=5)
    ckpt, _ = tiny_checkpoint(tmp_path / "tiny.pt")
    out = tmp_path / "census2.npz"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "analysis.distributed", "--data", str(data), "--out", str(out),
           "--checkpoint", str(ckpt), "--batch-size", "3", "--reservoir", "2"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = Census.load(out)
    assert two.has_gate and two.meta["identity"]["checkpoint_sha256"]

    model = load_checked_model(ckpt)
    source = StructureSource.open([str(data)])
    spec = model.backbone.pamm_spec
    one = distributed_census(
        source, select_structures(source), spec, model, batch_size=4, reservoir=2,
        tqdm_bar=False,
    )  # fmt: skip
    assert two.equals(one)

    settings = AnalysisSettings(max_per_family=None, reservoir=2, embedding="pca")
    given = run_analysis(ckpt, data, tmp_path / "given", settings, census_file=out,
                         tqdm_bar=False)  # fmt: skip
    computed = run_analysis(ckpt, data, tmp_path / "computed", settings, tqdm_bar=False)
    assert Census.load(given / "census.npz").equals(Census.load(computed / "census.npz"))
    with pytest.raises(ValueError, match="settings"):
        other = AnalysisSettings(max_per_family=None, reservoir=3, embedding="pca")
        run_analysis(ckpt, data, tmp_path / "other", other, census_file=out, tqdm_bar=False)
    with pytest.raises(ValueError, match="no identity"):
        one.save(tmp_path / "plain.npz")
        run_analysis(ckpt, data, tmp_path / "plain", settings, census_file=tmp_path / "plain.npz",
                     tqdm_bar=False)  # fmt: skip
