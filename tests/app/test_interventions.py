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
    from app.interventions import _store

    n_before = sum(1 for k in _store() if k[0] == "probes")
    at.radio(key="iv_kind").set_value("motif").run()
    assert not at.exception, [e.value for e in at.exception]
    assert sum(1 for k in _store() if k[0] == "probes") == n_before
