"""Round trip: write_aselmdb -> fairchem AseDBDataset (energy, forces, stress, family)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from pamm.data.writer import write_aselmdb


def _labelled(k: int, family: str):
    rng = np.random.default_rng(k)
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat((1, 1, 1 + k % 2))
    atoms.rattle(0.05, rng=rng)
    forces = rng.normal(size=(len(atoms), 3))
    stress = rng.normal(size=6) * 0.01
    atoms.calc = SinglePointCalculator(
        atoms, energy=-3.0 * len(atoms) + k, forces=forces, stress=stress
    )
    atoms.info.update(sid=f"pamm{k:05d}_NaCl_{family}_0", family=family, temperature_K=300.0 + k)
    return atoms


def test_round_trip_through_asedbdataset(tmp_path) -> None:
    from fairchem.core.datasets import AseDBDataset

    families = [
        "rattled-300",
        "aimd-from-PBE-1000-nvt",
        "rattled-relax",
        "aimd-from-PBE-3000-npt",
        "rattled-500",
    ]
    structures = [_labelled(k, f) for k, f in enumerate(families)]
    shards = write_aselmdb(structures, tmp_path, shard_size=2)
    assert [p.name for p in shards] == [
        "data.0000.aselmdb",
        "data.0001.aselmdb",
        "data.0002.aselmdb",
    ]
    assert not list(tmp_path.glob(".writing-*")) and not list(tmp_path.glob("*-lock"))

    dataset = AseDBDataset(
        config={
            "src": str(tmp_path),
            "a2g_args": {"r_energy": True, "r_forces": True, "r_stress": True},
        }
    )
    assert len(dataset) == len(structures)
    natoms = np.load(tmp_path / "metadata.npz")["natoms"]
    assert natoms.dtype.kind == "i"
    assert natoms.tolist() == [len(a) for a in structures]
    for idx, original in enumerate(structures):
        atoms = dataset.get_atoms(idx)
        assert atoms.info["family"] == families[idx]
        assert atoms.info["sid"] == original.info["sid"]
        assert atoms.info["temperature_K"] == original.info["temperature_K"]
        np.testing.assert_array_equal(atoms.numbers, original.numbers)
        np.testing.assert_allclose(atoms.positions, original.positions)
        assert atoms.get_potential_energy() == pytest.approx(original.get_potential_energy())
        np.testing.assert_allclose(atoms.get_forces(), original.get_forces())
        np.testing.assert_allclose(atoms.get_stress(), original.get_stress())
        assert dataset.get_metadata("natoms", idx) == len(original)
        data = dataset[idx]  # the AtomicData the trainer sees
        assert float(data.energy) == pytest.approx(original.get_potential_energy())
        np.testing.assert_allclose(data.forces.numpy(), original.get_forces(), rtol=1e-6)
        np.testing.assert_allclose(
            data.stress.numpy().reshape(3, 3),
            original.get_stress(voigt=False),
            rtol=1e-6,
            atol=1e-12,
        )


def test_family_defaults_to_sid(tmp_path) -> None:
    atoms = _labelled(0, "rattled-1000")
    del atoms.info["family"]
    write_aselmdb([atoms], tmp_path)
    from pamm.data.readers import read_structures

    assert read_structures(tmp_path)[0].info["family"] == "rattled-1000"


def test_refuses_bad_input_with_clear_errors(tmp_path) -> None:
    good = _labelled(0, "rattled-300")
    write_aselmdb([good], tmp_path / "a")
    with pytest.raises(FileExistsError, match="overwrite"):
        write_aselmdb([good], tmp_path / "a")
    write_aselmdb([good, good], tmp_path / "a", overwrite=True)
    assert np.load(tmp_path / "a" / "metadata.npz")["natoms"].tolist() == [len(good)] * 2

    unlabelled = good.copy()
    unlabelled.info = dict(good.info)
    with pytest.raises(ValueError, match="no energy"):
        write_aselmdb([unlabelled], tmp_path / "b")
    no_sid = _labelled(1, "rattled-300")
    del no_sid.info["sid"]
    with pytest.raises(ValueError, match="sid"):
        write_aselmdb([no_sid], tmp_path / "c")
    nan = _labelled(2, "rattled-300")
    nan.calc.results["forces"][0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        write_aselmdb([good, nan], tmp_path / "d")
    assert not list((tmp_path / "d").glob("*.aselmdb")), "a failed write must leave no shards"
    with pytest.raises(ValueError, match="shard_size"):
        write_aselmdb([good], tmp_path / "e", shard_size=0)
    with pytest.raises(ValueError, match="empty"):
        write_aselmdb([], tmp_path / "f")
