"""PaMM backbones: baseline parity at init, symmetry, gradient flow, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from fairchem.core.models.base import HydraModel

from pamm.backbone import PaMMBackbone
from pamm.testing import (
    TINY_BACKBONE,
    energy_forces,
    ideal_crystals,
    random_crystal,
    random_rotation,
    randomize_memory,
    rotate_atoms,
    tiny_batch,
    tiny_model,
)

HEADS = {"efs": {"module": "fairchem.core.models.uma.escn_md.MLP_EFS_Head"}}
SMALL = {"pair_buckets": 256, "triplet_buckets": 512}


def _plain_model(moe: bool) -> HydraModel:
    if moe:
        backbone = {
            "model": "fairchem.core.models.uma.escn_moe.eSCNMDMoeBackbone",
            "num_experts": 2,
        }
    else:
        backbone = {"model": "fairchem.core.models.uma.escn_md.eSCNMDBackbone"}
    return HydraModel(backbone={**backbone, **TINY_BACKBONE}, heads=HEADS)


def _crystals(seed: int = 0, sizes=(4, 3)) -> list[Atoms]:
    rng = np.random.default_rng(seed)
    return [random_crystal(rng, n_atoms=n) for n in sizes]


@pytest.mark.parametrize("lookup", ["hard", "smooth"])
@pytest.mark.parametrize("moe", [False, True])
@pytest.mark.parametrize("fusion", ["gate", "affine"])
def test_zero_init_equals_plain_backbone(moe: bool, fusion: str, lookup: str) -> None:
    plain = _plain_model(moe)
    pamm = tiny_model({"fusion": fusion, "lookup": lookup, **SMALL}, moe=moe)
    result = pamm.load_state_dict(plain.state_dict(), strict=False)
    assert not result.unexpected_keys
    assert all(".motif_" in k for k in result.missing_keys) and result.missing_keys
    atoms = _crystals()
    e0, f0, s0 = energy_forces(plain, atoms)
    e1, f1, s1 = energy_forces(pamm, atoms)
    assert (e0 - e1).abs().max() <= 1e-5
    assert (f0 - f1).abs().max() <= 1e-5
    assert (s0 - s1).abs().max() <= 1e-5
    randomize_memory(pamm)  # the check can fail: non-zero fusion changes predictions
    e2, _, _ = energy_forces(pamm, atoms)
    assert (e0 - e2).abs().max() > 1e-4


@pytest.mark.parametrize("mode", ["pamm", "random_bucket", "mlp"])
def test_same_seed_same_backbone_and_heads_bit_for_bit(mode: str) -> None:
    """Paired initialisation: the memory draws from its own stream, not the global one."""
    torch.manual_seed(7)
    base = tiny_model({"mode": "baseline"})
    torch.manual_seed(7)
    variant = tiny_model({"mode": mode, **SMALL})
    shared = base.state_dict()
    got = variant.state_dict()
    assert shared.keys() < got.keys()
    assert all(torch.equal(shared[k], got[k]) for k in shared)
    # the memory still depends on the seed, and the global stream is left as if no
    # memory had been built
    torch.manual_seed(8)
    other = tiny_model({"mode": mode, **SMALL})
    after = torch.rand(1)
    torch.manual_seed(8)
    tiny_model({"mode": "baseline"})
    assert torch.equal(after, torch.rand(1))
    memory = [k for k in got if ".motif_memory." in k and got[k].is_floating_point()]
    assert memory and any(not torch.equal(got[k], other.state_dict()[k]) for k in memory)


def test_baseline_mode_is_exactly_the_parent() -> None:
    plain = _plain_model(False)
    base = tiny_model({"mode": "baseline"})
    assert base.state_dict().keys() == plain.state_dict().keys()
    base.load_state_dict(plain.state_dict())
    atoms = _crystals(1)
    got, want = energy_forces(base, atoms, seed=1), energy_forces(plain, atoms, seed=1)
    for a, b in zip(got, want, strict=True):
        assert torch.equal(a, b)
    assert isinstance(base.backbone, PaMMBackbone) and base.backbone.motif_memory is None


def test_moe_merge_keeps_memory_and_predictions() -> None:
    model = tiny_model({"fusion": "affine", **SMALL}, moe=True)
    randomize_memory(model)
    model.eval()
    atoms = _crystals(2, sizes=(3,))
    batch = tiny_batch(atoms)
    e0 = model(batch)["efs"]["energy"]["energy"].detach()
    merged = model.backbone.merge_MOLE_model(tiny_batch(atoms))
    assert isinstance(merged, PaMMBackbone) and merged.motif_memory is not None
    model.backbone = merged
    e1 = model(tiny_batch(atoms))["efs"]["energy"]["energy"].detach()
    assert (e0 - e1).abs().max() <= 1e-5


@pytest.mark.parametrize("lookup", ["hard", "smooth"])
# (random_bucket reads fresh random rows every forward: its energy is not a function of
# the structure, so it has no symmetry to test; see test_memory_fusion)
@pytest.mark.parametrize("mode_fusion", [("pamm", "gate"), ("pamm", "affine")])
def test_energy_invariant_forces_equivariant_with_random_memory(mode_fusion, lookup) -> None:
    mode, fusion = mode_fusion
    model = tiny_model({"mode": mode, "fusion": fusion, "lookup": lookup, **SMALL})
    randomize_memory(model, seed=3)
    model.eval()
    rng = np.random.default_rng(7)
    atoms = _crystals(3)
    rot, shift = random_rotation(rng), rng.normal(size=3)
    moved = [rotate_atoms(a, rot, shift) for a in atoms]
    e0, f0, _ = energy_forces(model, atoms)
    e1, f1, _ = energy_forces(model, moved)
    torch.testing.assert_close(e1, e0, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(
        f1, f0 @ torch.as_tensor(rot.T, dtype=f0.dtype), atol=1e-4, rtol=1e-4
    )


@pytest.mark.parametrize("lookup", ["hard", "smooth"])
def test_ideal_crystals_energy_invariant_with_random_memory(lookup: str) -> None:
    # exact lattice angles sit on bin edges: the memory must not see float noise
    model = tiny_model({"fusion": "affine", "lookup": lookup, **SMALL})
    randomize_memory(model, scale=1.0, seed=4)
    model.eval()
    rng = np.random.default_rng(11)
    atoms = ideal_crystals()
    e0, f0, _ = energy_forces(model, atoms)
    for _ in range(3):
        rot = random_rotation(rng)
        moved = [rotate_atoms(a, rot, rng.normal(size=3)) for a in atoms]
        e1, f1, _ = energy_forces(model, moved)
        torch.testing.assert_close(e1, e0, atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(
            f1, f0 @ torch.as_tensor(rot.T, dtype=f0.dtype), atol=1e-4, rtol=1e-4
        )


@pytest.mark.parametrize("lookup", ["hard", "smooth"])
def test_supercell_has_the_same_energy_per_atom_and_forces(lookup: str) -> None:
    model = tiny_model({"fusion": "affine", "lookup": lookup, **SMALL})
    randomize_memory(model, seed=5)
    model.eval()
    cells = _crystals(8, sizes=(3,))
    cells[0].rattle(0.05, seed=1)
    big = cells[0].repeat((2, 1, 2))
    e0, f0, s0 = energy_forces(model, cells)
    e1, f1, s1 = energy_forces(model, [big])
    torch.testing.assert_close(e1, 4 * e0, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(f1, f0.repeat(4, 1), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(s1, s0, atol=1e-4, rtol=1e-4)
    assert f0.abs().max() > 1e-3  # rattled: the check compares non-trivial forces


@pytest.mark.parametrize("lookup", ["hard", "smooth"])
def test_gradients_reach_tables_after_first_step(lookup: str) -> None:
    model = tiny_model({"fusion": "gate", "lookup": lookup, **SMALL})
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    memory, fusion = model.backbone.motif_memory, model.backbone.motif_fusion
    batch_atoms = _crystals(4)

    def step() -> None:
        opt.zero_grad()
        out = model(tiny_batch(batch_atoms))["efs"]
        loss = out["energy"]["energy"].square().sum() + out["forces"]["forces"].square().sum()
        loss.backward()

    step()
    # W_v = 0: tables (and the gate) get exactly zero gradient, W_v does not
    assert fusion.value.weight.grad.abs().sum() > 0
    for p in (memory.pair_table, memory.triplet_table):
        assert p.grad is None or p.grad.abs().sum() == 0
    opt.step()
    step()
    for p in (memory.pair_table, memory.triplet_table, fusion.value.weight, fusion.gate.weight):
        assert p.grad is not None and p.grad.abs().sum() > 0
    # only looked-up rows receive gradient
    assert (memory.pair_table.grad.abs().sum(-1) > 0).sum() < memory.pair_table[0].numel()


def test_atomic_numbers_outside_embedding_or_keys_raise() -> None:
    atoms = _crystals(5, sizes=(2,))
    model = tiny_model(SMALL)
    bad = atoms[0].copy()
    bad.numbers[0] = 100
    with pytest.raises(ValueError, match="atomic number 100 is outside the element embedding"):
        energy_forces(model, [bad])
    big = tiny_model(SMALL, max_num_elements=140)
    bad.numbers[0] = 130
    with pytest.raises(ValueError, match="atomic number 130 >= 128"):
        energy_forces(big, [bad])


def test_spec_cutoff_must_match_backbone() -> None:
    with pytest.raises(ValueError, match="must equal the backbone cutoff"):
        tiny_model({"cutoff": 6.0})
    with pytest.raises(ValueError, match="unknown MotifMemorySpec field"):
        tiny_model({"buckets": 6})


def test_structure_without_edges_is_well_defined() -> None:
    # an isolated atom: no motifs, so PaMM (even with random memory) equals the plain model
    lonely = Atoms("O", positions=[[1.0, 1.0, 1.0]], cell=[12.0, 12.0, 12.0], pbc=True)
    plain = _plain_model(False)
    model = tiny_model(SMALL)
    model.load_state_dict(plain.state_dict(), strict=False)
    randomize_memory(model)
    e0, f0, _ = energy_forces(plain, [lonely], seed=2)
    e1, f1, _ = energy_forces(model, [lonely], seed=2)
    assert torch.equal(e0, e1) and torch.equal(f0, f1)
    # inside a batch with edges the lonely atom still gets a finite energy
    e2, _, _ = energy_forces(model, [lonely, *_crystals(6, sizes=(3,))])
    assert torch.isfinite(e2).all()
