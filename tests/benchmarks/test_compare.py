"""benchmarks/compare.py: a tiny end-to-end run through the real fairchem CLI, and the table."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ase.calculators.singlepoint import SinglePointCalculator

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "assets" / "data"
sys.path.insert(0, str(ROOT))

from benchmarks.compare_table import render_markdown, summarize_runs  # noqa: E402

RUN_KEYS = {
    "schema", "variant", "config", "seed", "steps", "batch_size", "lr", "overrides", "data_dir",
    "eval_limit", "checkpoint", "train_wall_s", "eval_wall_s", "wall_s_per_step", "params_total",
    "params_memory", "metrics", "versions", "finished",
}  # fmt: skip
METRICS = ("energy_mae_mev_per_atom", "force_mae_mev_per_a", "stress_mae_mev_per_a3")


def _copy_split(src: Path, dst: Path, n: int) -> None:
    from pamm.data.writer import write_aselmdb
    from pamm.evaluate import read_split

    out = []
    for a in read_split(src, limit=n):
        b = a.copy()
        b.info = {"sid": a.info["sid"], "family": a.info["family"]}
        b.calc = SinglePointCalculator(
            b, energy=a.get_potential_energy(), forces=a.get_forces(), stress=a.get_stress()
        )
        out.append(b)
    write_aselmdb(out, dst)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny_data")
    for split, n in (("train", 16), ("val", 4), ("test", 4), ("heldout", 4)):
        _copy_split(DATA / split, root / split, n)
    return root


def _compare(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "compare.py"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=1500)


@pytest.mark.slow
def test_tiny_compare_run_writes_finite_results_and_resumes(tiny_data, tmp_path) -> None:
    out, work = tmp_path / "results", tmp_path / "work"
    args = ["run", "--data", str(tiny_data), "--out", str(out), "--work", str(work),
            "--variants", "baseline,gate", "--seeds", "0", "--steps", "2", "--batch-size", "4",
            "--max-eval-steps", "1", "--eval-limit", "4"]  # fmt: skip
    first = _compare(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    records = {}
    for variant in ("baseline", "gate"):
        rec = json.loads((out / "runs" / f"{variant}_s0.json").read_text())
        assert set(rec) == RUN_KEYS
        assert (rec["variant"], rec["seed"], rec["steps"]) == (variant, 0, 2)
        assert set(rec["metrics"]) == {"val", "test", "heldout"}
        for split in rec["metrics"].values():
            assert split["overall"]["n_structures"] == 4
            assert all(
                math.isfinite(split["overall"][k]) and split["overall"][k] > 0 for k in METRICS
            )
            assert sum(f["n_structures"] for f in split["per_family"].values()) == 4
        assert rec["wall_s_per_step"] > 0 and rec["params_total"] > 0
        records[variant] = rec
    assert records["baseline"]["params_memory"] == 0 < records["gate"]["params_memory"]
    summary = json.loads((out / "results.json").read_text())
    assert summary["schema"] == "pamm-compare/1"
    assert set(summary["variants"]) == {"baseline", "gate"}
    assert summary["missing_seeds"]["affine"] == 5 and summary["missing_seeds"]["gate"] == 4
    md = " ".join((out / "results.md").read_text().split())  # table padding aside
    assert "| baseline | 1 |" in md and "| gate | 1 |" in md and "affine (5 seed(s))" in md
    # per-structure errors of every scored split feed the paired bootstrap and the verdicts
    import pandas as pd

    errors = pd.read_parquet(out / "runs" / "gate_s0.errors.parquet")
    assert len(errors) == 12 and set(errors["split"]) == {"val", "test", "heldout"}
    claims = {c["claim"]: c for c in summary["claims"]["smooth"]}
    gate_e = claims["gate beats baseline (E)"]
    assert gate_e["seeds"] == [0] and gate_e["verdict"] in {
        "reproduced", "not reproduced", "inconclusive"}  # fmt: skip
    lo, hi = gate_e["ci95"]
    assert lo <= gate_e["delta"] <= hi
    assert claims["gate beats mlp (E)"]["verdict"] == "not run"
    assert "The paper's claims, conservative (smooth) pair" in md
    reference = json.loads((out / "composition_only.json").read_text())["metrics"]["test"]
    assert all(math.isfinite(reference["overall"][k]) for k in METRICS)
    assert "composition only" in md
    # a rerun skips finished runs: nothing is trained and the records are untouched
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")}
    second = _compare(*args)
    assert second.returncode == 0, second.stderr
    assert "training" not in second.stdout
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")} == mtimes
    # ... but not at another budget: those runs would be skipped and the table mix budgets
    other = _compare(*[("3" if a == "2" and args[i - 1] == "--steps" else a)
                       for i, a in enumerate(args)])  # fmt: skip
    assert other.returncode == 2 and "baseline_s0: 2 steps" in other.stdout
    assert "training" not in other.stdout
    # adopt: the gate checkpoint scored again as another record gives the same numbers
    adopted = _compare(
        "adopt", "--data", str(tiny_data), "--out", str(out), "--variant", "gate",
        "--seed", "7", "--steps", "2", "--eval-limit", "4",
        "--checkpoint", records["gate"]["checkpoint"], "--trained-by", "the tiny run",
        "--lr", "3e-4", "--init-from", "baseline.pt (2 steps)",
    )  # fmt: skip
    assert adopted.returncode == 0, adopted.stderr
    again = json.loads((out / "runs" / "gate_s7.json").read_text())
    assert again["trained_by"] == "the tiny run" and again["train_wall_s"] is None
    assert (again["lr"], again["init_from"]) == (3e-4, "baseline.pt (2 steps)")
    # the same checkpoint scored in another process: float32 sums differ by ~5e-10 relative
    # on CI's CPU (measured: force 1209.04939658 vs 1209.04939632 meV/A), so compare to 1e-6
    flat = [pd.json_normalize(r["metrics"]).iloc[0].to_dict() for r in (again, records["gate"])]
    assert flat[0] == pytest.approx(flat[1], rel=1e-6)
    assert (out / "runs" / "gate_s7.errors.parquet").is_file()
    # export-demo: the card says what the fine-tuned checkpoint started from and its lr
    dest = tmp_path / "demo"
    exported = _compare("export-demo", "--out", str(out), "--data", str(tiny_data),
                        "--dest", str(dest), "--seed", "7", "--variants", "gate")  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    card = " ".join((dest / "README.md").read_text().split())
    assert "| gate.pt |" in card and "| 2 (fine-tuned) | test |" in card
    assert "fine-tuned from baseline.pt (2 steps) with a zero-initialised memory" in card
    assert "then 2 steps at lr 0.0003." in card and "not the memory's alone" in card
    assert json.loads((dest / "gate.metrics.json").read_text())["init_from"].startswith("base")
    # a memory-only fine-tune says so, and that its gain over the start is the memory's
    memory_only = _compare(
        "adopt", "--data", str(tiny_data), "--out", str(out), "--variant", "gate",
        "--seed", "7", "--steps", "2", "--eval-limit", "4", "--train-only", "memory",
        "--checkpoint", records["gate"]["checkpoint"], "--init-from", "baseline.pt (2 steps)",
    )  # fmt: skip
    assert memory_only.returncode == 0, memory_only.stderr
    exported = _compare("export-demo", "--out", str(out), "--data", str(tiny_data),
                        "--dest", str(dest), "--seed", "7", "--variants", "gate")  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    card = " ".join((dest / "README.md").read_text().split())
    assert "with only the memory trainable (`--train-only memory`" in card
    assert "not the memory's alone" not in card and "the only weights that moved" in card
    orphan = _compare("adopt", "--out", str(out), "--variant", "gate", "--steps", "2",
                      "--train-only", "memory",
                      "--checkpoint", records["gate"]["checkpoint"])  # fmt: skip
    assert orphan.returncode == 2 and "--init-from" in orphan.stderr
    missing = _compare("adopt", "--out", str(out), "--variant", "gate", "--steps", "2",
                       "--checkpoint", str(tmp_path / "none.pt"))  # fmt: skip
    assert missing.returncode == 2 and "no checkpoint" in missing.stderr


def _record(variant: str, seed: int, energy: float) -> dict:
    fam = {"a": {k: energy for k in METRICS} | {"n_structures": 2, "n_atoms": 8}}
    split = {"overall": fam["a"], "per_family": fam}
    return {
        "variant": variant, "seed": seed, "steps": 10, "batch_size": 8, "lr": 1e-3,
        "eval_limit": None, "overrides": [], "versions": {}, "train_wall_s": 1.0,
        "wall_s_per_step": 0.5, "params_total": 100, "params_memory": 0,
        "metrics": {"test": split},
    }  # fmt: skip


def test_summary_mean_std_over_seeds_and_missing() -> None:
    runs = [_record("baseline", s, e) for s, e in ((0, 1.0), (1, 2.0), (2, 3.0))]
    runs.append(_record("gate", 0, 5.0))
    summary = summarize_runs(runs, {"baseline": 3, "gate": 3, "mlp": 1})
    stat = summary["variants"]["baseline"]["splits"]["test"]["overall"]["energy_mae_mev_per_atom"]
    assert stat == {"mean": 2.0, "std": 1.0, "n": 3}
    assert summary["missing_seeds"] == {"gate": 2, "mlp": 1}
    paired = summary["variants"]["gate"]["paired_vs_baseline"]["test"]["energy_mae_mev_per_atom"]
    assert paired == {"mean": 4.0, "std": 0.0, "n": 1}  # 5.0 - 1.0 at seed 0
    md = " ".join(render_markdown(summary).split())
    assert "2.00 ± 1.00" in md and "| gate | 1 |" in md and "mlp (1 seed(s))" in md


def test_diagnostics_of_each_run_join_the_table() -> None:
    summary = summarize_runs([_record("baseline", 0, 1.0), _record("gate", 0, 2.0)], None)
    diag = {"run": "gate_s0", "structures": 64, "gate_mean": 0.61, "gate_std": 0.2,
            "gate_frac_below_0.2": 0.125, "gate_frac_above_0.8": 0.25,
            "gate_per_motif_std": 0.15, "gate_per_motif_p5_p95": [0.3, 0.9],
            "pair_hit_rows_moved_over_half": 0.38, "triplet_hit_rows_moved_over_half": 0.46,
            "W_v_fro": 5.18}  # fmt: skip
    assert "Diagnostics" not in render_markdown(summary)
    md = " ".join(render_markdown(summary | {"diagnostics": [diag]}).split())
    row = "| gate_s0 | 0.610 ± 0.200 | 12.5 / 25.0 | 0.150 (0.30–0.90) | 38 / 46 | 5.18 | - |"
    assert row in md


def test_cached_references_follow_the_training_files(tmp_path) -> None:
    """The cache is keyed by the train files' contents: new data at the same path refits."""
    from benchmarks.compare import _references

    data, out = tmp_path / "data", tmp_path / "out"
    out.mkdir()
    _copy_split(DATA / "train", data / "train", 12)
    first = _references(data, out)
    assert _references(data, out) == first  # cached
    cached = json.loads((out / "references.json").read_text())
    cached["elem_refs"] = [r + 1.0 for r in cached["elem_refs"]]
    (out / "references.json").write_text(json.dumps(cached))
    assert _references(data, out).elem_refs == tuple(cached["elem_refs"])  # read from the cache
    shutil.rmtree(data / "train")
    _copy_split(DATA / "val", data / "train", 12)  # other frames, same path
    again = _references(data, out)
    assert again.elem_refs != tuple(cached["elem_refs"])
    assert again.n_structures == 12
