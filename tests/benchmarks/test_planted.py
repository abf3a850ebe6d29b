"""benchmarks/planted.py: a tiny planted run through the real fairchem CLI, and the summary."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.planted import MOTIFS, checks, main, summarise_runs, tag  # noqa: E402
from pamm.data.planted import PlantedMotif, planted_labels  # noqa: E402

#: the "physics" of the tiny data: smooth terms on motifs other than the planted ones
BACKGROUND = [
    PlantedMotif("pair", ("O", "Mg"), centre=2.1, half_width=0.4, strength=-0.3),
    PlantedMotif("pair", ("O", "O"), centre=2.7, half_width=0.5, strength=0.1),
]
#: a tiny model and short run: the test checks the pipeline, not the science
TINY = ["sphere_channels=16", "hidden_channels=16", "edge_channels=16", "lmax=1", "mmax=1",
        "num_layers=1", "num_distance_basis=16", "cutoff=5.0", "pamm.pair_buckets=1024",
        "pamm.triplet_buckets=1024", "pamm.head_dim=4"]  # fmt: skip


def _frame(rng: np.random.Generator, k: int, with_si: bool) -> Atoms:
    """An SiO4 tetrahedron (or MgO4) and an edge-sharing Ti2O2 pair (Ti–O–Ti ≈ 105°)."""
    tetra = 1.65 / np.sqrt(3) * np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]])
    half = 1.95 * np.sin(np.radians(52.5))  # Ti–Ti = 2 * half, Ti–O = 1.95 Å
    rise = 1.95 * np.cos(np.radians(52.5))
    rhombus = np.array([[-half, 0, 0], [half, 0, 0], [0, rise, 0], [0, -rise, 0]]) + 4.5
    positions = np.vstack([[1.2, 1.2, 1.2], tetra + 1.2, rhombus, [1.2, 4.6, 4.2]])
    symbols = ["Si" if with_si else "Mg", "O", "O", "O", "O", "Ti", "Ti", "O", "O", "Mg"]
    atoms = Atoms(symbols, positions=positions, cell=np.diag([7.0, 7.2, 7.4]), pbc=True)
    atoms.rattle(0.04, seed=k)
    atoms.set_cell(atoms.cell.array * rng.uniform(0.98, 1.02), scale_atoms=True)
    terms = [planted_labels(atoms, m) for m in BACKGROUND]
    atoms.calc = SinglePointCalculator(
        atoms, energy=-6.0 * len(atoms) + sum(t[0] for t in terms),
        forces=sum(t[1] for t in terms), stress=sum(t[2] for t in terms),
    )  # fmt: skip
    atoms.info.update(sid=f"tiny{k}", family="rattled-300")
    return atoms


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    from pamm.data.writer import write_aselmdb

    root = tmp_path_factory.mktemp("planted_data")
    rng = np.random.default_rng(0)
    k = 0
    for split, n in (("train", 24), ("val", 4), ("test", 8)):
        frames = []
        for i in range(n):
            frames.append(_frame(rng, k, with_si=i % 2 == 0))
            k += 1
        write_aselmdb(frames, root / split)
    return root


@pytest.mark.slow
def test_tiny_planted_run_writes_metrics_and_resumes(tiny_data, tmp_path, capsys) -> None:
    out, work = tmp_path / "planted.json", tmp_path / "work"
    args = ["--data", str(tiny_data), "--json", str(out), "--work", str(work),
            "--strengths", "3", "--baseline-strengths", "0", "--steps", "20",
            "--batch-size", "4", "--lr", "3e-3", "--eval-structures", "6",
            "--min-with-motif", "4", "--calibration-structures", "24", "--top-n", "5",
            *TINY]  # fmt: skip
    assert main(args) == 0, capsys.readouterr()
    result = json.loads(out.read_text())
    assert result["schema"] == "pamm-planted/1" and result["config"]["strengths"] == [3.0]
    cal = result["calibration"]
    assert cal["energy_spread_mev_per_atom"] > 0
    assert cal["motifs"]["pair"]["fraction_with_motif"] == pytest.approx(0.5)
    assert cal["motifs"]["triplet"]["fraction_with_motif"] == 1.0
    ev = result["eval"]
    assert ev["n_with_motif"] == {"pair": 4, "triplet": len(ev["index"])} and len(ev["index"]) == 7
    assert set(result["runs"]) == {"gate_r3", "gate_r0", "baseline_r0"}
    for name, run in result["runs"].items():
        assert run["test_planted_labels"]["n_structures"] == len(ev["index"])
        assert len(run["energy_pred_ev"]) == len(ev["index"])
        for k in MOTIFS if name != "baseline_r0" else ():
            rec = run["recovery"][k]
            assert rec["planted_occupied"]
            for rank in ("rank_attribution", "rank_attribution_total", "rank_gate"):
                assert 1 <= rec[rank] <= rec["n_occupied_buckets"], (name, k, rank)
            assert 1 <= rec["rank_exact"] <= rec["n_exact_candidates"]
            assert math.isfinite(rec["removed_energy_ev"])
    gate, control = result["runs"]["gate_r3"], result["runs"]["gate_r0"]
    # planted labels differ from unplanted ones by the planted term: the r = 0 run scores
    # both alike, the planted run's ratio is finite and the control's None
    c = control["test_planted_labels"], control["test_unplanted_labels"]
    assert c[0]["energy_mae_mev_per_atom"] == pytest.approx(c[1]["energy_mae_mev_per_atom"])
    assert all(math.isfinite(gate["recovery"][k]["removal_ratio"]) for k in MOTIFS)
    assert all(control["recovery"][k]["removal_ratio"] is None for k in MOTIFS)
    eps = gate["epsilon_ev"]["pair"]
    assert gate["recovery"]["pair"]["motif"]["strength"] == pytest.approx(eps) and eps > 0
    summary = result["summary"]
    assert summary["noise_floor_mev_per_atom"] == c[1]["energy_mae_mev_per_atom"]
    for k in MOTIFS:
        rows = summary["motifs"][k]
        assert [r["relative_strength"] for r in rows] == [3.0, 0.0]
        assert "removal_ratio_net" in rows[0] and math.isfinite(rows[0]["captured_fraction"])
        assert set(summary["checks"][k]) == {
            "largest_rank1_attribution_and_exact", "largest_removal_50_150_percent",
            "control_never_top10", "smallest_strength_ranks"}  # fmt: skip
    (row,) = summary["baseline"]  # the plain model at r = 0: nothing planted to capture
    assert row["run"] == "baseline_r0" and row["captured_fraction"] == {k: None for k in MOTIFS}
    stats = result["datasets"][tag(3.0)]["statistics"]["train"]
    assert stats["motifs"][0]["n_with_motif"] == 12
    # resume: a rerun trains nothing and leaves the runs as they were
    capsys.readouterr()
    assert main(args) == 0
    assert "training" not in capsys.readouterr().out
    assert json.loads(out.read_text())["runs"] == result["runs"]
    # another budget is another experiment: refused
    assert main([*args[: -len(TINY)], "--steps", "21", *TINY]) == 2
    _frozen_fine_tune(out, tmp_path, result)
    _triplet_profile(out, tmp_path)
    _shipped_recipe(tiny_data, tmp_path, result, capsys)


def _shipped_recipe(tiny_data: Path, tmp_path: Path, trained: dict, capsys) -> None:
    """``--finetune-from`` the tiny baseline: the memory attached with the run's spec, a
    control and one run per motif, each on a copy carrying that one term, only the memory
    moved; summarised per data order; resumed from the runs' own records."""
    import torch

    from benchmarks.planted import motifs_of
    from pamm.checkpoint import checkpoint_weights, load_checkpoint
    from pamm.evaluate import read_split

    plain = trained["runs"]["baseline_r0"]["checkpoint"]
    out, work = tmp_path / "shipped.json", tmp_path / "shipped"
    args = ["--data", str(tiny_data), "--json", str(out), "--work", str(work),
            "--finetune-from", plain, "--seeds", "0", "--jobs", "2", "--threads", "1",
            "--strengths", "3", "--steps", "5", "--batch-size", "4", "--lr", "3e-3",
            "--eval-structures", "6", "--min-with-motif", "4", "--calibration-structures",
            "24", "--top-n", "5", *TINY]  # fmt: skip
    assert main(args) == 0, capsys.readouterr()
    assert capsys.readouterr().out.count("planted: queued gate_s0_") == 3
    result = json.loads(out.read_text())
    init = result["init"]
    assert init["spec"]["pair_buckets"] == 1024 and init["spec"]["fusion"] == "gate"
    assert set(result["runs"]) == {"gate_s0_r0", "gate_s0_pair_r3", "gate_s0_triplet_r3"}
    control = result["runs"]["gate_s0_r0"]
    assert set(control["recovery"]) == set(MOTIFS) and control["planted_motif"] is None
    before = checkpoint_weights(load_checkpoint(init["path"]), use_ema=True)
    for k in MOTIFS:
        run = result["runs"][f"gate_s0_{k}_r3"]
        assert run["planted"] == [k] and set(run["recovery"]) == {k} and run["seed"] == 0
        assert run["init"] == init["path"] and run["relative_strength"] == 3.0
        after = checkpoint_weights(load_checkpoint(run["checkpoint"]), use_ema=True)
        moved = {n for n in before if not torch.equal(before[n], after[n])}
        assert moved and all(".motif_" in n for n in moved), moved
        # the copy carries this one term at the calibration's ε, nothing of the other
        motif = motifs_of(result["config"])[k].scaled(run["epsilon_ev"][k])
        copy = read_split(Path(result["datasets"][f"{k}_r3"]["path"]) / "train", limit=4)
        for clean, with_term in zip(read_split(tiny_data / "train", limit=4), copy, strict=True):
            extra = with_term.get_potential_energy() - clean.get_potential_energy()
            assert extra == pytest.approx(planted_labels(clean, motif)[0], abs=1e-9)
    summary = result["summary"]["s0"]
    floor = control["test_unplanted_labels"]["energy_mae_mev_per_atom"]
    assert summary["noise_floor_mev_per_atom"] == floor
    for k in MOTIFS:
        assert [r["relative_strength"] for r in summary["motifs"][k]] == [3.0, 0.0]
    flags = [v for c in summary["checks"].values() for v in c.values() if not isinstance(v, dict)]
    assert result["summary"]["all_checks_pass"] == all(v is True for v in flags)
    # resumed: a run finished but not yet in the JSON is read from its record, nothing trains
    del result["runs"]["gate_s0_pair_r3"]
    out.write_text(json.dumps(result))
    capsys.readouterr()
    assert main(args) == 0
    assert "queued" not in capsys.readouterr().out
    resumed = json.loads(out.read_text())
    assert resumed["runs"]["gate_s0_pair_r3"] == run_record(work, "gate_s0_pair_r3")
    assert resumed["summary"] == result["summary"]


