"""run_analysis end to end on a tiny model: artifacts, validation, idempotence, refusals."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from ase.io import read

from analysis import AnalysisSettings, load_run, run_analysis
from analysis.io import RunError
from analysis.schema import PARQUET_ARTIFACTS
from pamm.checkpoint import check_memory_tables

#: the module run's settings (small and fast)
QUICK = AnalysisSettings(max_per_family=3, embedding="pca")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_dataset, memory_model):
    root = tmp_path_factory.mktemp("run")
    data = tiny_dataset(root / "tiny.extxyz")
    model = memory_model()
    calls = []
    out = run_analysis(
        model, data, root / "run", replace(QUICK, batch_size=4), tqdm_bar=False,
        progress=lambda f, m: calls.append((f, m)),
    )  # fmt: skip
    return out, model, data, calls


def test_run_is_complete_and_valid(run_dir):
    out, _, data, calls = run_dir
    run = load_run(out)
    families = sorted({a.info["family"] for a in read(data, ":")})
    assert run.manifest["dataset"]["n_analysed"] == 3 * len(families) == 9
    assert run.manifest["dataset"]["per_family"] == dict.fromkeys(families, 3)
    pair = run.motifs("pair")
    assert pair["count"].sum() == run.metrics["tables"]["pair"]["n_occurrences"] > 0
    assert set(pair["top_family"]) <= set(families)
    # every motif is heldout-only iff its only family is the held-out one
    held = run.frame("motif_families").query("table == 'pair'")
    only = (held["family"] == "aimd-from-PBE-3000-nvt").groupby(held["key"]).all()
    got = pair.set_index("key")["heldout_only"]
    assert only.any() and not only.all()
    assert got.to_dict() == only.reindex(got.index).to_dict()
    # examples point at real atoms of the analysed structures
    ex = run.frame("examples")
    assert set(ex["table"]) == {"pair", "triplet"}
    assert (ex["centre"] < 4).all() and (ex["neighbour"] < 4).all()
    # progress goes 0 -> 1 monotonically
    fr = [f for f, _ in calls]
    assert fr[0] == 0.0 and fr[-1] == 1.0 and all(np.diff(fr) >= 0)
    emb = run.frame("embedding_2d")
    assert len(emb) == len(run.frame("buckets")) or len(emb) > 0


def test_gates_recorded(run_dir):
    run = load_run(run_dir[0])
    pair = run.motifs("pair")
    assert pair["gate_mean"].between(0, 1).all()
    ex = run.frame("examples")
    assert ex["gate"].between(0, 1).all()


def test_idempotent_and_census_reused(run_dir):
    out, model, data, _ = run_dir
    stamp = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    run_analysis(model, data, out, QUICK, tqdm_bar=False)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamp
    # a changed analysis setting recomputes statistics but reuses the census
    changed = replace(QUICK, reservoir=8, heldout=("rattled-relax",))
    run_analysis(model, data, out, changed, tqdm_bar=False)
    assert (out / "census.npz").stat().st_mtime_ns == stamp["census.npz"]
    assert (out / "manifest.json").stat().st_mtime_ns != stamp["manifest.json"]
    run = load_run(out)
    assert run.manifest["heldout_families"] == ["rattled-relax"]
    pair = run.motifs("pair")
    assert pair.loc[pair["heldout_only"], "top_family"].eq("rattled-relax").all()
    # restore the module fixture's settings for the other tests
    run_analysis(model, data, out, QUICK, tqdm_bar=False)


def test_load_run_errors_name_the_file(run_dir, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(run_dir[0], bad)
    (bad / "buckets.parquet").unlink()
    with pytest.raises(RunError, match=r"buckets\.parquet"):
        load_run(bad)
    pd.DataFrame({"x": [1]}).to_parquet(bad / "buckets.parquet")
    with pytest.raises(RunError, match=r"buckets\.parquet: missing column 'table'"):
        load_run(bad)
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["schema_version"] = 999
    (bad / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RunError, match=r"manifest\.json: schema_version 999"):
        load_run(bad)
    with pytest.raises(RunError, match="does not exist"):
        load_run(tmp_path / "nowhere")


def test_refuses_spec_table_mismatch(memory_model):
    import torch

    model = memory_model()
    check_memory_tables(model)
    memory = model.backbone.motif_memory
    with torch.no_grad():
        memory.pair_hash_a.add_(1)
    with pytest.raises(ValueError, match="hashing spec does not match the pair table"):
        check_memory_tables(model)


def test_no_temp_files_left(run_dir):
    out = run_dir[0]
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]
    assert set(PARQUET_ARTIFACTS) <= set(os.listdir(out))


def test_sharing_counts_agree_with_the_bucket_table(run_dir):
    """``shared_<h>`` = motifs in the same bucket of head h minus one; the combined column
    is the fewest over heads; ``Run.select`` picks the same rows as a hand filter."""
    run = load_run(run_dir[0])
    heads = run.manifest["spec"]["heads"]
    for table in ("pair", "triplet"):
        motifs = run.motifs(table)
        for h in range(heads):
            buckets = run.select("buckets", table=table, head=h).set_index("bucket")
            expected = motifs[f"bucket_{h}"].map(buckets["n_motifs"]) - 1
            assert (motifs[f"shared_{h}"] == expected).all()
        per_head = motifs[[f"shared_{h}" for h in range(heads)]].min(axis=1)
        assert (motifs["shared_all_heads"] == per_head).all()
    bm = run.frame("bucket_motifs")
    some = sorted(bm["bucket"].unique()[:3].tolist())
    hand = bm[(bm["table"] == "pair") & (bm["head"] == 1) & bm["bucket"].isin(some)]
    assert run.select("bucket_motifs", table="pair", head=1, bucket=some).equals(hand)
    assert len(run.select("bucket_motifs", table="pair", head=1, bucket=some[0])) == (
        (hand["bucket"] == some[0]).sum()
    )
