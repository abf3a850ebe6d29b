"""Capture: records match keys/hashing, outputs unchanged (bitwise), tables readable."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms

from pamm.capture import capture, table_contents
from pamm.hashing import hash_numpy
from pamm.keys import unpack_pair_key
from pamm.testing import energy_forces, random_crystal, randomize_memory, tiny_batch, tiny_model

SMALL = {"pair_buckets": 256, "triplet_buckets": 512}


def _atoms(seed: int = 0) -> list[Atoms]:
    rng = np.random.default_rng(seed)
    return [random_crystal(rng, n_atoms=4), random_crystal(rng, n_atoms=3)]


def test_capture_does_not_change_outputs_and_records_each_forward() -> None:
    model = tiny_model({"fusion": "affine", **SMALL})
    randomize_memory(model)
    atoms = _atoms()
    plain = energy_forces(model, atoms, seed=5)
    with capture(model, keep_full_gate=True) as cap:
        seen = energy_forces(model, atoms, seed=5)
        energy_forces(model, atoms[:1], seed=5)
    for a, b in zip(plain, seen, strict=True):
        assert torch.equal(a, b)
    assert len(cap.records) == 2
    rec = cap.records[0]
    n_edges = rec.edge_index.shape[1]
    assert rec.cell_offsets.shape == (n_edges, 3) and rec.edge_distance.shape == (n_edges,)
    assert rec.batch.tolist() == [0] * 4 + [1] * 3
    assert rec.gate.shape == (n_edges, model.backbone.edge_channels_list[0])
    torch.testing.assert_close(rec.gate_mean, rec.gate.mean(1))
    assert ((rec.gate_mean > 0) & (rec.gate_mean < 1)).all()
    # keys agree with the graph, buckets with pamm.hashing
    zj, zi, b = unpack_pair_key(rec.keys.pair_key)
    assert torch.equal(zj, rec.atomic_numbers[rec.edge_index[0]])
    assert torch.equal(zi, rec.atomic_numbers[rec.edge_index[1]])
    assert torch.equal(b, (rec.edge_distance / 0.1).floor().long().clamp(max=49))
    mem = model.backbone.motif_memory
    want = hash_numpy(
        rec.keys.pair_key.numpy(), mem.pair_hash_a.numpy(), mem.pair_hash_b.numpy(), 256
    )
    np.testing.assert_array_equal(rec.pair_bucket.numpy(), want)
    assert rec.triplet_bucket.shape == (rec.keys.num_triplets, 2) and rec.keys.num_triplets > 0
    # the structure's edges carry their own atoms: centre and neighbour in one structure
    assert torch.equal(rec.batch[rec.edge_index[0]], rec.batch[rec.edge_index[1]])
    # after the block nothing is recorded any more
    energy_forces(model, atoms)
    assert len(cap.records) == 2 and not model.backbone._pamm_sinks


def test_capture_on_backbone_without_full_gate_and_empty_graph() -> None:
    model = tiny_model(SMALL)
    lonely = Atoms("O", positions=[[0.0, 0.0, 0.0]], cell=[12.0, 12.0, 12.0], pbc=True)
    with capture(model.backbone) as cap:
        model(tiny_batch([lonely]))
    rec = cap.records[0]
    assert rec.gate is None and rec.edge_index.shape == (2, 0) and rec.pair_bucket.shape == (0, 2)
    assert rec.keys.num_edges == 0 and rec.atomic_numbers.tolist() == [8]


def test_table_contents_and_errors() -> None:
    model = tiny_model({"mode": "pair_only", **SMALL})
    tables = table_contents(model)
    assert set(tables) == {"pair"} and tables["pair"].shape == (2, 256, 16)
    assert torch.equal(tables["pair"], model.backbone.motif_memory.pair_table.detach())
    tables["pair"].zero_()  # a copy: the model is untouched
    assert model.backbone.motif_memory.pair_table.abs().sum() > 0
    assert set(table_contents(tiny_model(SMALL))) == {"pair", "triplet"}
    with pytest.raises(ValueError, match="baseline"):
        table_contents(tiny_model({"mode": "baseline"}))
    with pytest.raises(ValueError, match="no PaMM backbone"):
        capture(torch.nn.Linear(2, 2)).__enter__()


def test_capture_records_smooth_lookups_and_weights() -> None:
    model = tiny_model({"fusion": "gate", "lookup": "smooth", **SMALL})
    randomize_memory(model)
    atoms = _atoms(1)
    plain = energy_forces(model, atoms, seed=3)
    with capture(model) as cap:
        seen = energy_forces(model, atoms, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(plain, seen, strict=True))
    rec = cap.records[-1]
    n_edges, n_trip = rec.keys.num_edges, rec.keys.num_triplets
    assert rec.weighted and n_trip > 0
    assert rec.pair_lookup_bucket.shape == (n_edges, 2, 2) and rec.pair_weight.shape == (n_edges, 2)
    assert rec.triplet_lookup_bucket.shape == (n_trip, 2, 2)
    torch.testing.assert_close(rec.pair_weight.sum(1), torch.ones(n_edges))
    mass = rec.triplet_weight.sum(1)
    assert ((mass >= 0) & (mass <= 1)).all() and not rec.triplet_weight.requires_grad
    # lookup buckets are the hashes of the blend keys; pair_bucket the edge's own key's
    mem = model.backbone.motif_memory
    a, b = mem.triplet_hash_a.numpy(), mem.triplet_hash_b.numpy()
    want = hash_numpy(rec.keys.triplet_blend_key.reshape(-1).numpy(), a, b, 512)
    np.testing.assert_array_equal(rec.triplet_lookup_bucket.reshape(-1, 2).numpy(), want)
    a, b = mem.pair_hash_a.numpy(), mem.pair_hash_b.numpy()
    np.testing.assert_array_equal(
        rec.pair_bucket.numpy(), hash_numpy(rec.keys.pair_key.numpy(), a, b, 256)
    )
    # weighted mass per bucket: each edge puts total mass 1 on the rows it reads
    mass_per_bucket = torch.zeros(256).index_add_(
        0, rec.pair_lookup_bucket[:, :, 0].reshape(-1), rec.pair_weight.reshape(-1).float()
    )
    torch.testing.assert_close(mass_per_bucket.sum(), torch.tensor(float(n_edges)))


def test_capture_of_a_hard_model_has_no_weights() -> None:
    model = tiny_model({"lookup": "hard", **SMALL})
    with capture(model) as cap:
        model(tiny_batch(_atoms(2)))
    rec = cap.records[-1]
    assert not rec.weighted and rec.pair_weight is None and rec.triplet_lookup_bucket is None
    assert rec.pair_bucket.shape == (rec.keys.num_edges, 2)
