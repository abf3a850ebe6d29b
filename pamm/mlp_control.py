"""The ``mlp`` control: a parameter-matched MLP fed what the motif keys hold.

The keys of edge e = j -> i are (Zj, Zi, b_r) and, per triplet partner k,
(Zj, Zi, Zk, b_θ). The control sees the same information at the same resolution, but
through a network instead of hashed rows:

    pair input     [emb(Zj) ; emb(Zi) ; ρ(r_ij)]                     ρ: Gaussians, one per
    triplet input  A_e = Σ_k w_k emb(Zk) ⊗ α(θ_jik) / (1 + Σ_k w_k)      distance bin; α: one
    m_e = MLP([pair input ; A_e])                                       per angle bin

emb is a learned element embedding (``EMB_DIM`` wide), the Gaussians sit at the bin
centres with the bin width as σ, and the partner weights w_k are those of the tables:
the C² envelope mass with ``lookup="smooth"`` (then m is as smooth as the tables'
lookup), 1 per partner with ``hard`` (and the divisor is the partner count, a mean).
With ``triplet_reduce="sum"`` there is no divisor, as in the tables.
The MLP has two hidden layers of equal width, chosen so the control's parameter count
(embedding included) is within ±5 % of the tables' (:func:`mlp_hidden_width`).

>>> from pamm.spec import MotifMemorySpec
>>> spec = MotifMemorySpec(mode="mlp", pair_buckets=256, triplet_buckets=512)
>>> control = MotifMLP(spec)
>>> n = sum(p.numel() for p in control.parameters())
>>> abs(n - 2 * 16 * (256 + 512)) <= 0.05 * 2 * 16 * (256 + 512)
True
"""

from __future__ import annotations

import math

import torch
from torch import nn

from pamm.keys import MAX_Z, MotifKeys
from pamm.spec import MotifMemorySpec

__all__ = ["EMB_DIM", "MLP_PARAM_TOLERANCE", "MotifMLP", "mlp_hidden_width", "table_param_count"]

#: width of the control's element embedding
EMB_DIM = 8
#: relative tolerance of the control's parameter count
MLP_PARAM_TOLERANCE = 0.05


def table_param_count(spec: MotifMemorySpec) -> int:
    """Parameters of the pair + triplet tables of ``spec`` (the ``pamm`` memory)."""
    return spec.heads * spec.head_dim * (spec.pair_buckets + spec.triplet_buckets)


def _input_dim(spec: MotifMemorySpec) -> int:
    return 2 * EMB_DIM + spec.n_pair_bins + EMB_DIM * spec.n_angle_bins


def _count(spec: MotifMemorySpec, hidden: int) -> int:
    out = spec.memory_dim
    return (
        MAX_Z * EMB_DIM
        + (_input_dim(spec) + 1) * hidden
        + (hidden + 1) * hidden
        + (hidden + 1) * out
    )


def mlp_hidden_width(spec: MotifMemorySpec) -> int:
    """Hidden width of both layers matching ``table_param_count`` within ±5 %.

    >>> mlp_hidden_width(MotifMemorySpec())
    678
    """
    target = table_param_count(spec)
    a, b = 1.0, _input_dim(spec) + 2.0 + spec.memory_dim  # h² + b h + c = target
    c = MAX_Z * EMB_DIM + spec.memory_dim - target
    hidden = max(1, round((-b + math.sqrt(max(b * b - 4 * a * c, 0.0))) / (2 * a)))
    got = _count(spec, hidden)
    if abs(got - target) > MLP_PARAM_TOLERANCE * target:
        raise ValueError(
            f"mlp control cannot match the tables' {target} parameters within 5 % "
            f"(its smallest form has {_count(spec, 1)}); use larger tables"
        )
    return hidden


def _gaussians(x: torch.Tensor, lo: float, width: float, n: int) -> torch.Tensor:
    """[len(x), n] Gaussians at the centres of n bins of ``width`` from ``lo``, σ = width."""
    centres = lo + width * (torch.arange(n, device=x.device, dtype=x.dtype) + 0.5)  # [n]
    return torch.exp(-0.5 * ((x.unsqueeze(1) - centres) / width) ** 2)


class MotifMLP(nn.Module):
    """m [E, memory_dim] from (Zj, Zi, r) and the partners' (Zk, θ) (module docstring)."""

    def __init__(self, spec: MotifMemorySpec) -> None:
        super().__init__()
        self.spec = spec
        hidden = mlp_hidden_width(spec)
        self.embed = nn.Embedding(MAX_Z, EMB_DIM)
        self.net = nn.Sequential(
            nn.Linear(_input_dim(spec), hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, spec.memory_dim),
        )

    def forward(
        self,
        keys: MotifKeys,
        atomic_numbers: torch.Tensor,
        edge_index: torch.Tensor,
        edge_distance: torch.Tensor,
        edge_distance_vec: torch.Tensor,
    ) -> torch.Tensor:
        """m [E, memory_dim]; differentiable in the distances and vectors (forces)."""
        spec = self.spec
        z = atomic_numbers.long()
        j, i = edge_index[0], edge_index[1]  # [E]
        dtype = self.embed.weight.dtype
        r = edge_distance.to(dtype)  # [E]
        rho = _gaussians(r, 0.0, spec.pair_bin_width, spec.n_pair_bins)  # [E, n_r]
        e, p = keys.triplet_edge, keys.triplet_partner  # [T]
        vec = edge_distance_vec.to(dtype)  # [E, 3]
        cos = (vec[e] * vec[p]).sum(1) / (r[e] * r[p])  # [T]
        theta = torch.rad2deg(torch.acos(cos.clamp(-1 + 1e-6, 1 - 1e-6)))  # [T]
        alpha = _gaussians(theta, 0.0, spec.angle_bin_deg, spec.n_angle_bins)  # [T, n_θ]
        zk = self.embed(z[j[p]])  # [T, EMB]
        # smooth: the envelope mass, summed over 1 + the mass; hard: each kept partner 1, a mean
        w = keys.triplet_blend_weight.sum(1).to(dtype) if keys.weighted else torch.ones_like(theta)
        per_triplet = (w.unsqueeze(1) * zk).unsqueeze(2) * alpha.unsqueeze(1)  # [T, EMB, n_θ]
        num_edges = edge_index.shape[1]
        sums = r.new_zeros(num_edges, per_triplet[0].numel())  # [E, EMB * n_θ]
        sums = sums.index_add(0, e, per_triplet.reshape(len(e), -1))
        mass = r.new_zeros(num_edges).index_add(0, e, w)  # [E]
        if spec.triplet_reduce == "mean":  # the memory's own normaliser (pamm.memory)
            denominator = 1.0 + mass if keys.weighted else mass.clamp_min(1.0)  # [E]
            sums = sums / denominator.unsqueeze(1)
        angular = sums  # [E, EMB * n_θ]
        features = torch.cat((self.embed(z[j]), self.embed(z[i]), rho, angular), dim=1)
        return self.net(features)  # [E, memory_dim]
