"""benchmarks/planted_where.py (key groups, switching them off) and
benchmarks/planted_candidates.py (the vectorised plant sums, the parent statistics)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from analysis.ablation_effects import predict  # noqa: E402
from benchmarks.planted_candidates import (  # noqa: E402
    between_parent_share,
    triplet_angles,
)
from benchmarks.planted_where import key_groups, keys_off, other_planted  # noqa: E402
from pamm.ablation import Ablation, ablate  # noqa: E402
from pamm.capture import find_pamm_backbone  # noqa: E402
from pamm.data.planted import PlantedMotif, planted_labels  # noqa: E402
from pamm.testing import random_crystal, randomize_memory, tiny_model  # noqa: E402

TRIPLET = PlantedMotif("triplet", ("Ti", "O", "Ti"), centre=105.0, half_width=5.0, strength=1.0)
PAIR = PlantedMotif("pair", ("O", "Si"), centre=1.65, half_width=0.05, strength=1.0)


def _random_keys(n: int, table: str) -> list[torch.Tensor]:
    rng = np.random.default_rng(0)
    z = [8, 12, 14, 22]
    cols = [torch.as_tensor(rng.choice(z, n)) for _ in range(2 if table == "pair" else 3)]
    return [*cols, torch.as_tensor(rng.integers(0, 18, n))]


@pytest.mark.parametrize("motif", [TRIPLET, PAIR])
def test_key_groups_partition_each_table(motif: PlantedMotif) -> None:
    """The named sub-groups of each table are disjoint and cover it; the planted keys are
    exactly the motif's elements in the ablation bins."""
    groups = key_groups(motif, (9, 10, 11))
    for table in ("pair", "triplet"):
        keys = _random_keys(5000, table)
        parts = [p(*keys) for t, p in groups.values() if t == table]
        whole = groups[f"{table} table"][1](*keys)
        assert len(parts) >= 3 and whole.all()
        count = torch.stack(parts[:-1]).sum(0)  # the last part of each table is the table
        assert (count == 1).all(), f"{table}: groups overlap or leave keys out"
    table, planted = groups["planted keys"]
    keys = _random_keys(5000, table)
    hit = planted(*keys)
    assert hit.any() and (~hit).any()
    if motif.kind == "triplet":
        zj, zi, zk, b = keys
        want = (zi == 8) & (zj == 22) & (zk == 22) & torch.isin(b, torch.tensor([9, 10, 11]))
    else:
        zj, zi, b = keys
        pair = ((zj == 8) & (zi == 14)) | ((zj == 14) & (zi == 8))
        want = pair & torch.isin(b, torch.tensor([9, 10, 11]))
    assert torch.equal(hit, want)


def test_keys_off_matches_the_lab_s_ablations_and_restores_the_memory() -> None:
    """Whole-table and whole-memory groups give the energies of ``pamm.ablation``'s
    ``table`` / ``memory`` ablations; a group no key falls in changes nothing bitwise; the
    memory's ``row_edit`` is restored; nesting is refused."""
    for lookup in ("hard", "smooth"):
        model = tiny_model({"pair_buckets": 64, "triplet_buckets": 128, "lookup": lookup})
        randomize_memory(model, scale=0.5)
        rng = np.random.default_rng(3)
        frames = [random_crystal(rng, n_atoms=4, elements=(8, 12, 22)) for _ in range(3)]
        ref = predict(model, frames).energy
        groups = key_groups(TRIPLET, (9, 10, 11))
        for table in ("pair", "triplet"):
            with keys_off(model, *groups[f"{table} table"]):
                mine = predict(model, frames).energy
            with ablate(model, Ablation("table", table=table)):
                lab = predict(model, frames).energy
            assert np.allclose(mine, lab, atol=1e-6) and not np.allclose(mine, ref, atol=1e-4)
        with keys_off(model, *groups["memory"]):
            mine = predict(model, frames).energy
        with ablate(model, Ablation("memory")):
            lab = predict(model, frames).energy
        assert np.array_equal(mine, lab)
        with keys_off(model, "pair", lambda zj, zi, b: zj == 99):
            assert np.array_equal(predict(model, frames).energy, ref)
        memory = find_pamm_backbone(model).motif_memory
        assert memory.row_edit is None
        outer = ablate(model, Ablation("table", table="pair"))
        inner = keys_off(model, *groups["triplet table"])
        with outer, pytest.raises(RuntimeError, match="does not nest"), inner:
            pass


def test_candidate_sums_equal_planted_labels() -> None:
    """The vectorised per-structure sum of one candidate equals ``planted_labels`` of that
    motif (flat envelope), on a rattled rutile cell holding Ti–O–Ti angles."""
    cell = np.diag([4.594, 4.594, 2.959])
    u = 0.305
    frac = [[0, 0, 0], [0.5, 0.5, 0.5], [u, u, 0], [1 - u, 1 - u, 0],
            [0.5 + u, 0.5 - u, 0.5], [0.5 - u, 0.5 + u, 0.5]]  # fmt: skip
    rutile = Atoms("Ti2O4", scaled_positions=frac, cell=cell, pbc=True) * (1, 1, 2)
    rutile.rattle(0.08, seed=2)
    for centre in (95.0, 105.0, 135.0):
        motif = PlantedMotif("triplet", ("Ti", "O", "Ti"), centre=centre, half_width=5.0,
                             strength=1.0, envelope="flat", cutoff=3.0)  # fmt: skip
        elements, angles, weights = triplet_angles(rutile, 3.0, motif.envelope_width)
        mine = (elements[:, 0] == 22) & (elements[:, 1] == 8) & (elements[:, 2] == 22)
        x = (angles[mine] - centre) / 5.0
        total = float((np.clip(1 - x * x, 0, None) ** 3 * weights[mine]).sum())
        assert abs(total - planted_labels(rutile, motif)[0]) < 1e-9
        if centre == 95.0:
            assert total > 0.1  # rutile's edge-sharing Ti–O–Ti angles are ~99°


def test_between_parent_share() -> None:
    """0 when every parent has the same mean, 1 when each parent is constant."""
    parents = np.array(["a", "a", "b", "b"])
    assert between_parent_share(np.array([1.0, 3.0, 1.0, 3.0]), parents) == 0.0
    assert between_parent_share(np.array([1.0, 1.0, 3.0, 3.0]), parents) == 1.0
    assert abs(between_parent_share(np.array([0.0, 2.0, 2.0, 4.0]), parents) - 0.5) < 1e-12


def test_other_planted_marks_structures_holding_the_other_motif() -> None:
    """The "alone" subset of ``planted_where``: a structure with an Si–O bond in the planted
    bin has a non-zero other term (equal to ``planted_labels``), one without Si has zero."""
    box = np.eye(3) * 10.0
    silicate = Atoms("SiO", positions=[[0, 0, 0], [1.65, 0, 0]], cell=box, pbc=True)
    no_si = Atoms("TiO", positions=[[0, 0, 0], [1.65, 0, 0]], cell=box, pbc=True)
    other = other_planted([silicate, no_si], [PAIR.scaled(0.3)])
    assert other[0] > 0.0 and other[1] == 0.0
    assert abs(other[0] - planted_labels(silicate, PAIR.scaled(0.3))[0]) < 1e-12
    assert not other_planted([silicate], []).any()
