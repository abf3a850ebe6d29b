"""``app.uploads.parse_upload`` on real files and on each refused case."""

from __future__ import annotations

import gzip
import signal
from contextlib import contextmanager

import numpy as np
import pytest
from ase import Atoms
from ase.io import write
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from app.uploads import UploadError, detect_format, parse_upload

from .samples import bundled_structures, cif_bytes, ordered_structures, poscar_bytes


def _poscar(lattice: str, symbols: str, counts: str, coords: list[str]) -> bytes:
    lines = ["test", "1.0", *lattice.split(";"), symbols, counts, "Direct", *coords]
    return "\n".join(lines).encode()


NACL = _poscar("5.64 0 0;0 5.64 0;0 0 5.64", "Na Cl", "1 1", ["0 0 0", "0.5 0.5 0.5"])


def _extxyz(atoms: Atoms) -> bytes:
    import io

    buf = io.StringIO()
    write(buf, atoms, format="extxyz")
    return buf.getvalue().encode()


def _refusal(filename: str, data: bytes, **kwargs) -> str:
    with pytest.raises(UploadError) as info:
        parse_upload(filename, data, **kwargs)
    message = str(info.value)
    assert "Traceback" not in message
    return message


@pytest.mark.parametrize("name", sorted(ordered_structures()))
def test_every_ordered_pymatgen_structure_reads_back_from_cif_and_poscar(name: str) -> None:
    expected = AseAtomsAdaptor.get_atoms(ordered_structures()[name])
    for fmt, data in (("cif", cif_bytes(name)), ("poscar", poscar_bytes(name))):
        atoms = parse_upload(f"{name}.{fmt}", data)
        assert atoms.info == {"upload_name": f"{name}.{fmt}", "upload_format": fmt}
        assert atoms.pbc.all()
        assert sorted(atoms.numbers) == sorted(expected.numbers)
        np.testing.assert_allclose(atoms.cell.volume, expected.cell.volume, rtol=1e-4)


def test_format_is_detected_from_content_not_the_extension() -> None:
    assert parse_upload("structure.txt", cif_bytes("Si")).info["upload_format"] == "cif"
    assert parse_upload("Si.cif", poscar_bytes("Si")).info["upload_format"] == "poscar"
    assert parse_upload("CONTCAR", NACL).info["upload_format"] == "poscar"
    salt = parse_upload("salt", NACL)
    assert salt.get_chemical_formula() == "ClNa"
    np.testing.assert_allclose(salt.positions[1], [2.82, 2.82, 2.82])


def test_extxyz_reads_and_the_file_name_loses_its_directories() -> None:
    si = AseAtomsAdaptor.get_atoms(bundled_structures()["Si"])
    atoms = parse_upload("../../etc/si.xyz", _extxyz(si))
    assert atoms.info["upload_name"] == "si.xyz"
    np.testing.assert_allclose(atoms.positions, si.positions, atol=1e-6)


def test_size_cap() -> None:
    message = _refusal("big.cif", cif_bytes("Si"), max_bytes=100)
    assert "limit" in message and "big.cif" in message


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty"),
        (b"   \n\t\n", "empty"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "PNG image"),
        (b"%PDF-1.7\n", "PDF"),
        (gzip.compress(b"data_x\n_cell_length_a 3\n"), "gzip"),
        (b"data_\x00\x01\x02\x03", "binary"),
        (bytes(range(128, 256)) * 4, "not readable as text"),
        (b"just some notes about my crystal\n", "not a recognised structure file"),
    ],
)
def test_empty_binary_and_unknown_content(data: bytes, expected: str) -> None:
    assert expected in _refusal("upload.cif", data)


def test_cif_parse_error_is_reported_as_such() -> None:
    broken = b"data_broken\n_cell_length_a 4.0\n_cell_length_b oops\nloop_\n_atom_site_label\n"
    message = _refusal("broken.cif", broken)
    assert "could not read this CIF file" in message