def run_record(work: Path, name: str) -> dict:
    return json.loads((work / "runs" / f"{name}.json").read_text())["run"]


def _frozen_fine_tune(planted_json: Path, tmp_path: Path, result: dict) -> None:
    """benchmarks/planted_frozen.py on the run above: only the memory of the control moves."""
    import torch

    from benchmarks.planted_frozen import main as frozen_main
    from pamm.checkpoint import checkpoint_weights, load_checkpoint

    out = tmp_path / "frozen.json"
    argv = ["--planted", str(planted_json), "--json", str(out), "--out", str(tmp_path / "fz"),
            "--strength", "3", "--steps", "5"]  # fmt: skip
    assert frozen_main(argv) == 0
    frozen = json.loads(out.read_text())
    run = frozen["runs"]["gate_r3"]
    assert run["train_only"] == "memory" and run["init"] == result["runs"]["gate_r0"]["checkpoint"]
    assert frozen["config"]["seed"] == result["config"]["seed"]  # no --seed: the source's
    before = checkpoint_weights(load_checkpoint(run["init"]), use_ema=True)
    after = checkpoint_weights(load_checkpoint(run["checkpoint"]), use_ema=True)
    memory = {k for k in before if ".motif_" in k}
    assert memory and before.keys() == after.keys()
    for k in before.keys() - memory:  # backbone and heads: the control's (EMA of a constant)
        torch.testing.assert_close(after[k], before[k], rtol=1e-6, atol=1e-7, msg=k)
    assert any(not torch.equal(after[k], before[k]) for k in memory)
    rows = frozen["summary"]["motifs"]["pair"]
    assert [r["relative_strength"] for r in rows] == [3.0, 0.0]
    assert math.isfinite(rows[0]["captured_fraction"])
    _frozen_one_motif(planted_json, tmp_path, frozen)
    _frozen_from_init(planted_json, tmp_path, result)


