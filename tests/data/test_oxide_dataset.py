"""The oxide dataset pipeline: splits by parent, resumable stages, assembly (fast fakes)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import pamm.data.oxide_dataset as od


def test_plan_splits_by_parent_and_holds_out_a_chemistry() -> None:
    rng = np.random.default_rng(0)
    cation_sets = [[12], [20], [30], [12, 13], [20, 22], [3, 22], [14, 12], [3]]
    entries = [{"numbers": [*rng.choice(cs, 3).tolist(), 8, 8]} for cs in cation_sets * 10]
    config = od.OxideConfig(heldout_chemistry=("Li", "Ti"))
    plan = od.plan_parents(config, entries, list(range(len(entries))))
    assert [p["parent"] for p in plan] == list(range(len(entries)))
    splits = {p["split"] for p in plan}
    assert splits == set(od.OXIDE_SPLITS)
    for p, e in zip(plan, entries, strict=True):
        is_li_ti = set(e["numbers"]) - {8} == {3, 22}
        assert (p["split"] == "heldout_chemistry") == is_li_ti
        if p["split"] == "heldout":
            assert p["families"] == list(od.HELDOUT_MD)
        else:
            assert p["families"][:4] == list(od.TRAIN_FAMILIES) and p["families"][4] in od.MD_1000
    # both 1000 K MD families are used, and ternaries reach the test split
    assert {p["families"][-1] for p in plan if p["split"] == "train"} == set(od.MD_1000)
    assert any(
        p["split"] == "test" and len(set(entries[p["candidate"]]["numbers"])) == 3 for p in plan
    )


def test_pipeline_resumes_and_assembles_by_parent(tmp_path, fake_chemistry, tiny_config) -> None:
    from fairchem.core.datasets import AseDBDataset

    config = tiny_config
    out = tmp_path / "data"
    assert od.generate_oxides(config, out, workers=1, stop_after="parents") is None
    state = json.loads((out / ".work" / "parents.json").read_text())
    n_tasks = len(state["tasks"])
    # an interrupted task stage: drop one finished task, the rerun redoes only that one
    assert od.generate_oxides(config, out, workers=1, stop_after="tasks") is None
    task_files = sorted((out / ".work" / "tasks").glob("task_*.json.gz"))
    assert len(task_files) == n_tasks
    task_files[0].unlink()
    card = od.generate_oxides(config, out, workers=1)
    assert not (out / ".work").exists()
    assert card["n_parents"] == len(fake_chemistry)
    assert od.generate_oxides(config, out, workers=1) == card  # finished: left as is
    with pytest.raises(FileExistsError, match="another recipe"):
        od.generate_oxides(od.OxideConfig(seed=1), out, workers=1)
    parents_of = {}
    for split in od.OXIDE_SPLITS:
        if not card["counts"][split]:
            continue
        ds = AseDBDataset(config={"src": str(out / split)})
        assert len(ds) == sum(card["counts"][split].values())
        parents_of[split] = {ds.get_atoms(i).info["parent"] for i in range(len(ds))}
    splits = list(parents_of)
    for a in splits:  # leakage check: no parent in two splits
        for b in splits:
            assert a == b or not parents_of[a] & parents_of[b]
    assert {"train", "heldout_chemistry"} <= set(splits)


def test_the_label_path_is_recorded_and_used(tmp_path, fake_chemistry, tiny_config, monkeypatch):
    """``labels`` round-trips through the card, a card from before it existed reads as
    CHGNet's calculator (what made the bundled data), and the workers label with it."""
    from dataclasses import replace

    from ase.calculators.lj import LennardJones

    assert od.OxideConfig().labels == "one-backward"
    recorded = tiny_config.to_dict()
    assert od.OxideConfig.from_dict(recorded) == tiny_config
    del recorded["labels"]
    assert od.OxideConfig.from_dict(recorded).labels == "calculator"
    with pytest.raises(ValueError, match="labels must be one of"):
        od.OxideConfig(labels="dft")

    used = []
    lj = LennardJones(sigma=1.9, epsilon=0.05, rc=5.0, smooth=True)
    monkeypatch.setattr(od, "_calc", lambda labels: used.append(labels) or lj)
    card = od.generate_oxides(replace(tiny_config, labels="calculator"), tmp_path / "d", workers=1)
    assert card["config"]["labels"] == "calculator"
    assert used and set(used) == {"calculator"}
