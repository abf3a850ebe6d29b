"""MotifMemory lookups, controls and fusion identity at init."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pamm.blend import blend_lookups, envelope
from pamm.fusion import AffineFusion, GateFusion, build_fusion
from pamm.hashing import hash_numpy, hash_params
from pamm.keys import extract_motifs
from pamm.memory import MotifMemory
from pamm.mlp_control import table_param_count
from pamm.spec import MotifMemorySpec
from pamm.testing import ase_edges, random_crystal

SMALL = {"pair_buckets": 64, "triplet_buckets": 256, "heads": 2, "head_dim": 4}


def _graph(seed: int = 0):
    atoms = random_crystal(np.random.default_rng(seed), n_atoms=4)
    edges = ase_edges(atoms, 5.0)
    ei = torch.from_numpy(edges["edge_index"])
    z = torch.from_numpy(atoms.numbers)
    return (
        ei,
        torch.from_numpy(edges["edge_distance"]).float(),
        torch.from_numpy(edges["edge_distance_vec"]).float(),
        z,
    )


def _lookup(mode: str, seed: int = 0, lookup: str = "hard", **extra):
    spec = MotifMemorySpec(mode=mode, cutoff=5.0, lookup=lookup, **SMALL, **extra)
    ei, d, vec, z = _graph(seed)
    keys = extract_motifs(ei, d, vec, z, spec)
    if spec.smooth:
        keys = blend_lookups(keys, d, vec, spec)
    mem = MotifMemory(spec, edge_dim=12)
    x = torch.randn(ei.shape[1], 12)
    batch = torch.zeros(len(z), dtype=torch.long)
    out = mem(
        keys,
        x_edge=x,
        atomic_numbers=z,
        batch=batch,
        edge_index=ei,
        edge_distance=d,
        edge_distance_vec=vec,
    )
    return spec, keys, mem, out


def test_pamm_lookup_is_pair_row_and_mean_of_triplet_rows() -> None:
    _, keys, mem, out = _lookup("pamm")
    assert out.m.shape == (keys.num_edges, 16)
    a, b = hash_params(0, 2, "pair")
    np.testing.assert_array_equal(
        out.pair_bucket.numpy(), hash_numpy(keys.pair_key.numpy(), a, b, 64)
    )
    e = 5
    want_pair = torch.cat([mem.pair_table[h, out.pair_bucket[e, h]] for h in range(2)])
    torch.testing.assert_close(out.m[e, :8], want_pair)
    for e in range(keys.num_edges):  # slow loop reference of the mean over partners
        rows = [
            torch.cat([mem.triplet_table[h, out.triplet_bucket[t, h]] for h in range(2)])
            for t in range(keys.num_triplets)
            if keys.triplet_edge[t] == e
        ]
        want = torch.stack(rows).mean(0) if rows else torch.zeros(8)
        torch.testing.assert_close(out.m[e, 8:], want)
    assert (keys.triplet_edge.bincount(minlength=keys.num_edges) == 0).any()  # some edges have none


def test_smooth_lookup_is_blended_rows_and_enveloped_sum() -> None:
    spec, keys, mem, out = _lookup("pamm", lookup="smooth")
    assert out.pair_bucket.shape == (keys.num_edges, 2, 2)
    assert out.triplet_bucket.shape == (keys.num_triplets, 2, 2)
    torch.testing.assert_close(keys.pair_blend_weight.sum(1), torch.ones(keys.num_edges))
    # the triplet weights sum to the envelope mass f(r_ij) f(r_ik)
    _, d, _, _ = _graph(0)
    f = envelope(d, spec.triplet_cutoff, spec.triplet_envelope_width)
    mass = f[keys.triplet_edge] * f[keys.triplet_partner]
    torch.testing.assert_close(keys.triplet_blend_weight.sum(1), mass)
    assert (mass < 1).any() and (mass == 1).any()  # some partners in the envelope's tail

    def row(table, bucket):  # [2 slots, H] -> [2, H*D]
        return torch.stack([torch.cat([table[h, b[h]] for h in range(2)]) for b in bucket])

    for e in range(keys.num_edges):  # slow loop reference
        w = keys.pair_blend_weight[e]
        want = (w[:, None] * row(mem.pair_table, out.pair_bucket[e])).sum(0)
        torch.testing.assert_close(out.m[e, :8], want)
        mine = (keys.triplet_edge == e).nonzero().flatten().tolist()
        total, norm = torch.zeros(8), 1.0
        for t in mine:
            w = keys.triplet_blend_weight[t]
            total += (w[:, None] * row(mem.triplet_table, out.triplet_bucket[t])).sum(0)
            norm += float(w.sum())
        torch.testing.assert_close(out.m[e, 8:], total / norm)
    # the blend keys are the (Zj, Zi) / (Zj, Zi, Zk) of the edge's own key, bins b0, b0 + 1
    assert torch.equal(keys.pair_blend_key >> 10, (keys.pair_key >> 10)[:, None].expand(-1, 2))
    low, high = keys.pair_blend_key[:, 0] & 1023, keys.pair_blend_key[:, 1] & 1023
    assert ((high - low == 1) | (high == low)).all()
    own = keys.pair_bin[:, None]
    assert ((keys.pair_blend_key & 1023) == own).any(1).all()


@pytest.mark.parametrize("lookup", ["hard", "smooth"])
def test_triplet_sum_is_the_unnormalised_mean(lookup: str) -> None:
    """triplet_reduce="sum": the same rows, times the mean's divisor; pair half unchanged."""
    torch.manual_seed(3)
    _, keys, _, mean = _lookup("pamm", lookup=lookup)
    torch.manual_seed(3)  # same tables
    _, _, _, total = _lookup("pamm", lookup=lookup, triplet_reduce="sum")
    torch.testing.assert_close(total.m[:, :8], mean.m[:, :8])
    te = keys.triplet_edge
    if lookup == "hard":
        divisor = te.bincount(minlength=keys.num_edges).clamp_min(1).float()
    else:
        divisor = 1.0 + torch.zeros(keys.num_edges).index_add(
            0, te, keys.triplet_blend_weight.sum(1)
        )
    assert (divisor > 1.5).any()  # the two differ somewhere
    torch.testing.assert_close(total.m[:, 8:], mean.m[:, 8:] * divisor[:, None])


