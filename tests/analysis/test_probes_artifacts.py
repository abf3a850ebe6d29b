"""The optional probes artifact: round trip, ``pamm analyze --probes``, old runs still load,
per-key attribution (version 2) and version-1 artifacts without it."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from analysis import AnalysisSettings, load_run, run_analysis
from analysis.attribution import bucket_attribution, bucket_effects, per_bucket
from analysis.data import StructureSource
from analysis.io import RunError
from analysis.probe_artifacts import (
    compute_probes,
    has_probes,
    load_probes,
    probe_settings,
    write_probes,
)
from analysis.schema import PROBE_ARTIFACTS, PROBES_JSON, PROBES_VERSION
from pamm_lab.cli import main


def _assert_same(loaded: dict, computed: dict) -> None:
    for key in ("attribution", "effects", "agreement", "gate_vs_effect", "reliance"):
        pd.testing.assert_frame_equal(loaded[key], computed[key], check_exact=True)
    pd.testing.assert_frame_equal(loaded["reliance_atoms"], computed["reliance_atoms"])
    for part in ("family", "element"):
        pd.testing.assert_frame_equal(loaded["summary"][part], computed["summary"][part])
    assert loaded["spearman"] == pytest.approx(computed["spearman"], nan_ok=True)
    assert loaded["dataset_index"] == computed["dataset_index"]
    assert loaded["settings"] == computed["settings"]


def test_artifact_round_trips_the_in_memory_probes(tmp_path, tiny_dataset, memory_model):
    data = tiny_dataset(tmp_path / "tiny.extxyz", n=6)
    model = memory_model()
    settings = probe_settings(4, top_k=3, batch_size=4)
    computed = compute_probes(model, StructureSource.open([data]), settings)
    assert computed["dataset_index"] == [0, 2, 3, 5]  # evenly spaced over 6
    assert len(computed["agreement"]) == 3
    write_probes(tmp_path, computed)
    assert has_probes(tmp_path)
    for name, columns in PROBE_ARTIFACTS.items():
        names = pq.read_schema(tmp_path / name).names
        assert {c.name for c in columns} <= set(names), name
    stored = pd.read_parquet(tmp_path / "attribution.parquet")
    expected = [computed["dataset_index"][s] for s in stored["structure"]]
    assert stored["dataset_index"].tolist() == expected
    _assert_same(load_probes(tmp_path), computed)
    assert "key" in stored and computed["settings"]["version"] == PROBES_VERSION == 2

    # a malformed artifact is refused, naming the file
    pd.read_parquet(tmp_path / "reliance.parquet").drop(columns="d_force").to_parquet(
        tmp_path / "reliance.parquet"
    )
    with pytest.raises(RunError, match=r"reliance\.parquet.*d_force"):
        load_probes(tmp_path)
    (tmp_path / "reliance.parquet").unlink()
    with pytest.raises(RunError, match=r"reliance\.parquet: missing"):
        load_probes(tmp_path)


def test_settings_are_validated():
    with pytest.raises(ValueError, match="replace='median'"):
        probe_settings(4, replace="median")
    with pytest.raises(ValueError, match="top_k must be >= 1"):
        probe_settings(4, top_k=0)


def test_pamm_analyze_probes_kept_and_optional(tmp_path, capsys, tiny_checkpoint, tiny_dataset):
    ckpt, _ = tiny_checkpoint(tmp_path / "tiny.pt")
    data = tiny_dataset(tmp_path / "tiny.extxyz", n=6)
    out = tmp_path / "run"
    base = ["analyze", "--checkpoint", str(ckpt), "--data", str(data), "--out", str(out),
            "--embedding", "pca", "--batch-size", "4"]  # fmt: skip

    # a run without probes loads as before and has no probes
    assert main(base) == 0
    assert load_run(out).manifest["stages"].keys() == {"census", "statistics"}
    assert load_probes(out) is None and not has_probes(out)

    assert main([*base, "--probes", "-1"]) == 2
    assert "--probes must be >= 0" in capsys.readouterr().err

    # --probes adds the artifact (census reused), recorded in the manifest
    assert main([*base, "--probes", "3", "--probe-top-k", "2"]) == 0
    run = load_run(out)
    assert has_probes(out)
    assert {"attribution.parquet", PROBES_JSON} <= set(run.manifest["artifacts"])
    assert run.manifest["settings"]["probes"]["n_structures"] == 3
    assert "probes" in run.manifest["stages"]
    probes = load_probes(out)
    assert probes["settings"]["top_k"] == 2 and len(probes["agreement"]) == 2
    assert probes["families"] == [
        StructureSource.open([data]).family(StructureSource.open([data]).get_atoms(i))
        for i in probes["dataset_index"]
    ]
    stamp = (out / PROBES_JSON).stat().st_mtime_ns

    # unchanged inputs: up to date; without --probes the valid artifact is kept
    for args in ([*base, "--probes", "3", "--probe-top-k", "2"], base):
        assert main(args) == 0
        assert (out / PROBES_JSON).stat().st_mtime_ns == stamp
    # a forced rebuild without --probes keeps (copies) it; other settings recompute it
    assert main([*base, "--force"]) == 0
    assert json.loads((out / PROBES_JSON).read_text())["settings"]["n_structures"] == 3
    assert main([*base, "--probes", "2", "--probe-top-k", "2"]) == 0
    assert load_probes(out)["dataset_index"] == [0, 5]


def test_probes_refused_without_hashed_tables(tmp_path, tiny_dataset, memory_model):
    data = tiny_dataset(tmp_path / "tiny.extxyz", n=3)
    with pytest.raises(ValueError, match="hashed memory tables"):
        settings = AnalysisSettings(probe_structures=2)
        run_analysis(memory_model("baseline"), data, tmp_path / "run", settings, tqdm_bar=False)


def test_per_key_attribution_sums_to_the_per_bucket_one(tmp_path, tiny_dataset, memory_model):
    """probe_run's single by-key pass: summed over keys it is the per-bucket attribution, so
    effects and the exact check see one row per (table, head, bucket, structure)."""
    source = StructureSource.open([tiny_dataset(tmp_path / "tiny.extxyz", n=4)])
    atoms = [source.get_atoms(i) for i in range(len(source))]
    model = memory_model()
    plain = bucket_attribution(model, atoms, batch_size=2)
    keyed = bucket_attribution(model, atoms, batch_size=2, by_key=True)
    assert len(keyed) > len(plain)  # some row is read by several keys (smooth: two bins)
    row = ["table", "head", "bucket", "structure"]
    summed = per_bucket(keyed)
    assert not summed.duplicated(row).any() and "key" not in summed
    pd.testing.assert_frame_equal(
        summed.sort_values(row, ignore_index=True),
        plain[summed.columns].sort_values(row, ignore_index=True),
        check_dtype=False, rtol=1e-9, atol=1e-12,
    )  # fmt: skip
    by_bucket = ["table", "head", "bucket"]  # (ties in |ΔE| may order either way)
    pd.testing.assert_frame_equal(
        bucket_effects(keyed).sort_values(by_bucket, ignore_index=True),
        bucket_effects(plain).sort_values(by_bucket, ignore_index=True),
        check_dtype=False, rtol=1e-9, atol=1e-12,
    )  # fmt: skip
    assert per_bucket(plain) is plain


def test_version_1_artifacts_load_without_keys(tmp_path, tiny_dataset, memory_model):
    data = tiny_dataset(tmp_path / "tiny.extxyz", n=3)
    computed = compute_probes(
        memory_model(), StructureSource.open([data]), probe_settings(3, top_k=2, batch_size=3)
    )
    write_probes(tmp_path, computed)
    meta_path, attr_path = tmp_path / PROBES_JSON, tmp_path / "attribution.parquet"
    old = per_bucket(computed["attribution"])
    old.assign(dataset_index=[computed["dataset_index"][s] for s in old["structure"]]).to_parquet(
        attr_path
    )
    meta = json.loads(meta_path.read_text())

    # a version-2 artifact must have the key column
    with pytest.raises(RunError, match=r"attribution\.parquet.*'key'"):
        load_probes(tmp_path)
    meta["settings"]["version"] = 1
    meta_path.write_text(json.dumps(meta))
    loaded = load_probes(tmp_path)
    assert "key" not in loaded["attribution"]
    pd.testing.assert_frame_equal(
        loaded["effects"], computed["effects"], check_dtype=False, rtol=1e-9, atol=1e-12
    )
    meta["settings"]["version"] = 99
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(RunError, match="probes version 99"):
        load_probes(tmp_path)
