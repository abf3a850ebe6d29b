"""Two comparison tables side by side (hand-made results.json of two budgets)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.compare_budgets import main


def _table(steps: int, baseline_e: float, verdict: str) -> dict:
    cell = {"mean": baseline_e, "std": 1.5, "n": 5}
    force = {"mean": 400.0 + steps, "std": 10.0, "n": 5}
    claim = {"claim": "gate beats baseline (E)", "delta": -2.0, "ci95": [-4.0, 0.5],
             "verdict": verdict}  # fmt: skip
    return {
        "schema": "pamm-compare/1",
        "budget": {"steps": steps},
        "variants": {
            "gate": {"splits": {"test": {"overall": {"energy_mae_mev_per_atom": cell}}}},
            "baseline": {
                "splits": {
                    "test": {
                        "overall": {"energy_mae_mev_per_atom": cell, "force_mae_mev_per_a": force}
                    }
                }
            },
        },
        "claims": {"smooth": [claim]},
    }


def test_budgets_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = []
    for steps, energy, verdict in ((300, 50.5, "inconclusive"), (175, 70.25, "reproduced")):
        paths.append(tmp_path / f"r{steps}.json")
        paths[-1].write_text(json.dumps(_table(steps, energy, verdict)))
    out = main([str(p) for p in paths] + ["--json", str(tmp_path / "both.json")])
    text = capsys.readouterr().out
    # budgets sorted as columns; the baseline first (the table's order), its cells per budget
    assert "| variant | split | 175 steps E / F | 300 steps E / F |" in text
    lines = text.splitlines()
    assert (
        lines[2]
        == "| baseline | test | 70.2 ± 1.5 / 575.0 ± 10.0 (5) | 50.5 ± 1.5 / 700.0 ± 10.0 (5) |"
    )
    assert lines[3] == "| gate | test | 70.2 ± 1.5 / – (5) | 50.5 ± 1.5 / – (5) |"
    assert "| smooth | gate beats baseline (E) | -2.00 [-4.00, +0.50] reproduced | " in text
    assert json.loads((tmp_path / "both.json").read_text())["claims"] == out["claims"]
    assert len(out["errors"]) == 2 * 3


def test_refuses_other_json(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"schema": "pamm-planted/1"}))
    with pytest.raises(SystemExit, match=r"not a results\.json"):
        main([str(bad)])
