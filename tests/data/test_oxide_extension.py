"""Extending a finished oxide dataset: base frames kept bit for bit, new parents after them."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from ase.build import bulk

import pamm.data.oxide_dataset as od
import pamm.data.oxides as oxides
from pamm.data.oxide_extension import extend_oxides
from pamm.data.oxides import Candidate
from pamm.data.readers import open_aselmdb


def _frames_by_sid(folder) -> dict:
    out = {}
    for split in od.OXIDE_SPLITS:
        if (folder / split).is_dir():
            ds = open_aselmdb(folder / split)
            for i in range(len(ds)):
                atoms = ds.get_atoms(i)
                out[atoms.info["sid"]] = atoms
    return out


def _same_frame(a, b) -> bool:
    ra, rb = a.calc.results, b.calc.results
    keys = ("sid", "family", "task", "frame", "parent", "parent_name", "split")
    return (
        np.array_equal(a.numbers, b.numbers)
        and np.array_equal(a.positions, b.positions)
        and np.array_equal(a.cell.array, b.cell.array)
        and ra["energy"] == rb["energy"]
        and all(np.array_equal(ra[k], rb[k]) for k in ("forces", "stress"))
        and all(a.info[k] == b.info[k] for k in keys)
    )


@pytest.fixture
def base(tmp_path, fake_chemistry, tiny_config):
    folder = tmp_path / "base"
    od.generate_oxides(tiny_config, folder, workers=1)
    return folder


def test_extension_keeps_the_base_and_appends_parents(
    tmp_path, base, tiny_config, monkeypatch
) -> None:
    new = [
        Candidate("new", "n0", bulk("ZnO", "rocksalt", a=4.28)),
        Candidate("new", "n1", bulk("CaO", "rocksalt", a=4.9, cubic=True)),
        Candidate("new", "n2", bulk("MgO", "rocksalt", a=4.25)),
    ]
    seen = {}

    def remaining(seed, taken):
        seen.update(seed=seed, taken=taken)
        return new

    monkeypatch.setattr(oxides, "remaining_candidates", remaining)
    out = tmp_path / "extended"
    base_card = json.loads((base / "dataset.json").read_text())
    base_state = json.loads(gzip.decompress((base / od.PARENT_RECORD).read_bytes()))
    n_base, n_base_tasks = len(base_state["parents"]), len(base_state["tasks"])

    assert extend_oxides(base, out, workers=1, stop_after="parents") is None
    assert seen["seed"] == tiny_config.seed and len(seen["taken"]) == base_card["n_candidates"]
    state = json.loads((out / ".work" / "parents.json").read_text())
    assert state["parents"][:n_base] == base_state["parents"]
    assert state["tasks"][:n_base_tasks] == base_state["tasks"]
    added = state["parents"][n_base:]
    assert [p["parent"] for p in added] == list(range(n_base, n_base + len(new)))
    assert sorted(t["index"] for t in state["tasks"][n_base_tasks:]) == list(
        range(n_base_tasks, len(state["tasks"]))
    )
    assert sorted(p["candidate"] for p in added) == list(
        range(base_card["n_candidates"], base_card["n_candidates"] + len(new))
    )
    cands = json.loads((out / ".work" / "candidates.json").read_text())
    assert [c["name"] for c in cands] == ["n0", "n1", "n2"]

    # an interrupted task stage: only the missing new task is redone; base tasks never run
    assert extend_oxides(base, out, workers=1, stop_after="tasks") is None
    task_files = sorted((out / ".work" / "tasks").glob("task_*.json.gz"))
    assert len(task_files) == len(state["tasks"]) - n_base_tasks
    task_files[0].unlink()
    card = extend_oxides(base, out, workers=1)
    assert not (out / ".work").exists()
    assert card["n_parents"] == n_base + len(new)
    assert card["extension"]["base_n_parents"] == n_base
    assert card["extension"]["n_parents"] == len(new)
    assert card["config"] == base_card["config"]
    assert extend_oxides(base, out, workers=1) == card  # finished: left as is

    before, after = _frames_by_sid(base), _frames_by_sid(out)
    assert set(before) < set(after)
    assert all(_same_frame(before[sid], after[sid]) for sid in before)
    assert sum(sum(c.values()) for c in card["counts"].values()) == len(after)
    assert card["n_structures"] == len(after)
    # no parent in two splits, base and new alike
    split_of = {}
    for atoms in after.values():
        assert split_of.setdefault(atoms.info["parent"], atoms.info["split"]) == atoms.info["split"]
    # a new task recomputed alone from the record gives the stored frames
    record = json.loads(gzip.decompress((out / od.PARENT_RECORD).read_bytes()))
    task = next(t for t in record["tasks"][n_base_tasks:] if t["family"] == "rattled-300")
    parent = record["parents"][task["parent"]]
    again = od.run_task(tiny_config, task, parent, od._calc(tiny_config.labels))
    stored = [a for a in after.values() if a.info["task"] == task["index"]]
    assert len(stored) == len(again["frames"]) > 0
    for d in again["frames"]:
        assert any(np.allclose(a.positions, d["positions"], atol=0) for a in stored)


def test_extension_refuses_bad_folders(tmp_path, base) -> None:
    with pytest.raises(ValueError, match="must differ"):
        extend_oxides(base, base, workers=1)
    with pytest.raises(FileNotFoundError, match="finished oxide dataset"):
        extend_oxides(tmp_path / "nowhere", tmp_path / "out", workers=1)


def test_cli_says_why_it_cannot_extend(tmp_path, capsys) -> None:
    from pamm_lab.cli import main

    out = str(tmp_path / "out")
    assert main(["generate", "--extend", str(tmp_path / "nowhere"), "--out", out]) == 2
    assert "needs a finished oxide dataset" in capsys.readouterr().err
    assert main(["generate", "--recipe", "omat-like", "--extend", out, "--out", out]) == 2
    assert "--extend applies to the oxides recipe" in capsys.readouterr().err