def _frozen_one_motif(planted_json: Path, tmp_path: Path, both: dict) -> None:
    """``--only triplet``: the copy carries the triplet term alone, at the source's ε, and
    only the triplet is scored (the pair appears as the control's row only)."""
    from benchmarks.planted import motifs_of
    from benchmarks.planted_frozen import main as frozen_main
    from benchmarks.planted_where import read_source
    from pamm.evaluate import read_split

    out, work = tmp_path / "frozen_triplet.json", tmp_path / "fz_triplet"
    argv = ["--planted", str(planted_json), "--json", str(out), "--out", str(work),
            "--strength", "3", "--steps", "5", "--only", "triplet", "lr=0.002"]  # fmt: skip
    assert frozen_main(argv) == 0
    result = json.loads(out.read_text())
    run = result["runs"]["gate_r3"]
    config = json.loads(planted_json.read_text())["config"]
    # an extra override replaces the source's recipe (its lr is passed first)
    (canonical,) = work.glob("*/canonical_config.yaml")
    optimizer = yaml.safe_load(canonical.read_text())["runner"]["train_eval_unit"]["optimizer_fn"]
    assert config["lr"] != 0.002 and optimizer["lr"] == 0.002
    assert result["config"]["overrides"][-1] == "lr=0.002"
    assert run["planted"] == ["triplet"] and set(run["recovery"]) == {"triplet"}
    assert run["epsilon_ev"] == {"triplet": both["runs"]["gate_r3"]["epsilon_ev"]["triplet"]}
    triplet = motifs_of(config)["triplet"].scaled(run["epsilon_ev"]["triplet"])
    source = Path(config["data"])
    for clean, copy in zip(
        read_split(source / "train", limit=4),
        read_split(work / "data" / "train", limit=4),
        strict=True,
    ):
        extra = copy.get_potential_energy() - clean.get_potential_energy()
        assert extra == pytest.approx(planted_labels(clean, triplet)[0], abs=1e-9) and extra
    motifs = result["summary"]["motifs"]
    assert [r["relative_strength"] for r in motifs["triplet"]] == [3.0, 0.0]
    assert [r["relative_strength"] for r in motifs["pair"]] == [0.0]
    assert result["summary"]["checks"]["pair"]["largest_rank1_attribution_and_exact"] is None
    # planted_where/planted_profile read the run's own motifs: the pair is not one of them
    assert set(read_source(out, None, "triplet")[3]) == {"triplet"}
    with pytest.raises(SystemExit, match="plants"):
        read_source(out, None, "pair")


