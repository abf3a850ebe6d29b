"""Readers: OMat24-style .aselmdb trees, extxyz/CIF/POSCAR, and clear errors on bad files."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from pamm.data.readers import StructureReadError, find_aselmdb_dirs, read_structures
from pamm.data.writer import write_aselmdb


def _labelled(sid: str, **info):
    atoms = bulk("MgO", "rocksalt", a=4.2, cubic=True)
    atoms.calc = SinglePointCalculator(
        atoms, energy=-1.5, forces=np.full((len(atoms), 3), 0.1), stress=np.zeros(6)
    )
    atoms.info.update(sid=sid, **info)
    return atoms


def test_omat24_tree_family_from_sid_or_folder(tmp_path) -> None:
    # OMat24 layout: <split>/<family>/*.aselmdb; real rows carry sid but no family
    root = tmp_path / "omat24" / "val"
    write_aselmdb(
        [_labelled("agm001012784_ABC_150_spg44_0_0_rattled-300-subsampled_62rpeg")],
        root / "rattled-300-subsampled",
    )
    write_aselmdb([_labelled("agm0042_opaque-id")], root / "aimd-from-PBE-3000-nvt")
    write_aselmdb([_labelled("agm0043_opaque-id")], root / "misc")
    assert [p.name for p in find_aselmdb_dirs(tmp_path)] == [
        "aimd-from-PBE-3000-nvt",
        "misc",
        "rattled-300-subsampled",
    ]
    got = {a.info["sid"]: a.info["family"] for a in read_structures(tmp_path)}
    assert got == {
        "agm0042_opaque-id": "aimd-from-PBE-3000-nvt",  # from the folder name
        "agm0043_opaque-id": "unknown",  # neither sid nor folder: unknown, no crash
        "agm001012784_ABC_150_spg44_0_0_rattled-300-subsampled_62rpeg": "rattled-300-subsampled",
    }
    first = read_structures(root / "misc" / "data.0000.aselmdb")[0]  # one shard file
    assert first.get_potential_energy() == pytest.approx(-1.5)
    assert first.info["source"].endswith("data.0000.aselmdb")
    assert len(read_structures(tmp_path, limit=2)) == 2


def test_plain_files_and_labels(tmp_path) -> None:
    frames = [_labelled(f"x_{k}") for k in range(3)]
    write(tmp_path / "traj_rattled-500.extxyz", frames)
    write(tmp_path / "POSCAR", bulk("Si"), format="vasp")
    write(tmp_path / "cu.cif", bulk("Cu", cubic=True))
    (tmp_path / "notes.md").write_text("ignored in folder walks")
    structures = read_structures(tmp_path)
    assert [len(a) for a in structures] == [2, 4, 8, 8, 8]  # sorted: POSCAR, cu.cif, traj
    traj = structures[2:]
    assert [a.info["family"] for a in traj] == ["rattled-500"] * 3  # family from the file name
    assert traj[0].get_potential_energy() == pytest.approx(-1.5)
    np.testing.assert_allclose(traj[1].get_forces(), 0.1)
    assert sorted(set(structures[1].get_chemical_symbols())) == ["Cu"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.extxyz", "", "empty file"),
        ("blank.cif", "\n\n  \n", "empty file"),
        ("structure.txt", "Cu 0 0 0\n", "unsupported file type"),
        ("data.json", "{}", "unsupported file type"),
        ("broken.extxyz", '3\nLattice="1 0 0 0 1 0 0 0 1"\nCu 0 0\n', "not a readable extxyz"),
        ("POSCAR_bad", "Si\n1.0\n1 0 0\n0 1 0\n", "not a readable vasp"),
    ],
)
def test_malformed_files_name_the_file(tmp_path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(StructureReadError, match=message) as err:
        read_structures(path)
    assert str(path) in str(err.value)


def test_truncated_cif_names_the_file(tmp_path) -> None:
    write(tmp_path / "good.cif", bulk("NaCl", "rocksalt", a=5.64))
    text = (tmp_path / "good.cif").read_text()
    bad = tmp_path / "truncated.cif"
    bad.write_text(text[: text.index("_atom_site_label")])
    with pytest.raises(StructureReadError, match=r"truncated\.cif"):
        read_structures(bad)
    with pytest.raises(StructureReadError, match=r"truncated\.cif"):
        read_structures(tmp_path)  # a bad file inside a folder is not skipped silently


def test_missing_and_empty_inputs(tmp_path) -> None:
    with pytest.raises(StructureReadError, match="no such file"):
        read_structures(tmp_path / "nope")
    with pytest.raises(StructureReadError, match="no structure files"):
        read_structures(tmp_path)
