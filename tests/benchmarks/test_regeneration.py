"""benchmarks/regeneration.py: the bundled data against itself and against a changed copy,
and the wall times of a run done in pieces."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest
from ase.calculators.singlepoint import SinglePointCalculator

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "assets" / "data"
sys.path.insert(0, str(ROOT))

from benchmarks.regeneration import (  # noqa: E402
    _frames,
    _record,
    compare_frames,
    compare_parents,
    compare_statistics,
    wall_times,
)


@pytest.fixture(scope="module")
def bundled() -> tuple[dict, dict]:
    record = _record(DATA)
    return record, _frames(DATA, record)


def test_the_bundled_data_reproduces_itself(bundled) -> None:
    record, frames = bundled
    parents = compare_parents(record, record)
    n = len(record["parents"])
    assert parents["same_candidate"] == parents["same_split"] == n
    assert parents["only_bundled"] == parents["only_regenerated"] == 0
    assert parents["tasks_same_parent_family_split"] == len(record["tasks"])
    families = compare_frames(frames, frames)
    assert sum(row["both"] for row in families.values()) == len(frames)
    for row in families.values():
        assert row["share_position_within_1e-4_A"] == 1.0
        assert row["p95_d_energy_per_atom_meV"] == row["median_max_d_force_eV_A"] == 0.0
    stats = json.loads((DATA / "statistics.json").read_text())
    side_by_side = compare_statistics(stats, stats)
    assert set(side_by_side) == {*stats["splits"], "train_force_rms_eV_A"}
    for row in side_by_side.values():
        for pair in row.values() if "bundled" not in row else [row]:
            assert pair["bundled"] == pair["regenerated"] is not None


def test_a_changed_parent_plan_and_frame_are_counted(bundled) -> None:
    record, frames = bundled
    changed = json.loads(json.dumps(record))
    changed["parents"][0]["candidate"] = -1  # as if another candidate became parent 0
    changed["parents"][1]["split"] = "elsewhere"
    parents = compare_parents(record, changed)
    assert parents["only_bundled"] == parents["only_regenerated"] == 1
    assert parents["same_split"] == len(record["parents"]) - 2
    n_tasks_0 = sum(t["parent"] == 0 for t in record["tasks"])
    assert parents["tasks_same_parent_family_split"] == len(record["tasks"]) - n_tasks_0

    sid, atoms = next(iter(frames.items()))
    moved = atoms.copy()
    moved.positions[0, 0] += 0.01
    moved.calc = SinglePointCalculator(moved, **atoms.calc.results)
    moved.info = dict(atoms.info)
    rows = compare_frames({sid: atoms}, {sid: moved, "new": moved})
    row = rows[atoms.info["family"]]
    assert (row["bundled"], row["regenerated"], row["both"]) == (1, 2, 1)
    assert row["median_max_d_position_A"] == pytest.approx(0.01)
    assert row["share_position_within_1e-4_A"] == 0.0


def test_wall_times_of_a_run_in_pieces(tmp_path: Path) -> None:
    log = tmp_path / "times.log"
    log.write_text(  # as scripts/generate_oxide_data.sh writes it, one interruption
        "first start 100 d\nfirst stopped 160 d\nfirst start 1000 d\nfirst end 1100 d\n"
        "extension start 1105 d\nextension end 1400 d\ncard start 1400 d\ncard end 1410 d\n"
    )
    assert wall_times(log) == {
        "first_stopped": 60,
        "first_end": 100,
        "extension_end": 295,
        "card_end": 10,
        "total": 465,
    }


def test_parent_ids_are_positions_in_the_record() -> None:
    """compare_parents looks a task's parent up by position."""
    record = json.loads(gzip.decompress((DATA / "parents.json.gz").read_bytes()))
    assert [p["parent"] for p in record["parents"]] == list(range(len(record["parents"])))
