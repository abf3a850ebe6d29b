"""Killing ``pamm analyze`` mid-write (SIGKILL of a real subprocess) keeps a consistent run.

A first run writes a complete run directory. A second run with different settings
(so every artifact changes) is killed at the first and at the sixth change it makes
to the directory (after the census, while artifacts are being replaced). Afterwards
the dashboard's artifacts must all be the previous run's (or, had the process already
finished, the complete new run): never a mix, and always loadable with ``load_run``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: artifacts that differ between the two runs (analysed structures 9 vs 15)
DATA_DEPENDENT = ("pair_motifs.parquet", "triplet_motifs.parquet", "metrics.json")


def _checkpoint(path: Path) -> Path:
    from fairchem.core.units.mlip_unit.api.inference import MLIPInferenceCheckpoint

    from pamm.checkpoint import attach_pamm, build_model, save_checkpoint
    from pamm.testing import TINY_BACKBONE

    config = {
        "_target_": "fairchem.core.models.base.HydraModel",
        "backbone": {"model": "fairchem.core.models.uma.escn_md.eSCNMDBackbone", **TINY_BACKBONE},
        "heads": {"efs": {"module": "fairchem.core.models.uma.escn_md.MLP_EFS_Head"}},
    }
    ckpt = MLIPInferenceCheckpoint(
        model_config=config, model_state_dict={}, ema_state_dict={}, tasks_config={}
    )
    ckpt.model_state_dict = build_model(ckpt, strict=False).state_dict()
    return save_checkpoint(attach_pamm(ckpt, {"pair_buckets": 64, "triplet_buckets": 128}), path)


def _command(checkpoint: Path, data: Path, out: Path, per_family: int) -> list[str]:
    return [
        sys.executable, "-m", "pamm_lab", "analyze", "--checkpoint", str(checkpoint),
        "--data", str(data), "--out", str(out), "--max-per-family", str(per_family),
        "--embedding", "pca", "--batch-size", "2", "--force",
    ]  # fmt: skip


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OMP_NUM_THREADS"] = "1"
    return env


def _artifacts(run: Path) -> dict[str, str]:
    """sha256 of every visible file the dashboard reads (temp files are hidden)."""
    from analysis.schema import PARQUET_ARTIFACTS

    names = [*PARQUET_ARTIFACTS, "table_rows.npz", "metrics.json", "manifest.json"]
    return {
        name: hashlib.sha256((run / name).read_bytes()).hexdigest()
        for name in names
        if (run / name).is_file()
    }


def _state(run: Path) -> dict[str, tuple[int, int, int]]:
    out = {}
    for entry in os.scandir(run):
        try:
            st = entry.stat()
        except FileNotFoundError:  # a temp file renamed between listing and stat
            continue
        out[entry.name] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return out


def _kill_after_changes(cmd: list[str], run: Path, changes: int, timeout: float = 1800) -> int:
    """Start ``cmd``; SIGKILL it at its ``changes``-th change to ``run``; return the rc."""
    last = _state(run)
    seen = 0
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            now = _state(run)
            if now != last:
                seen += 1
                last = now
                if seen >= changes:
                    proc.kill()
                    break
            time.sleep(0.0005)
        if proc.poll() is None and seen < changes:
            pytest.fail(f"pamm analyze made only {seen} changes in {timeout} s")
        return proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_sigkill_mid_write_leaves_the_previous_run_intact(tmp_path: Path, tiny_dataset) -> None:
    from analysis import load_run

    checkpoint = _checkpoint(tmp_path / "tiny.pt")
    data = tiny_dataset(tmp_path / "tiny.extxyz", n=18)
    first = tmp_path / "first"
    done = subprocess.run(
        _command(checkpoint, data, first, per_family=3),
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    old = _artifacts(first)
    assert len(old) >= 8 and load_run(first).manifest["dataset"]["n_analysed"] == 9

    killed = 0
    for changes in (1, 6):
        run = tmp_path / f"killed-{changes}"
        shutil.copytree(first, run)
        rc = _kill_after_changes(_command(checkpoint, data, run, per_family=5), run, changes)
        after = _artifacts(run)
        killed += rc == -9
        if after["manifest.json"] != old["manifest.json"]:  # the new run is in place ...
            assert load_run(run).manifest["dataset"]["n_analysed"] == 15
            stale = [name for name in DATA_DEPENDENT if after[name] == old[name]]
            assert not stale, f"new manifest over old artifacts {stale} (rc={rc})"
            continue
        mixed = sorted(name for name in after if after[name] != old.get(name))  # ... or the old
        assert not mixed, (
            f"SIGKILL at change {changes} left a mix of two runs: {mixed} are new, "
            "the rest (manifest included) old"
        )
        assert load_run(run).manifest["dataset"]["n_analysed"] == 9
    assert killed >= 1  # at least one kill really landed mid-run