@pytest.mark.parametrize(
    "data",
    [
        _poscar("5.64 0 0;0 5.64 0;0 0 5.64", "Na Cl", "1 3", ["0 0 0", "0.5 0.5 0.5"]),
        _poscar("5.64 0 0;0 5.64 0;0 0 5.64", "Na Cl", "one two", ["0 0 0", "0.5 0.5 0.5"]),
        _poscar("5.64 0 0;0 5.64 0;0 0 5.64", "Xx Cl", "1 1", ["0 0 0", "0.5 0.5 0.5"]),
    ],
)
def test_poscar_parse_errors(data: bytes) -> None:
    assert "could not read this POSCAR file" in _refusal("POSCAR", data)


def test_vasp4_poscar_without_symbols_is_refused_with_the_reason() -> None:
    data = NACL.replace(b"Na Cl\n", b"")
    assert "VASP 4" in _refusal("POSCAR", data)


def test_too_many_atoms() -> None:
    big = bundled_structures()["Si"] * (6, 6, 6)  # 432 atoms
    data = poscar_bytes_of(big)
    assert len(parse_upload("big.vasp", data)) == 432
    message = _refusal("big.vasp", data, max_atoms=431)
    assert "432 atoms" in message and "431" in message
    assert "501 atoms" not in _refusal("huge.vasp", poscar_bytes_of(big * (2, 1, 1)))


def poscar_bytes_of(structure: Structure) -> bytes:
    from pymatgen.io.vasp import Poscar

    return Poscar(structure).get_str().encode()


@pytest.mark.parametrize(("symbol", "z"), [("Am", 95), ("Og", 118)])
def test_elements_beyond_z94_are_refused(symbol: str, z: int) -> None:
    data = _poscar("5.64 0 0;0 5.64 0;0 0 5.64", f"{symbol} Cl", "1 1", ["0 0 0", "0.5 0.5 0.5"])
    message = _refusal("POSCAR", data)
    assert f"{symbol} (Z={z})" in message and "1..94" in message


def test_dummy_element_is_refused() -> None:
    atoms = Atoms(numbers=[0, 11], positions=[[0, 0, 0], [2, 2, 2]], cell=[4, 4, 4], pbc=True)
    assert "Z=0" in _refusal("x.xyz", _extxyz(atoms))