def test_pair_only_and_triplet_only_halves() -> None:
    _, _, mem, out = _lookup("pair_only")
    assert mem.triplet_table is None and out.triplet_bucket is None and out.m.shape[1] == 8
    _, _, mem, out = _lookup("triplet_only")
    assert mem.pair_table is None and out.pair_bucket is None and out.m.shape[1] == 8


@pytest.mark.parametrize("lookup", ["hard", "smooth"])
def test_random_bucket_draws_fresh_rows_every_forward(lookup: str) -> None:
    spec, keys, mem, out = _lookup("random_bucket", lookup=lookup)
    ei, d, _, z = _graph(0)
    again = mem(
        keys,
        x_edge=torch.randn(ei.shape[1], 12),
        atomic_numbers=z,
        batch=torch.zeros(len(z), dtype=torch.long),
        edge_index=ei,
        edge_distance=d,
    )
    # a new forward of the same structure reads other rows: no structure identity
    assert (out.pair_bucket != again.pair_bucket).float().mean() > 0.9
    assert (out.triplet_bucket != again.triplet_bucket).float().mean() > 0.9
    # no motif identity: equal motifs read different rows within one forward too
    pair = out.pair_bucket[:, 0] if lookup == "smooth" else out.pair_bucket  # [E, H]
    values, counts = keys.pair_key.unique(return_counts=True)
    same = keys.pair_key == values[counts.argmax()]
    assert same.sum() > 1 and len(set(pair[same, 0].tolist())) > 1
    assert int(out.triplet_bucket.max()) < spec.triplet_buckets
    if lookup == "smooth":  # both blend slots read the same random row
        assert torch.equal(out.pair_bucket[:, 0], out.pair_bucket[:, 1])
    # the module's own seeded stream: a new memory repeats the first draw exactly
    _, _, _, first = _lookup("random_bucket", lookup=lookup)
    assert torch.equal(first.pair_bucket, out.pair_bucket)
    # and rows are spread over the whole table (a uniform draw, not a hash of few codes)
    _, _, _, real = _lookup("pamm", lookup=lookup)
    assert not torch.equal(out.pair_bucket, real.pair_bucket)