def _frozen_from_init(planted_json: Path, tmp_path: Path, result: dict) -> None:
    """``--init`` (here the source's control checkpoint) with its own control: a ``--strength
    0`` fine-tune on the unplanted labels, then the planted run scored against it."""
    from benchmarks.planted_frozen import main as frozen_main

    init, seed = result["runs"]["gate_r0"]["checkpoint"], str(result["config"]["seed"])
    common = ["--planted", str(planted_json), "--steps", "5", "--init", init, "--seed", seed]
    ctl_json = tmp_path / "init_control.json"
    for wrong in (["--strength", "3"], ["--strength", "0", "--control", str(ctl_json)]):
        with pytest.raises(SystemExit):  # --init without its control; a control of a control
            frozen_main([*common, *wrong, "--json", str(tmp_path / "x.json"), "--out", "x"])
    argv = [*common, "--strength", "0", "--json", str(ctl_json), "--out", str(tmp_path / "ic")]
    assert frozen_main(argv) == 0
    control = json.loads(ctl_json.read_text())
    assert set(control["runs"]) == {"gate_r0"} and control["config"]["init"] == init
    run0 = control["runs"]["gate_r0"]
    assert run0["init"] == init and run0["checkpoint"] != init
    labels = run0["test_planted_labels"], run0["test_unplanted_labels"]  # r = 0: the same
    assert labels[0]["energy_mae_mev_per_atom"] == pytest.approx(
        labels[1]["energy_mae_mev_per_atom"]
    )
    assert [r["relative_strength"] for r in control["summary"]["motifs"]["pair"]] == [0.0]
    out = tmp_path / "init_pair.json"
    argv = [*common, "--strength", "3", "--only", "pair", "--control", str(ctl_json)]
    with pytest.raises(SystemExit):  # the control was made at another data order
        frozen_main([*argv, "--seed", "7", "--json", str(out), "--out", "x"])
    assert frozen_main([*argv, "--json", str(out), "--out", str(tmp_path / "ip")]) == 0
    planted_run = json.loads(out.read_text())
    assert planted_run["runs"]["gate_r0"] == run0 and planted_run["runs"]["gate_r3"]["init"] == init
    rows = planted_run["summary"]["motifs"]["pair"]
    assert [r["relative_strength"] for r in rows] == [3.0, 0.0] and "removal_ratio_net" in rows[0]


