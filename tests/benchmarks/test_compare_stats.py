"""Paired bootstrap intervals and claim verdicts of the comparison (synthetic errors)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.compare_stats import claim_verdicts, paired_delta, task_of


def _errors(shift: dict[str, float], seeds=(0, 1, 2), n_tasks=30, noise=0.002) -> pd.DataFrame:
    """Rows of every variant: task-level error + per-variant shift (eV/atom) + noise."""
    rng = np.random.default_rng(0)
    rows = []
    base_task = rng.uniform(0.01, 0.05, size=n_tasks)
    for variant, delta in shift.items():
        for seed in seeds:
            for t in range(n_tasks):
                for frame in range(3):
                    family = "rattled-300" if t % 2 else "aimd-from-PBE-1000-nvt"
                    err = abs(base_task[t] + delta + rng.normal(scale=noise))
                    rows.append({
                        "variant": variant, "seed": seed, "split": "test",
                        "sid": f"oxide{t:04d}_Mg4O4_{family}_{frame}", "family": family,
                        "natoms": 8, "energy_err_per_atom": err,
                        "force_abs_sum": 24 * err, "force_n": 24,
                    })  # fmt: skip
    out = pd.DataFrame(rows)
    out["task"] = [task_of(s, f) for s, f in zip(out["sid"], out["family"], strict=True)]
    return out


def test_interval_covers_the_true_shift_and_decides() -> None:
    errors = _errors({"baseline": 0.0, "gate": -0.005, "affine": 0.0})
    better = paired_delta(errors, "gate", "baseline", "test", "energy_mae_mev_per_atom")
    assert better["ci95"][0] < -5.0 + 1.0 and better["ci95"][1] < 0
    assert better["delta"] == pytest.approx(-5.0, abs=0.5)
    assert better["n_tasks"] == 30 and better["seeds"] == [0, 1, 2]
    same = paired_delta(errors, "affine", "baseline", "test", "energy_mae_mev_per_atom")
    assert same["ci95"][0] < 0 < same["ci95"][1]
    verdicts = {v["claim"]: v["verdict"] for v in claim_verdicts(errors, "", n_boot=300)}
    assert verdicts["gate beats baseline (E)"] == "reproduced"
    assert verdicts["affine beats baseline (E)"] == "inconclusive"
    assert verdicts["gate best on energy"] == "reproduced"
    assert verdicts["affine best on forces"] == "not reproduced"  # affine is worse than gate
    assert verdicts["gate beats mlp (E)"] == "not run"


def test_unpaired_structures_are_an_error() -> None:
    errors = _errors({"baseline": 0.0, "gate": 0.0})
    dropped = errors.drop(errors.index[(errors["variant"] == "gate")][:1])
    with pytest.raises(ValueError, match="same structures"):
        paired_delta(dropped, "gate", "baseline", "test", "energy_mae_mev_per_atom")
    assert paired_delta(errors, "gate", "nothing", "test", "energy_mae_mev_per_atom") is None
