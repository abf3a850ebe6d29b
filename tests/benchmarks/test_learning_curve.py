"""benchmarks/learning_curve.py resumes only what it scored on the same checkpoint and data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import benchmarks.learning_curve as lc  # noqa: E402


@pytest.fixture
def fake_run(tmp_path, monkeypatch):
    """A finished 'training' (checkpoint files of arbitrary bytes) and a counting scorer."""
    data = tmp_path / "data"
    for split in ("val", "test"):
        (data / split).mkdir(parents=True)
        (data / split / "data.0000.aselmdb").write_bytes(split.encode())
    root = tmp_path / "work" / "baseline_s0" / "lc" / "checkpoints"
    for name in ("step_0", "step_2", "final"):
        (root / name).mkdir(parents=True)
        (root / name / "inference_ckpt.pt").write_bytes(name.encode())
    scored: list[Path] = []

    def evaluate(ckpt, splits, limit):
        scored.append(Path(ckpt))
        value = float(len(scored))
        overall = {"energy_mae_mev_per_atom": value, "force_mae_mev_per_a": 10 * value}
        return {s: {"overall": overall} for s in splits}

    monkeypatch.setattr(lc, "evaluate_checkpoint", evaluate)
    args = ["--data", str(data), "--steps", "4", "--every", "2", "--eval-limit", "3",
            "--work", str(tmp_path / "work"), "--json", str(tmp_path / "curve.json")]  # fmt: skip
    return args, root, data, scored


def test_points_are_reused_only_for_the_same_checkpoint_and_data(fake_run) -> None:
    args, root, data, scored = fake_run
    json_path = Path(args[args.index("--json") + 1])
    assert lc.main(args) == 0
    assert len(scored) == 3  # step 0, step 2, final (step 4)
    first = json.loads(json_path.read_text())["points"]
    assert [p["step"] for p in first] == [0, 2, 4]

    (data / "test" / "data.0000.aselmdb-lock").write_bytes(b"a reader was here")
    assert lc.main(args) == 0  # nothing changed (a lock file is not data): nothing scored again
    assert len(scored) == 3
    assert json.loads(json_path.read_text())["points"] == first

    (root / "step_2" / "inference_ckpt.pt").write_bytes(b"another training")
    assert lc.main(args) == 0  # a new checkpoint at the same path and step
    assert scored[3:] == [root / "step_2" / "inference_ckpt.pt"]

    (data / "test" / "data.0000.aselmdb").write_bytes(b"other frames")
    assert lc.main(args) == 0  # other data at the same path: every point again
    assert len(scored) == 7

    more = list(args)
    more[more.index("--eval-limit") + 1] = "5"
    assert lc.main(more) == 0  # another subsample: every point again
    assert len(scored) == 10
    points = json.loads(json_path.read_text())["points"]
    assert [p["scored"]["eval_limit"] for p in points] == [5, 5, 5]


def test_a_curve_without_scoring_records_is_scored_again(fake_run) -> None:
    """A JSON written by another run (or by the code before ``scored``) is not trusted."""
    args, _, _, scored = fake_run
    json_path = Path(args[args.index("--json") + 1])
    stale = {"points": [{"step": s, "test_energy_mae_mev_per_atom": 99.0} for s in (0, 2, 4)]}
    json_path.write_text(json.dumps(stale))
    assert lc.main(args) == 0
    assert len(scored) == 3
    points = json.loads(json_path.read_text())["points"]
    assert [p["test_energy_mae_mev_per_atom"] for p in points] == [1.0, 2.0, 3.0]
