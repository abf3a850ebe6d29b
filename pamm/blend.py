"""Smooth motif lookups: bin blends (a C² partition of unity) and the triplet envelope.

With ``lookup="smooth"`` every row the memory reads enters m with a weight that is a C²
function of the positions, so the energy is continuous and the autograd forces are its
exact gradient. Keys and buckets stay discrete: one edge reads the rows of the two
neighbouring bins' keys. The formulas (s the quintic smoothstep)::

    s(t) = t³ (6 t² - 15 t + 10)        s(0) = 0, s(1) = 1, s' = s'' = 0 at both ends

    bin blend of x (bin width Δ, n bins, centres (b + ½) Δ):
        u = clamp(x / Δ - ½, 0, n - 1),  b₀ = min(⌊u⌋, n - 2),  t = u - b₀
        w(b₀) = 1 - s(t),  w(b₀ + 1) = s(t)          (sum 1; constant within ½ bin of either end)

    triplet envelope (r_t = triplet_cutoff, w = triplet_envelope_width):
        f(r) = 1 - s(clamp((r - r_t + w) / w, 0, 1))   (1 up to r_t - w, 0 from r_t on, C²)

    memory of edge e = j -> i, partners k = every other edge k -> i with r_ik < r_t:
        m_pair(e) = Σ_c w_c(r_ij) pair_row(Zj, Zi, b_c)
        μ_k       = f(r_ij) f(r_ik)                                    (the triplet's mass)
        m_trip(e) = Σ_k Σ_c μ_k w_c(θ_jik) trip_row(Zj, Zi, Zk, b_c) / (1 + Σ_k μ_k)

Angles are blended in θ (the key's own variable, degrees), not cos θ. dθ/dx is singular
at 0° and 180°, but the blend is constant within half a bin of both ends, so no gradient
reaches θ there; cos θ is clamped to [-1 + δ, 1 - δ] (δ = 1e-7, well inside that flat
half bin) before ``acos``, whose derivative is then finite everywhere. The aggregation
over partners is not a mean over a changing count: a partner entering or leaving the
triplet cutoff carries mass → 0 with two vanishing derivatives, in the sum and in the
normaliser 1 + Σμ alike (an edge with no partner gets 0, as in the hard mode). With
``triplet_reduce="sum"`` the normaliser is dropped (``pamm.memory``).

>>> x = torch.tensor([0.0, 0.05, 0.10, 0.15, 0.20])   # Δ = 0.1: bin centres 0.05, 0.15, ...
>>> bins, w = bin_blend(x, 0.1, 60)
>>> bins.tolist()
[[0, 1], [0, 1], [0, 1], [1, 2], [1, 2]]
>>> [[round(v, 3) for v in row] for row in w.tolist()]
[[1.0, 0.0], [1.0, 0.0], [0.5, 0.5], [1.0, 0.0], [0.5, 0.5]]
>>> envelope(torch.tensor([3.0, 3.75, 4.0, 5.0]), 4.0, 0.5).tolist()
[1.0, 0.5, 0.0, 0.0]
"""

from __future__ import annotations

import dataclasses

import torch

from pamm.keys import MotifKeys
from pamm.spec import MotifMemorySpec

__all__ = ["COS_MARGIN", "bin_blend", "blend_lookups", "envelope", "smoothstep"]

#: cos θ is clamped to [-1 + COS_MARGIN, 1 - COS_MARGIN] before acos: θ then stays
#: 0.026° from the ends, inside the flat half bin of any valid Δθ (> 0.17°)
COS_MARGIN = 1e-7


def smoothstep(t: torch.Tensor) -> torch.Tensor:
    """Quintic smoothstep s(t) = t³ (6t² - 15t + 10) for t in [0, 1] (C², symmetric)."""
    return t * t * t * (t * (6.0 * t - 15.0) + 10.0)


def bin_blend(x: torch.Tensor, width: float, n_bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Neighbouring bins [..., 2] (int64) and their weights [..., 2] (sum 1) of ``x`` [...]."""
    u = (x / width - 0.5).clamp(0.0, n_bins - 1)  # [...] position among bin centres
    low = u.detach().floor().long().clamp_(0, max(n_bins - 2, 0))  # [...]
    t = (u - low.to(u.dtype)).clamp(0.0, 1.0)  # [...]
    up = smoothstep(t)  # [...]
    bins = torch.stack((low, (low + 1).clamp_(max=n_bins - 1)), dim=-1)  # [..., 2]
    return bins, torch.stack((1.0 - up, up), dim=-1)  # [..., 2] x2


def envelope(r: torch.Tensor, cutoff: float, width: float) -> torch.Tensor:
    """f(r) = 1 - s(clamp((r - cutoff + width) / width, 0, 1)), same shape as ``r``.

    Computed as s(clamp((cutoff - r) / width, 0, 1)) (equal, as s(1 - t) = 1 - s(t)),
    which stays >= 0 and accurate near the cutoff.
    """
    return smoothstep(((cutoff - r) / width).clamp(0.0, 1.0))


def blend_lookups(
    keys: MotifKeys,
    edge_distance: torch.Tensor,
    edge_distance_vec: torch.Tensor,
    spec: MotifMemorySpec,
) -> MotifKeys:
    """``keys`` with the smooth lookups added (see the module docstring).

    Args:
        keys: discrete keys of the graph (``pamm.keys.extract_motifs`` with ``spec``).
        edge_distance: [E], differentiable in the positions (not detached).
        edge_distance_vec: [E, 3], likewise.
        spec: a spec with ``lookup="smooth"``.

    Returns a new ``MotifKeys`` whose ``*_blend_key`` [*, 2] are packed keys of the lower
    and upper neighbouring bins and ``*_blend_weight`` [*, 2] their weights (the pair
    weights sum to 1, the triplet weights to the triplet's mass μ).
    """
    if not spec.smooth:
        raise ValueError(f"blend_lookups needs lookup='smooth', the spec has {spec.lookup!r}")
    dist = edge_distance  # [E]
    pair_bins, pair_w = bin_blend(dist, spec.pair_bin_width, spec.n_pair_bins)  # [E, 2] x2
    species = (keys.pair_key >> 10) << 10  # [E] (Zj, Zi) with the bin bits cleared
    pair_key = species.unsqueeze(1) | pair_bins  # [E, 2]

    te, tp = keys.triplet_edge, keys.triplet_partner  # [T] x2
    unit = edge_distance_vec / dist.clamp_min(1e-12).unsqueeze(1)  # [E, 3]
    cos = (unit.index_select(0, te) * unit.index_select(0, tp)).sum(dim=1)  # [T]
    cos = cos.clamp(-1.0 + COS_MARGIN, 1.0 - COS_MARGIN)
    theta = torch.rad2deg(torch.acos(cos))  # [T] degrees
    angle_bins, angle_w = bin_blend(theta, spec.angle_bin_deg, spec.n_angle_bins)  # [T, 2] x2
    f = envelope(dist, spec.triplet_cutoff, spec.triplet_envelope_width)  # [E]
    mass = f.index_select(0, te) * f.index_select(0, tp)  # [T]
    triplet_key = ((keys.triplet_key >> 10) << 10).unsqueeze(1) | angle_bins  # [T, 2]
    return dataclasses.replace(
        keys,
        pair_blend_key=pair_key,
        pair_blend_weight=pair_w,
        triplet_blend_key=triplet_key,
        triplet_blend_weight=mass.unsqueeze(1) * angle_w,  # [T, 2]
    )
