"""Planted motif terms: conservative (finite differences), local, symmetric, added to labels."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from pamm.data.planted import PlantedMotif, plant, planted_labels
from pamm.testing import random_rotation, rotate_atoms

PAIR = PlantedMotif("pair", ("O", "Si"), centre=1.65, half_width=0.05, strength=0.02)
TRIPLET = PlantedMotif("triplet", ("O", "Si", "O"), centre=109.0, half_width=15.0, strength=0.05)
#: the flat envelope with its fade over the Si–O bonds (1.4–1.9 Å), so the FD sees the fade
TRIPLET_FLAT = replace(TRIPLET, envelope="flat", cutoff=1.9, envelope_width=0.5)


def _silica(seed: int = 0) -> Atoms:
    """A rattled cell holding an SiO4 tetrahedron (Si–O 1.62 Å, O–Si–O ≈ 109.5°) and an Si."""
    tetra = 1.62 / np.sqrt(3) * np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]])
    positions = np.vstack([[0.0, 0.0, 0.0], tetra, [2.9, 2.8, 2.7]])
    atoms = Atoms("SiO4Si", positions=positions, cell=np.diag([5.6, 5.8, 6.0]), pbc=True)
    atoms.rattle(0.03, seed=seed)
    return atoms


@pytest.mark.parametrize(
    "motif", [PAIR, TRIPLET, TRIPLET_FLAT], ids=["pair", "triplet", "triplet-flat"]
)
def test_forces_and_stress_are_derivatives_of_the_energy(motif) -> None:
    atoms = _silica()
    energy, forces, stress = planted_labels(atoms, motif)
    assert energy > 1e-4 and np.abs(forces).max() > 1e-4  # the motif occurs, off-centre
    h = 1e-5
    for a, c in [(0, 0), (2, 1), (3, 2), (5, 0)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[a, c] += h
        minus.positions[a, c] -= h
        fd = -(planted_labels(plus, motif)[0] - planted_labels(minus, motif)[0]) / (2 * h)
        assert forces[a, c] == pytest.approx(fd, rel=1e-5, abs=1e-9)
    # stress: symmetric strain of the cell and positions, ASE convention σ = (1/V) dE/dε
    for k, (p, q) in enumerate([(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]):
        eps = np.zeros((3, 3))
        eps[p, q] = eps[q, p] = h
        values = []
        for sign in (1, -1):
            strained = atoms.copy()
            strained.set_cell(atoms.cell.array @ (np.eye(3) + sign * eps), scale_atoms=True)
            values.append(planted_labels(strained, motif)[0])
        dedeps = (values[0] - values[1]) / (2 * h) / (1 if p == q else 2)
        assert stress[k] == pytest.approx(dedeps / atoms.get_volume(), rel=1e-5, abs=1e-10)


@pytest.mark.parametrize("motif", [PAIR, TRIPLET], ids=["pair", "triplet"])
def test_term_is_local_and_invariant(motif) -> None:
    atoms = _silica(1)
    energy, forces, _ = planted_labels(atoms, motif)
    rng = np.random.default_rng(0)
    rot = random_rotation(rng)
    moved = rotate_atoms(atoms, rot, rng.normal(size=3))
    e2, f2, _ = planted_labels(moved, motif)
    assert e2 == pytest.approx(energy, rel=1e-10)
    np.testing.assert_allclose(f2, forces @ rot.T, atol=1e-10)
    # no Si: nothing planted; the motif's elements elsewhere do not count
    mgo = bulk("MgO", "rocksalt", a=4.2)
    assert planted_labels(mgo, motif)[0] == 0.0
    # a pair outside the bump's window contributes nothing
    far = PlantedMotif("pair", ("O", "Si"), centre=2.5, half_width=0.05, strength=1.0)
    assert planted_labels(atoms, far)[0] == 0.0


def test_flat_envelope_depends_on_the_angle_alone_inside_the_fade() -> None:
    atoms = _silica(2)
    flat = replace(TRIPLET, envelope="flat", cutoff=2.5, envelope_width=0.5)  # flat to 2.0 Å
    scaled = atoms.copy()
    scaled.set_cell(atoms.cell.array * 1.05, scale_atoms=True)  # same angles, Si–O ≈ 1.7 Å
    e_flat, e_poly = planted_labels(atoms, flat)[0], planted_labels(atoms, TRIPLET)[0]
    assert e_flat > 0 and e_poly > 0
    assert planted_labels(scaled, flat)[0] == pytest.approx(e_flat, rel=1e-12)
    assert planted_labels(scaled, TRIPLET)[0] < 0.9 * e_poly  # the poly envelope falls with r
    # inside the flat part the energy is ε Σ over O–Si–O angles of the bump alone
    o = atoms.positions[1:5] - atoms.positions[0]
    theta = np.degrees(np.arccos([o[a] @ o[b] / np.linalg.norm(o[a]) / np.linalg.norm(o[b])
                                  for a in range(4) for b in range(a + 1, 4)]))  # fmt: skip
    bump = np.clip(1 - ((theta - 109.0) / 15.0) ** 2, 0, None) ** 3
    assert e_flat == pytest.approx(TRIPLET.strength * bump.sum(), rel=1e-9)
    with pytest.raises(ValueError, match="envelope"):
        replace(TRIPLET, envelope="gauss")
    with pytest.raises(ValueError, match="envelope_width"):
        replace(TRIPLET, envelope="flat", envelope_width=0.0)


def test_plant_adds_the_term_to_the_labels() -> None:
    atoms = _silica()
    atoms.calc = SinglePointCalculator(
        atoms, energy=-10.0, forces=np.ones((6, 3)), stress=np.full(6, 0.01)
    )
    (planted,) = plant([atoms], PAIR)
    e, f, s = planted_labels(atoms, PAIR)
    assert planted.get_potential_energy() == pytest.approx(-10.0 + e)
    np.testing.assert_allclose(planted.get_forces(), 1.0 + f)
    np.testing.assert_allclose(planted.get_stress(), 0.01 + s)
    assert planted.info["planted_energy"] == pytest.approx(e)
    with pytest.raises(ValueError, match="element symbols"):
        PlantedMotif("triplet", ("O", "Si"), centre=100.0, half_width=5.0, strength=1.0)


def _labelled(atoms: Atoms, k: int, family: str) -> Atoms:
    rng = np.random.default_rng(k)
    atoms.calc = SinglePointCalculator(
        atoms, energy=-5.0 * len(atoms) + k, forces=rng.normal(size=(len(atoms), 3)),
        stress=rng.normal(size=6) * 1e-3,
    )  # fmt: skip
    atoms.info.update(sid=f"s{k}", family=family)
    return atoms


def test_plant_dataset_writes_a_planted_copy_and_resumes(tmp_path) -> None:
    import json

    from pamm.data.planted import plant_dataset, plant_datasets
    from pamm.data.readers import read_structures
    from pamm.data.writer import write_aselmdb

    src, dst = tmp_path / "src", tmp_path / "dst"
    splits = {
        "train": [_labelled(_silica(k), k, "rattled-300") for k in range(3)]
        + [_labelled(bulk("MgO", "rocksalt", a=4.2), 3, "aimd-from-PBE-1000-nvt")],
        "test": [_labelled(_silica(7), 7, "rattled-500")],
    }
    for split, frames in splits.items():
        write_aselmdb(frames, src / split)
    (src / "dataset.json").write_text('{"name": "tiny"}')
    (src / "notes").mkdir()  # not a split: no shards
    record = plant_dataset(src, dst, [PAIR, TRIPLET])
    assert record["splits"] == ["test", "train"]
    for split, frames in splits.items():
        got = read_structures(dst / split)
        assert [a.info["sid"] for a in got] == [a.info["sid"] for a in frames]
        for before, after in zip(frames, got, strict=True):
            terms = [planted_labels(before, m) for m in (PAIR, TRIPLET)]
            e = sum(t[0] for t in terms)
            assert after.info["family"] == before.info["family"]
            assert after.get_potential_energy() == pytest.approx(
                before.get_potential_energy() + e, abs=1e-9
            )
            np.testing.assert_allclose(
                after.get_forces(), before.get_forces() + terms[0][1] + terms[1][1], atol=1e-9
            )
            np.testing.assert_allclose(
                after.get_stress(), before.get_stress() + terms[0][2] + terms[1][2], atol=1e-12
            )
            np.testing.assert_allclose(after.info["planted_energies"], [t[0] for t in terms])
            assert after.info["planted_energy"] == pytest.approx(e)
    train = record["statistics"]["train"]
    assert train["n_structures"] == 4
    assert [m["n_with_motif"] for m in train["motifs"]] == [3, 3]
    assert train["total"]["energy_ev_sum"] == pytest.approx(
        sum(planted_labels(a, m)[0] for a in splits["train"] for m in (PAIR, TRIPLET))
    )
    assert json.loads((dst / "dataset.json").read_text()) == {"name": "tiny"}
    stored = json.loads((dst / "planted.json").read_text())
    assert stored == json.loads(json.dumps(record))
    assert PlantedMotif.from_dict(stored["motifs"][1]) == TRIPLET
    # a rerun with the same motifs reuses the copy; other motifs need overwrite=True
    mtime = (dst / "train" / "metadata.npz").stat().st_mtime_ns
    assert plant_dataset(src, dst, [PAIR, TRIPLET]) == stored
    assert (dst / "train" / "metadata.npz").stat().st_mtime_ns == mtime
    stronger = [PAIR.scaled(2 * PAIR.strength), TRIPLET]
    with pytest.raises(ValueError, match="overwrite=True"):
        plant_dataset(src, dst, stronger)
    again = plant_dataset(src, dst, stronger, overwrite=True, splits=["train"])
    assert again["splits"] == ["train"]
    assert again["statistics"]["train"]["motifs"][0]["energy_ev_sum"] == pytest.approx(
        2 * train["motifs"][0]["energy_ev_sum"]
    )
    with pytest.raises(FileNotFoundError, match="no split folders"):
        plant_dataset(src / "notes", tmp_path / "x", PAIR)
    # several strengths in one pass (unit terms scaled) equal the direct computation
    copies = {tmp_path / f"c{k}": [PAIR.scaled(k * 0.01), TRIPLET.scaled(-k * 0.02)]
              for k in (1, 3)}  # fmt: skip
    records = plant_datasets(src, copies, splits=["test"])
    assert set(records) == set(copies)
    (ref,) = splits["test"]
    for dest, motifs in copies.items():
        (got,) = read_structures(dest / "test")
        (direct,) = plant([ref], motifs)
        assert got.get_potential_energy() == pytest.approx(direct.get_potential_energy(), abs=1e-10)
        np.testing.assert_allclose(got.get_forces(), direct.get_forces(), atol=1e-10)
        np.testing.assert_allclose(got.get_stress(), direct.get_stress(), atol=1e-12)
        stats = records[dest]["statistics"]["test"]["motifs"][0]
        f = planted_labels(ref, motifs[0])[1]
        assert stats["force_rms_ev_per_a_with_motif"] == pytest.approx(np.sqrt(np.mean(f**2)))