def _triplet_profile(planted_json: Path, tmp_path: Path) -> None:
    """benchmarks/planted_profile.py on the run above: run and control read the same keys
    (lookup masses equal), their contributions differ, the bins span 0–180°."""
    from benchmarks.planted_profile import main as profile_main

    out = tmp_path / "profile.json"
    assert profile_main(["--source", str(planted_json), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["config"]["run"] == "gate_r3" and result["n_structures"] > 0
    run, control = result["profiles"]["gate_r3"], result["profiles"]["gate_r0"]
    assert run["n_lookups"] == control["n_lookups"] and sum(run["n_lookups"]) > 0
    assert run["contribution_mev"] != control["contribution_mev"]
    assert run["lo"][0] == 0.0 and run["hi"][-1] == pytest.approx(180.0)


def _run(variant: str, r: float, preds: list[float], recovery: dict | None = None) -> dict:
    run = {"variant": variant, "relative_strength": r,
           "epsilon_ev": {"pair": 2.0 * r, "triplet": 10.0 * r}, "energy_pred_ev": preds,
           "test_planted_labels": {"energy_mae_mev_per_atom": 50.0 + r},
           "test_unplanted_labels": {"energy_mae_mev_per_atom": 40.0,
                                     "force_mae_mev_per_a": 500.0}}  # fmt: skip
    if recovery is not None:
        run["recovery"] = recovery
    return run


def _rec(rank: int, removed: float, planted: float) -> dict:
    return {"rank_attribution": rank, "rank_attribution_total": rank, "rank_exact": rank,
            "rank_gate": rank + 3, "n_occupied_buckets": 100, "n_with_motif": 2,
            "removal_ratio": removed / planted if planted else None, "removal_ratio_keys": None,
            "removed_energy_ev": removed, "planted_energy_ev": planted}  # fmt: skip


def test_summary_ratios_captured_fraction_and_checks() -> None:
    """The summary on a hand-made result: the numbers follow from the definitions."""
    ev = {"natoms": [10, 10, 20], "unit_planted_ev": {"pair": [0.5, 0.0, 1.0],
                                                       "triplet": [0.0, 0.1, 0.1]}}  # fmt: skip
    runs = {
        # r = 1: ε_pair = 2 eV, planted pair energies (1, 0, 2) eV; predictions move by (1, 0, 2)
        "gate_r1": _run("gate", 1.0, [1.0, 0.0, 2.0],
                        {"pair": _rec(1, 3.3, 3.0), "triplet": _rec(4, 1.0, 2.0)}),
        "gate_r0": _run("gate", 0.0, [0.0, 0.0, 0.0],
                        {"pair": _rec(50, 0.3, 0.0), "triplet": _rec(8, 0.0, 0.0)}),
        "baseline_r1": _run("baseline", 1.0, [0.5, 0.0, 1.0]),
        "baseline_r0": _run("baseline", 0.0, [0.0, 0.0, 0.0]),
    }  # fmt: skip
    cal = {"motifs": {"pair": {"unit_force_rms_ev_per_a": 1.5},
                      "triplet": {"unit_force_rms_ev_per_a": 0.1}}}  # fmt: skip
    out = summarise_runs({"runs": runs, "eval": ev, "calibration": cal}, "gate")
    assert out["noise_floor_mev_per_atom"] == 40.0
    assert out["noise_floor_force_mev_per_a"] == 500.0
    pair = out["motifs"]["pair"]
    assert [r["relative_strength"] for r in pair] == [1.0, 0.0]
    assert pair[0]["removal_ratio"] == pytest.approx(1.1)
    assert pair[0]["removal_ratio_net"] == pytest.approx((3.3 - 0.3) / 3.0)
    assert pair[0]["captured_fraction"] == pytest.approx(1.0)  # slope of (1, 0, 2) on (1, 0, 2)
    # RMS planted per atom over structures with the motif: 1 eV / 10 and 2 eV / 20 -> 100 meV
    assert pair[0]["planted_mev_per_atom_rms"] == pytest.approx(100.0)
    assert pair[0]["below_noise_floor"] is False
    assert pair[0]["planted_force_rms_mev_per_a"] == pytest.approx(3000.0)  # 1.5 eV/Å x ε = 2
    assert [b["run"] for b in out["baseline"]] == ["baseline_r0", "baseline_r1"]
    assert out["baseline"][1]["captured_fraction"]["pair"] == pytest.approx(0.5)
    assert out["baseline"][0]["captured_fraction"]["pair"] is None  # the r = 0 run itself
    c = out["checks"]
    assert c["pair"]["largest_rank1_attribution_and_exact"] is True
    assert c["pair"]["largest_removal_50_150_percent"] is True
    assert c["pair"]["control_never_top10"] is True
    assert c["triplet"]["largest_rank1_attribution_and_exact"] is False
    assert c["triplet"]["control_never_top10"] is False  # rank 8 in the control
    assert checks({"pair": []})["pair"]["largest_rank1_attribution_and_exact"] is None
    # a variant without a pair table (triplet_only): the pair motif is skipped, not ranked
    skip = {"skipped": "the model has no pair table"}
    runs["gate_r1"]["recovery"]["pair"] = runs["gate_r0"]["recovery"]["pair"] = skip
    out = summarise_runs({"runs": runs, "eval": ev, "calibration": cal}, "gate")
    assert out["motifs"]["pair"] == [] and len(out["motifs"]["triplet"]) == 2
    assert out["checks"]["pair"]["largest_rank1_attribution_and_exact"] is None
