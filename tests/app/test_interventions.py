"""The Interventions page through AppTest on the session's real analysis run."""

from __future__ import annotations

import re

import pytest


def _open(app_test):
    at = app_test
    at.run()
    at.switch_page("views/interventions.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def _frame(at, *columns):
    for df in at.dataframe:
        if set(columns) <= set(df.value.columns):
            return df.value
    raise AssertionError(f"no dataframe with columns {columns}")


@pytest.mark.slow
def test_interventions_page_probes_the_checkpoint(app_test):
    at = _open(app_test)
    metrics = {m.label: m.value for m in at.metric}
    rho = float(metrics["Spearman |ΔE| first-order vs exact"])
    assert -1.0 <= rho <= 1.0
    effects = _frame(at, "table", "head", "bucket", "abs_d_energy", "gate_mean")
    assert int(metrics["occupied buckets"].replace(",", "")) == len(effects)
    ranked = _frame(at, "dataset_index", "d_energy", "d_force", "energy_ablated")
    assert len(ranked) >= 1
    assert (ranked["d_energy"].abs().diff().dropna() <= 0).all(), "not ranked by |ΔE|"
    # the top bucket by first-order effect fires, so the 3D view draws Δforce arrows
    html = at.get("iframe")[0].proto.srcdoc
    arrows = int(re.search(r"data-pamm-arrows='(\d+)'", html).group(1))
    assert arrows > 0
    reliance = _frame(at, "family", "n_structures", "d_energy", "d_energy_pair")
    assert (reliance["d_energy"] > 0).all()

    # a rerun (or another motif pick) must not recompute the probes
    from app.widgets import RESULTS

    n_before = sum(1 for k in RESULTS if k[0] == "probes")
    at.radio(key="iv_kind").set_value("motif").run()
    assert not at.exception, [e.value for e in at.exception]
    assert sum(1 for k in RESULTS if k[0] == "probes") == n_before


@pytest.fixture(scope="module")
def probed_root(runs_root, tmp_path_factory):
    """A runs root whose run holds the probes artifact (``pamm analyze --probes 8``)."""
    from analysis import AnalysisSettings, load_run, run_analysis

    root = tmp_path_factory.mktemp("probed-runs")
    heldout = load_run(runs_root / "testrun").manifest["heldout_families"]
    settings = AnalysisSettings(heldout=heldout, embedding="pca", probe_structures=8, probe_top_k=5)
    run_analysis(
        runs_root.parent / "tiny-pamm.pt", runs_root.parent / "structures.extxyz",
        root / "probed", settings, tqdm_bar=False,
    )  # fmt: skip
    return root


@pytest.mark.slow
def test_interventions_page_reads_the_stored_probes(app_env, probed_root, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from analysis.probe_artifacts import load_probes
    from app.widgets import RESULTS

    monkeypatch.setenv("PAMM_RUNS_ROOT", str(probed_root))
    monkeypatch.setenv("PAMM_RUN", "probed")
    run_dir = str(probed_root / "probed")
    stored = load_probes(run_dir)
    at = _open(AppTest.from_file("../../app/streamlit_app.py", default_timeout=120))
    assert at.slider(key="iv_n").value == 8 and at.slider(key="iv_topk").value == 5
    assert any("stored in the run" in c.value for c in at.caption)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Spearman |ΔE| first-order vs exact"] == (
        f"{stored['spearman']['spearman_abs_energy']:.2f}"
    )
    effects = _frame(at, "table", "head", "bucket", "abs_d_energy", "gate_mean")
    assert len(effects) == len(stored["effects"])
    keys = [k for k in RESULTS if k[1:2] == (run_dir,)]
    assert any(k[0] == "probes-stored" for k in keys)
    assert not any(k[0] == "probes" for k in keys), "stored probes were recomputed"

    # other settings fall back to computing them here
    at.slider(key="iv_topk").set_value(3).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("computed here" in c.value for c in at.caption)
    assert any(k[0] == "probes" and k[1] == run_dir for k in RESULTS)
