"""Motif keys: packing round trips, bins, and extraction == the slow ASE reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms

from pamm.keys import (
    extract_motifs,
    pack_pair_key,
    pack_triplet_key,
    pair_bins,
    unpack_pair_key,
    unpack_triplet_key,
)
from pamm.spec import MotifMemorySpec
from pamm.testing import (
    ase_edges,
    ideal_crystals,
    random_crystal,
    random_rotation,
    reference_triplets,
    rotate_atoms,
)


def test_packing_round_trip_numpy_torch_int() -> None:
    rng = np.random.default_rng(0)
    zj, zi, zk = (rng.integers(0, 128, 1000) for _ in range(3))
    b = rng.integers(0, 1024, 1000)
    tk = pack_triplet_key(zj, zi, zk, b)
    assert tk.dtype == np.int64 and tk.max() < 2**31 - 1
    for got, want in zip(unpack_triplet_key(tk), (zj, zi, zk, b), strict=True):
        np.testing.assert_array_equal(got, want)
    tt = pack_triplet_key(*(torch.from_numpy(x) for x in (zj, zi, zk, b)))
    np.testing.assert_array_equal(tt.numpy(), tk)
    pk = pack_pair_key(torch.from_numpy(zj), torch.from_numpy(zi), torch.from_numpy(b))
    for got, want in zip(unpack_pair_key(pk), (zj, zi, b), strict=True):
        np.testing.assert_array_equal(got.numpy(), want)
    assert unpack_pair_key(pack_pair_key(26, 8, 17)) == (26, 8, 17)
    assert len(set(tk.tolist())) == len(set(zip(zj, zi, zk, b, strict=True)))


def test_packing_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match="Zj=128"):
        pack_pair_key(128, 1, 0)
    with pytest.raises(ValueError, match="angle bin=1024"):
        pack_triplet_key(1, 1, 1, np.array([3, 1024]))
    with pytest.raises(ValueError, match="Zi=-1"):
        pack_triplet_key(1, torch.tensor([-1]), 1, 0)


def test_pair_bins_clamp_to_last_bin() -> None:
    spec = MotifMemorySpec(cutoff=5.0, pair_bin_width=0.5)
    got = pair_bins(torch.tensor([0.0, 0.49, 0.5, 4.99, 5.0, 9.0]), spec)
    assert got.tolist() == [0, 0, 1, 9, 9, 9]


def _extract(edges: dict, numbers: np.ndarray, spec: MotifMemorySpec):
    return extract_motifs(
        torch.from_numpy(edges["edge_index"]),
        torch.from_numpy(edges["edge_distance"]),
        torch.from_numpy(edges["edge_distance_vec"]),
        torch.from_numpy(numbers),
        spec,
    )


def _fast_triplets(keys) -> list[tuple[int, int, int]]:
    rows = zip(
        keys.triplet_edge.tolist(),
        keys.triplet_partner.tolist(),
        keys.triplet_key.tolist(),
        strict=True,
    )
    return sorted(rows)


@pytest.mark.parametrize("seed", range(6))
def test_triplets_match_ase_reference_on_random_cells(seed: int) -> None:
    rng = np.random.default_rng(seed)
    atoms = random_crystal(rng, n_atoms=int(rng.integers(2, 7)))
    k = int(rng.choice([3, 6, 12, 1000]))
    spec = MotifMemorySpec(
        cutoff=6.0, triplet_cutoff=float(rng.uniform(3.0, 5.0)), max_triplet_neighbors=k
    )
    edges = ase_edges(atoms, spec.cutoff)
    perm = rng.permutation(len(edges["edge_distance"]))  # graph order must not matter
    edges = {
        name: value[..., perm] if name == "edge_index" else value[perm]
        for name, value in edges.items()
    }
    keys = _extract(edges, atoms.numbers, spec)
    ref = reference_triplets(edges, atoms.numbers, spec)
    assert len(ref) > 0
    assert _fast_triplets(keys) == ref
    # pair keys: (Zj, Zi, distance bin) of every edge
    zj, zi, b = unpack_pair_key(keys.pair_key)
    j, i = edges["edge_index"]
    assert zj.tolist() == atoms.numbers[j].tolist() and zi.tolist() == atoms.numbers[i].tolist()
    assert b.tolist() == np.minimum(edges["edge_distance"] // 0.1, 59).astype(int).tolist()


def test_atom_is_its_own_periodic_neighbour() -> None:
    # one atom in a small cell: all its neighbours are images of itself
    atoms = Atoms(
        "Si", positions=[[0, 0, 0]], cell=[[2.5, 0, 0], [0.3, 2.7, 0], [0.1, 0.2, 2.9]], pbc=True
    )
    spec = MotifMemorySpec(cutoff=6.0, triplet_cutoff=4.0, max_triplet_neighbors=1000)
    edges = ase_edges(atoms, spec.cutoff)
    assert (edges["edge_index"] == 0).all()
    keys = _extract(edges, atoms.numbers, spec)
    ref = reference_triplets(edges, atoms.numbers, spec)
    n = int((edges["edge_distance"] < 4.0).sum())
    assert len(ref) == n * (n - 1) and _fast_triplets(keys) == ref
    # ±a images are at the same distance: ties at the K boundary break by edge index
    spec_k = MotifMemorySpec(cutoff=6.0, triplet_cutoff=4.0, max_triplet_neighbors=3)
    assert _fast_triplets(_extract(edges, atoms.numbers, spec_k)) == reference_triplets(
        edges, atoms.numbers, spec_k
    )
    # opposite images (θ = 180°) fall in the last angle bin
    assert (keys.angle_bin == 17).any()


def test_fairchem_graph_gives_reference_key_multiset() -> None:
    from fairchem.core.graph.compute import generate_graph

    from pamm.testing import tiny_batch

    rng = np.random.default_rng(42)
    atoms_list = [random_crystal(rng, n_atoms=3), random_crystal(rng, n_atoms=5)]
    batch = tiny_batch(atoms_list)
    spec = MotifMemorySpec(cutoff=5.0, max_triplet_neighbors=1000)
    graph = generate_graph(
        batch,
        cutoff=5.0,
        max_neighbors=300,
        enforce_max_neighbors_strictly=False,
        radius_pbc_version=2,
        pbc=torch.ones(2, 3, dtype=torch.bool),
    )
    keys = extract_motifs(
        graph["edge_index"],
        graph["edge_distance"],
        graph["edge_distance_vec"],
        batch.atomic_numbers,
        spec,
    )
    want = []
    for atoms in atoms_list:
        want += [
            key for _, _, key in reference_triplets(ase_edges(atoms, 5.0), atoms.numbers, spec)
        ]
    assert sorted(keys.triplet_key.tolist()) == sorted(want)


def test_no_edges_and_bad_inputs() -> None:
    spec = MotifMemorySpec()
    keys = extract_motifs(
        torch.zeros(2, 0, dtype=torch.long),
        torch.zeros(0),
        torch.zeros(0, 3),
        torch.tensor([8]),
        spec,
    )
    assert keys.num_edges == 0 and keys.num_triplets == 0
    with pytest.raises(ValueError, match="atomic number Z=130"):
        extract_motifs(
            torch.zeros(2, 0, dtype=torch.long),
            torch.zeros(0),
            torch.zeros(0, 3),
            torch.tensor([130]),
            spec,
        )
    with pytest.raises(ValueError, match="edge_index"):
        extract_motifs(
            torch.zeros(3, 1, dtype=torch.long),
            torch.zeros(1),
            torch.zeros(1, 3),
            torch.tensor([1]),
            spec,
        )


def _motif_signature(atoms: Atoms, spec: MotifMemorySpec) -> list[tuple]:
    """Sorted (pair key, sorted triplet keys of the edge) over edges inside the cutoff."""
    edges = ase_edges(atoms, spec.cutoff)
    vec = torch.from_numpy(edges["edge_distance_vec"]).float()  # float32, as in the model
    ei = torch.from_numpy(edges["edge_index"])
    keys = extract_motifs(ei, vec.norm(dim=1), vec, torch.from_numpy(atoms.numbers), spec)
    partners: dict[int, list[int]] = {}
    for e, key in zip(keys.triplet_edge.tolist(), keys.triplet_key.tolist(), strict=True):
        partners.setdefault(e, []).append(key)
    inside = edges["edge_distance"] < spec.cutoff - 1e-3  # an edge at the cutoff is noise
    return sorted(
        (int(keys.pair_key[e]), tuple(sorted(partners.get(e, [])))) for e in np.flatnonzero(inside)
    )


@pytest.mark.parametrize("atoms", ideal_crystals(), ids=lambda a: a.get_chemical_formula())
def test_ideal_crystals_have_the_same_motifs_in_every_orientation(atoms: Atoms) -> None:
    # 60°/90°/3.0 Å sit on bin edges and K = 12 cuts shells: float noise must not matter
    spec = MotifMemorySpec(cutoff=6.0)
    rng = np.random.default_rng(5)
    want = _motif_signature(atoms, spec)
    for _ in range(8):
        moved = rotate_atoms(atoms, random_rotation(rng), rng.normal(size=3))
        assert _motif_signature(moved, spec) == want