def test_non_periodic_structures_are_refused() -> None:
    molecule = Atoms("H2O", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    assert "not a recognised structure file" in _refusal("water.xyz", _extxyz(molecule))
    slab = Atoms("H2", positions=[[0, 0, 0], [0.8, 0, 0]], cell=[5, 5, 5], pbc=[True, True, False])
    assert "not periodic in all three directions" in _refusal("slab.xyz", _extxyz(slab))


def test_overlapping_atoms_are_refused() -> None:
    data = _poscar("5.64 0 0;0 5.64 0;0 0 5.64", "Na Cl", "1 1", ["0 0 0", "0.01 0 0"])
    message = _refusal("POSCAR", data)
    assert "overlap" in message and "0.056" in message


def test_overlap_across_the_periodic_boundary_is_found() -> None:
    data = _poscar("5.64 0 0;0 5.64 0;0 0 5.64", "Na Cl", "1 1", ["0.001 0 0", "0.999 0 0"])
    assert "0.011 Å" in _refusal("POSCAR", data)


@pytest.mark.parametrize(
    "lattice",
    [
        "5 0 0;0 5 0;0 0 0.2",  # thinner than the minimum distance
        "1e4 0 0;0 1e4 0;0 0 1e-4",  # flat cell: would make a neighbour search explode
        "5 0 0;10 0 0;0 0 5",  # singular
        "5000 0 0;0 5 0;0 0 5",  # longer than any sensible cell
    ],
)
def test_degenerate_cells_are_refused(lattice: str) -> None:
    message = _refusal("POSCAR", _poscar(lattice, "Na", "1", ["0 0 0"]))
    assert "cell" in message


def test_disordered_cif_is_refused_with_the_reason() -> None:
    message = _refusal("LGPS.cif", cif_bytes("Li10GeP2S12"))
    assert "partially occupied" in message


def test_non_finite_coordinates_are_refused() -> None:
    data = _poscar("5.64 0 0;0 5.64 0;0 0 5.64", "Na Cl", "1 1", ["0 0 0", "nan 0.5 0.5"])
    message = _refusal("POSCAR", data)
    assert "NaN" in message or "could not read" in message


def test_detect_format_ignores_text_that_merely_mentions_cif_words() -> None:
    assert detect_format("I wrote _cell_length_a in my notes") is None
    assert detect_format("data_x\n_cell_length_a 4.0\n") == "cif"


class _Hang(BaseException):
    """Not an Exception, so the parser's boundary cannot turn it into an UploadError."""


@contextmanager
def _time_limit(seconds: int):
    """Fail (instead of hanging CI) if the block runs longer than ``seconds``."""

    def expire(signum: int, frame: object) -> None:
        raise _Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


_CIF_HEAD = (
    "data_x\n_cell_length_a 30\n_cell_length_b 30\n_cell_length_c 30\n"
    "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
)


def _cif_sites(n: int) -> str:
    rng = np.random.default_rng(0)
    rows = "".join(
        f"H{i} H {x:.5f} {y:.5f} {z:.5f} 1\n" for i, (x, y, z) in enumerate(rng.random((n, 3)))
    )
    tags = "_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n"
    return f"loop_\n{tags}_atom_site_fract_z\n_atom_site_occupancy\n{rows}"


@pytest.mark.parametrize("name", ["SrTiO3", "LiFePO4", "Si", "TlBiSe2", "Graphite"])
def test_symmetrized_cifs_expand_to_the_full_cell(name: str) -> None:
    from pymatgen.io.cif import CifWriter

    structure = bundled_structures()[name]
    text = str(CifWriter(structure, symprec=0.01)).encode()
    assert b"_symmetry_equiv_pos_as_xyz" in text
    atoms = parse_upload(f"{name}.cif", text)
    # the conventional cell may be larger than the stored one: compare atom densities
    density = len(atoms) / atoms.cell.volume
    np.testing.assert_allclose(density, len(structure) / structure.volume, rtol=1e-4)
    assert atoms.get_chemical_formula(empirical=True) == AseAtomsAdaptor.get_atoms(
        structure
    ).get_chemical_formula(empirical=True)


def test_cif_with_too_many_sites_is_refused_before_parsing() -> None:
    text = (_CIF_HEAD + "_symmetry_space_group_name_H-M 'P 1'\n" + _cif_sites(5000)).encode()
    with _time_limit(20):  # the full parse of this file takes minutes
        message = _refusal("big.cif", text)
    assert "5000 atom sites" in message


def test_cif_whose_symmetry_would_explode_is_refused() -> None:
    text = (_CIF_HEAD + "_symmetry_space_group_name_H-M 'F m -3 m'\n" + _cif_sites(11)).encode()
    with _time_limit(20):
        message = _refusal("cubic.cif", text)
    assert "11 sites x 192 symmetry operations" in message


@pytest.mark.parametrize(
    "data",
    [
        b" \n" * 500_000,  # many empty lines: once quadratic in the format sniffing
        b"t\n" + b"1" * 500_000 + b"x\n1 0 0\n0 1 0\n0 0 1\nH\n1\nD\n0 0 0\n",
        b"t\n1.0\n" + b"1" * 500_000 + b" 1 x\n0 1 0\n0 0 1\nH\n1\nD\n0 0 0\n",
        b"data_x\n_cell_length_a 4\n_x " + b"a" * 1_900_000 + b"\n",
        (_CIF_HEAD + "loop_\n_a\n1\n" * 50_000).encode(),
        b'1000000000\nLattice="4 0 0 0 4 0 0 0 4" pbc="T T T"\nH 0 0 0\n',
    ],
    ids=["blank-lines", "long-scale", "long-lattice", "long-cif-value", "many-loops", "xyz-count"],
)
def test_hostile_inputs_up_to_the_size_cap_are_refused_quickly(data: bytes) -> None:
    with _time_limit(20):
        _refusal("hostile", data)