def test_mlp_control_is_parameter_matched() -> None:
    for spec_kwargs in [{}, SMALL, {"heads": 4, "head_dim": 8}, {"pair_bin_width": 0.05}]:
        spec = MotifMemorySpec(mode="mlp", **spec_kwargs)
        n_mlp = sum(p.numel() for p in MotifMemory(spec, edge_dim=12).parameters())
        n_tables = table_param_count(spec)
        pamm = MotifMemory(MotifMemorySpec(mode="pamm", **spec_kwargs), edge_dim=12)
        assert n_tables == sum(p.numel() for p in pamm.parameters())
        assert abs(n_mlp - n_tables) <= 0.05 * n_tables
    with pytest.raises(ValueError, match="mlp control"):
        MotifMemory(
            MotifMemorySpec(mode="mlp", pair_buckets=1, triplet_buckets=1, head_dim=1),
            edge_dim=12,
        )


@pytest.mark.parametrize("lookup", ["hard", "smooth"])
def test_mlp_control_sees_partner_elements_and_angles(lookup: str) -> None:
    """Same (Zj, Zi, r) but another partner element k, or another angle: another m."""
    spec = MotifMemorySpec(mode="mlp", cutoff=5.0, lookup=lookup, **SMALL)
    torch.manual_seed(0)
    mem = MotifMemory(spec, edge_dim=4)

    def m_of(zk: int, angle_deg: float) -> torch.Tensor:
        # centre i at the origin, j on x at 1.9 Å, k at 2.0 Å at angle_deg from j
        t = np.radians(angle_deg)
        vec = torch.tensor([[1.9, 0, 0], [2.0 * np.cos(t), 2.0 * np.sin(t), 0]])  # j, k -> i
        d = vec.norm(dim=1)
        ei = torch.tensor([[1, 2], [0, 0]])
        z = torch.tensor([8, 14, zk])
        keys = extract_motifs(ei, d, vec, z, spec)
        if spec.smooth:
            keys = blend_lookups(keys, d, vec, spec)
        out = mem(keys, x_edge=torch.zeros(2, 4), atomic_numbers=z,
                  batch=torch.zeros(3, dtype=torch.long), edge_index=ei,
                  edge_distance=d, edge_distance_vec=vec)  # fmt: skip
        return out.m[0]  # edge j -> i

    base = m_of(12, 100.0)
    assert not torch.allclose(base, m_of(20, 100.0), atol=1e-4)  # partner element
    assert not torch.allclose(base, m_of(12, 140.0), atol=1e-4)  # angle
    torch.testing.assert_close(base, m_of(12, 100.0))


@pytest.mark.parametrize("cls", [GateFusion, AffineFusion])
def test_fusion_is_identity_at_init_and_not_after(cls) -> None:
    fusion = cls(edge_dim=6, memory_dim=4)
    x, m = torch.randn(7, 6), torch.randn(7, 4)
    out, g = fusion(x, m)
    assert torch.equal(out, x) and g.shape == (7, 6) and ((g > 0) & (g < 1)).all()
    with torch.no_grad():
        for p in fusion.parameters():
            p.normal_()
    out, g = fusion(x, m)
    want = x + g * (m @ fusion.value.weight.T)
    if cls is AffineFusion:
        want = want + (m @ fusion.scale.weight.T) * x
    torch.testing.assert_close(out, want)
    assert not torch.allclose(out, x)
    assert isinstance(build_fusion("affine", edge_dim=2, memory_dim=2), AffineFusion)
    with pytest.raises(ValueError, match="film"):
        build_fusion("film", edge_dim=2, memory_dim=2)


def test_smooth_lookup_without_triplets() -> None:
    # a triplet cutoff below every distance: no triplets, the triplet half is zero
    _, keys, _, out = _lookup("pamm", lookup="smooth", triplet_cutoff=0.5)
    assert keys.num_triplets == 0 and out.triplet_bucket.shape == (0, 2, 2)
    assert torch.equal(out.m[:, 8:], torch.zeros(keys.num_edges, 8))
