"""`pamm analyze` on a saved tiny checkpoint; refusal of a spec/table mismatch."""

from __future__ import annotations

import copy

import pytest

from analysis import load_run
from pamm_lab.cli import main


@pytest.mark.slow
def test_pamm_analyze_writes_a_valid_run(tmp_path, capsys, tiny_checkpoint, tiny_dataset):
    from pamm.checkpoint import save_checkpoint

    ckpt_path, ckpt = tiny_checkpoint(tmp_path / "tiny.pt")
    data = tiny_dataset(tmp_path / "tiny.extxyz", n=6)
    out = tmp_path / "run"
    args = ["analyze", "--checkpoint", str(ckpt_path), "--data", str(data), "--out", str(out),
            "--embedding", "pca", "--max-per-family", "2", "--chemiscope"]  # fmt: skip
    assert main(args) == 0
    run = load_run(out)
    assert run.manifest["checkpoint"]["sha256"] and len(run.manifest["checkpoint"]["sha256"]) == 64
    assert run.manifest["dataset"]["n_analysed"] == 6
    assert run.manifest["spec"]["pair_buckets"] == 64
    assert (out / "chemiscope.json.gz").stat().st_size > 0
    assert "analysis run written" in capsys.readouterr().out

    # a checkpoint whose spec no longer matches its tables is refused with a clear message
    bad = copy.deepcopy(ckpt)
    bad.model_config["backbone"]["pamm"] = {**bad.model_config["backbone"]["pamm"], "hash_seed": 7}
    bad_path = save_checkpoint(bad, tmp_path / "bad.pt")
    args[2] = str(bad_path)
    args[args.index("--out") + 1] = str(tmp_path / "run2")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "hash" in err and "disagrees with its spec" in err
    assert not (tmp_path / "run2" / "manifest.json").exists()

    # a census file that does not exist is refused before anything is written
    args[2] = str(ckpt_path)
    args[args.index("--out") + 1] = str(tmp_path / "run3")
    assert main([*args, "--census", str(tmp_path / "missing.npz")]) == 2
    assert "missing.npz does not exist" in capsys.readouterr().err
    assert not (tmp_path / "run3").exists()
