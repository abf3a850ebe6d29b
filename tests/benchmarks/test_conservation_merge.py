"""Merging conservation results: runs of one model at other NVE settings keep their own key."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.conservation import drift_criterion, merge, nve_suffix


def _part(path: Path, config: dict, nve: dict, scan: dict | None = None) -> Path:
    path.write_text(json.dumps({"config": config, "scan": scan or {}, "nve": nve}))
    return path


def test_merge_keeps_every_nve_setting(tmp_path: Path) -> None:
    scan = {"plain": {"fcc Cu": {"violations": 0}}}
    default = _part(tmp_path / "a.json", {"timestep": 1.0, "md_steps": 500}, {"smooth": {}}, scan)
    half = _part(
        tmp_path / "b.json", {"timestep": 0.5, "md_steps": 1000}, {"smooth": {"drift": 2.0}}
    )
    longer = _part(
        tmp_path / "c.json", {"timestep": 1.0, "md_steps": 2000}, {"smooth": {"drift": 3.0}}
    )
    again = _part(
        tmp_path / "d.json", {"timestep": 1.0, "md_steps": 500}, {"smooth": {"drift": 4.0}}
    )
    merged = merge([default, half, longer, again])
    assert merged["nve"] == {
        "smooth": {"drift": 4.0},  # a later part at the same setting replaces the earlier one
        "smooth (dt 0.5 fs, 1000 steps)": {"drift": 2.0},
        "smooth (2000 steps)": {"drift": 3.0},
    }
    assert merged["scan"] == {"plain": {"fcc Cu": {"violations": 0}}}
    assert len(merged["config"]) == 4 and merged["threshold_mev"] == 0.5


def test_suffix_of_older_configs() -> None:
    assert nve_suffix({}) == ""  # parts written before md_steps/timestep were recorded
    assert nve_suffix({"timestep": 0.25}) == " (dt 0.25 fs)"


def test_merge_of_a_merge_keeps_its_keys(tmp_path: Path) -> None:
    first = tmp_path / "m.json"
    first.write_text(json.dumps(merge([
        _part(tmp_path / "a.json", {"timestep": 0.5}, {"plain": {"drift": 1.0}}),
    ])))  # fmt: skip
    more = _part(tmp_path / "b.json", {"timestep": 1.0, "md_steps": 500}, {"plain": {"drift": 2.0}})
    merged = merge([first, more])
    assert merged["nve"] == {"plain (dt 0.5 fs)": {"drift": 1.0}, "plain": {"drift": 2.0}}
    assert merged["config"] == [{"timestep": 0.5}, {"timestep": 1.0, "md_steps": 500}]


def test_float64_parts_keep_their_own_keys(tmp_path: Path) -> None:
    scan = {"smooth": {"fcc Cu": {"violations": 0}}}
    f32 = _part(tmp_path / "a.json", {"timestep": 1.0}, {"smooth": {"drift": 1.0}}, scan)
    f64 = _part(tmp_path / "b.json", {"float64": True}, {"smooth": {"drift": 2.0}}, scan)
    merged = merge([f32, f64])
    assert merged["nve"] == {"smooth": {"drift": 1.0}, "smooth (float64)": {"drift": 2.0}}
    assert set(merged["scan"]) == {"smooth", "smooth (float64)"}


def test_merge_reads_the_drift_criterion_per_setting(tmp_path: Path) -> None:
    plain = {"drift_by_seed": [0.001, 0.002, 0.0, 0.001]}
    steep = {"drift_by_seed": [0.010, 0.012, 0.011, 0.009]}
    like_plain = {"drift_by_seed": [0.002, 0.0, -0.001, 0.003]}
    merged = merge([
        _part(tmp_path / "a.json", {"timestep": 1.0}, {"plain": plain, "smooth": steep}),
        _part(tmp_path / "b.json", {"timestep": 0.5}, {"plain": plain, "smooth": like_plain}),
        _part(tmp_path / "c.json", {"timestep": 0.25}, {"smooth": steep}),  # no plain there
        _part(tmp_path / "d.json", {"timestep": 2.0}, {"plain": plain, "smooth": {"drift": 1}}),
    ])  # fmt: skip
    criteria = merged["drift_criteria"]
    assert set(criteria) == {"smooth vs plain", "smooth vs plain (dt 0.5 fs)"}
    assert criteria["smooth vs plain"]["verdict"] == "not met"
    assert criteria["smooth vs plain (dt 0.5 fs)"]["verdict"] == "inconclusive"
    low, high = criteria["smooth vs plain"]["interval_95"]
    assert criteria["smooth vs plain"]["delta"] == pytest.approx(0.0105 - 2 * 0.001)
    assert 0 < low < criteria["smooth vs plain"]["delta"] < high
    met = drift_criterion({"drift_by_seed": [0.0, 0.0001, -0.0001, 0.0]}, steep, factor=1.0)
    assert met["verdict"] == "met" and met["interval_95"][1] < 0


def _draws_record(seeds: list[int], drifts: list[float]) -> dict:
    return {
        "drift_mev_per_atom_per_ps": sum(drifts) / len(drifts),
        "max_abs_energy_change_mev_per_atom": 0.1,
        "mean_temperature_k": 300.0,
        "drift_by_seed": drifts,
        "max_abs_energy_change_by_seed": [0.1] * len(drifts),
        "seed_list": seeds,
        "temperature_by_seed": [300.0] * len(drifts),
    }


def test_merge_pools_draws_of_other_seeds(tmp_path: Path) -> None:
    config = {"timestep": 1.0, "md_steps": 5000}
    first = {"drift_by_seed": [1.0, 2.0], "max_abs_energy_change_by_seed": [0.1, 0.2]}
    first |= {"drift_mev_per_atom_per_ps": 1.5, "max_abs_energy_change_mev_per_atom": 0.2}
    first |= {"mean_temperature_k": 290.0, "seeds": 2}  # written before seed_list existed
    later = _draws_record([2, 3], [3.0, 6.0])
    merged = merge([
        _part(tmp_path / "a.json", config, {"smooth": first}),
        _part(tmp_path / "b.json", config, {"smooth": later}),
    ])  # fmt: skip
    pooled = merged["nve"]["smooth (5000 steps)"]
    assert pooled["seed_list"] == [0, 1, 2, 3] and pooled["seeds"] == 4
    assert pooled["drift_by_seed"] == [1.0, 2.0, 3.0, 6.0]
    assert pooled["drift_mev_per_atom_per_ps"] == pytest.approx(3.0)
    assert pooled["drift_sd"] == pytest.approx(float(np.std([1.0, 2.0, 3.0, 6.0], ddof=1)))
    assert pooled["mean_temperature_k"] == pytest.approx(295.0)
    assert pooled["max_abs_energy_change_mev_per_atom"] == pytest.approx(0.2)
    rerun = _draws_record([1, 2], [9.0, 9.0])  # overlaps: a rerun replaces
    again = merge(
        [
            tmp_path / "a.json",
            tmp_path / "b.json",
            _part(tmp_path / "c.json", config, {"smooth": rerun}),
        ]
    )
    assert again["nve"]["smooth (5000 steps)"]["drift_by_seed"] == [9.0, 9.0]


def test_nve_draws_start_at_the_given_seed() -> None:
    from ase.calculators.lj import LennardJones

    from benchmarks.conservation import nve, nve_seeds

    calc = LennardJones(sigma=2.0, epsilon=0.01, rc=5.0)
    later = nve_seeds(calc, md_steps=4, seeds=2, timestep_fs=1.0, first_seed=3)
    assert later["seed_list"] == [3, 4] and later["seeds"] == 2
    assert later["drift_by_seed"] == [
        nve(calc, 4, seed=s)["drift_mev_per_atom_per_ps"] for s in (3, 4)
    ]
    assert later["drift_by_seed"][0] != later["drift_by_seed"][1]  # other velocities
    assert "seed_list" not in nve_seeds(calc, md_steps=4, seeds=1, timestep_fs=1.0)


def test_force_change_is_zero_only_for_the_same_surface() -> None:
    from ase.calculators.lj import LennardJones

    from benchmarks.conservation import force_change

    lj = LennardJones(sigma=2.0, epsilon=0.01, rc=5.0)
    assert force_change(lj, LennardJones(sigma=2.0, epsilon=0.01, rc=5.0), draws=2) == 0.0
    stiffer = LennardJones(sigma=2.0, epsilon=0.03, rc=5.0)  # forces x3
    rms_lj = force_change(lj, LennardJones(sigma=2.0, epsilon=0.0, rc=5.0), draws=2)
    assert force_change(stiffer, lj, draws=2) == pytest.approx(2 * rms_lj)


def test_unknown_parts_are_refused() -> None:
    from benchmarks.conservation import main

    with pytest.raises(SystemExit):
        main(["--parts", "scan,nvt"])


def test_merge_carries_force_changes(tmp_path: Path) -> None:
    a = tmp_path / "a.json"
    a.write_text(
        json.dumps({"config": {}, "scan": {}, "nve": {}, "force_change_vs_plain": {"smooth": 0.1}})
    )
    b = tmp_path / "b.json"
    b.write_text(
        json.dumps(
            {
                "config": {"float64": True},
                "scan": {},
                "nve": {},
                "force_change_vs_plain": {"smooth": 0.2},
            }
        )
    )
    older = _part(tmp_path / "c.json", {}, {})  # written before the forces part existed
    merged = merge([a, b, older])
    assert merged["force_change_vs_plain"] == {"smooth": 0.1, "smooth (float64)": 0.2}
