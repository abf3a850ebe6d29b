"""Motif keys: bins, int64 packing and vectorised extraction of pair/triplet motifs.

Packing (Z < 128 in 7 bits, bins < 1024 in 10 bits), identical for numpy arrays,
torch tensors and Python ints::

    pair    = Zj << 17 | Zi << 10 | b_r
    triplet = Zj << 24 | Zi << 17 | Zk << 10 | b_theta

>>> k = pack_triplet_key(8, 14, 8, 10)
>>> k, unpack_triplet_key(k)
(136060938, (8, 14, 8, 10))
>>> import numpy as np
>>> pack_pair_key(np.array([1, 8]), np.array([8, 1]), np.array([9, 9])).tolist()
[139273, 1049609]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from pamm.spec import MAX_BINS, MotifMemorySpec

#: packed keys hold atomic numbers in 7 bits
MAX_Z = 128

#: bin edges sit this fraction of a bin below the multiples of the bin width, so that exact
#: lattice values (a 60° or 90° angle, a 3.0 Å distance) land in the same bin in every
#: orientation instead of on an edge where float rounding decides
EDGE_SHIFT = 1e-4

IntArray = TypeVar("IntArray", np.ndarray, torch.Tensor, int)

__all__ = [
    "EDGE_SHIFT",
    "MAX_Z",
    "MotifKeys",
    "angle_bins",
    "extract_motifs",
    "max_key",
    "pack_pair_key",
    "pack_triplet_key",
    "pair_bins",
    "triplet_pairs",
    "unpack_pair_key",
    "unpack_triplet_key",
]


def _check_range(name: str, value: IntArray, upper: int) -> None:
    """Raise ValueError if any element of ``value`` is outside [0, upper)."""
    if isinstance(value, torch.Tensor):
        if value.numel() == 0:
            return
        lo, hi = int(value.min()), int(value.max())
    else:
        arr = np.asarray(value)
        if arr.size == 0:
            return
        lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi >= upper:
        bad = lo if lo < 0 else hi
        raise ValueError(f"{name}={bad} is out of range [0, {upper}) for motif key packing")


def pack_pair_key(zj: IntArray, zi: IntArray, b: IntArray, *, check: bool = True) -> IntArray:
    """Pack (Zj, Zi, b_r) into one int64: ``Zj << 17 | Zi << 10 | b``."""
    if check:
        _check_range("Zj", zj, MAX_Z)
        _check_range("Zi", zi, MAX_Z)
        _check_range("pair bin", b, MAX_BINS)
    return (_as_int64(zj) << 17) | (_as_int64(zi) << 10) | _as_int64(b)


def unpack_pair_key(key: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Inverse of ``pack_pair_key``: ``(Zj, Zi, b_r)``."""
    key = _as_int64(key)
    return (key >> 17) & 127, (key >> 10) & 127, key & 1023


def pack_triplet_key(
    zj: IntArray, zi: IntArray, zk: IntArray, b: IntArray, *, check: bool = True
) -> IntArray:
    """Pack (Zj, Zi, Zk, b_θ) into one int64: ``Zj << 24 | Zi << 17 | Zk << 10 | b``."""
    if check:
        _check_range("Zj", zj, MAX_Z)
        _check_range("Zi", zi, MAX_Z)
        _check_range("Zk", zk, MAX_Z)
        _check_range("angle bin", b, MAX_BINS)
    return (_as_int64(zj) << 24) | (_as_int64(zi) << 17) | (_as_int64(zk) << 10) | _as_int64(b)


def unpack_triplet_key(key: IntArray) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Inverse of ``pack_triplet_key``: ``(Zj, Zi, Zk, b_θ)``."""
    key = _as_int64(key)
    return (key >> 24) & 127, (key >> 17) & 127, (key >> 10) & 127, key & 1023


def _as_int64(x: IntArray) -> IntArray:
    if isinstance(x, torch.Tensor):
        return x.long()
    if isinstance(x, np.ndarray | np.generic):
        return np.asarray(x, dtype=np.int64)
    return int(x)


def pair_bins(distance: torch.Tensor, spec: MotifMemorySpec) -> torch.Tensor:
    """``b_r = min(floor(r / Δr + ε), n_r - 1)`` as int64 (same shape as ``distance``).

    ε = ``EDGE_SHIFT`` (1e-4): a distance a hair below a multiple of Δr (float noise
    around an exact 3.0 Å) gets the bin of the multiple.

    >>> d = torch.tensor([0.0, 0.25, 2.9999999, 3.0000001, 5.99, 7.0])
    >>> pair_bins(d, MotifMemorySpec(cutoff=6.0)).tolist()
    [0, 2, 30, 30, 59, 59]
    """
    b = torch.floor(distance / spec.pair_bin_width + EDGE_SHIFT).long()
    return b.clamp_(0, spec.n_pair_bins - 1)


def angle_bins(theta_deg: torch.Tensor, spec: MotifMemorySpec) -> torch.Tensor:
    """``b_θ = min(floor(θ / Δθ + ε), n_θ - 1)`` for θ in degrees, as int64 (ε = ``EDGE_SHIFT``).

    >>> angle_bins(torch.tensor([0.0, 59.9, 59.99999, 90.00001, 180.0]), MotifMemorySpec()).tolist()
    [0, 5, 6, 9, 17]
    """
    b = torch.floor(theta_deg / spec.angle_bin_deg + EDGE_SHIFT).long()
    return b.clamp_(0, spec.n_angle_bins - 1)


@dataclass
class MotifKeys:
    """Motif keys of one graph (all int64, on the graph's device).

    pair_key [E], pair_bin [E]: per edge e = j -> i.
    triplet_edge [T], triplet_partner [T]: edge indices (j -> i, k -> i) sharing centre i.
    triplet_key [T], angle_bin [T].

    With ``lookup="smooth"`` (``pamm.blend.blend_lookups``) also the weighted lookups, two
    per edge and per triplet (lower and upper neighbouring bin; None with hard lookups):
    pair_blend_key [E, 2], pair_blend_weight [E, 2] (a partition of unity, sums to 1);
    triplet_blend_key [T, 2], triplet_blend_weight [T, 2] (sums to the triplet's envelope
    mass f(r_ij) f(r_ik) in [0, 1]). Weights are float, differentiable in the positions
    inside the model's forward. ``pair_key`` / ``triplet_key`` stay the bin each edge
    or triplet lies in (the hard rule), so labels and examples keep their meaning.
    """

    pair_key: torch.Tensor
    pair_bin: torch.Tensor
    triplet_edge: torch.Tensor
    triplet_partner: torch.Tensor
    triplet_key: torch.Tensor
    angle_bin: torch.Tensor
    pair_blend_key: torch.Tensor | None = None
    pair_blend_weight: torch.Tensor | None = None
    triplet_blend_key: torch.Tensor | None = None
    triplet_blend_weight: torch.Tensor | None = None

    @property
    def num_edges(self) -> int:
        return int(self.pair_key.shape[0])

    @property
    def num_triplets(self) -> int:
        return int(self.triplet_key.shape[0])

    @property
    def weighted(self) -> bool:
        """True when the keys carry smooth (weighted) lookups."""
        return self.pair_blend_key is not None

    def to(self, device: torch.device | str) -> MotifKeys:
        """A detached copy with every tensor moved to ``device``."""
        return MotifKeys(
            **{k: None if v is None else v.detach().to(device) for k, v in vars(self).items()}
        )


def _sorted_candidates(
    edge_index: torch.Tensor, edge_distance: torch.Tensor, triplet_cutoff: float
) -> torch.Tensor:
    """Edges shorter than the cutoff, sorted by (centre, distance, edge index)."""
    cand = torch.nonzero(edge_distance < triplet_cutoff).squeeze(1)  # [C]
    dist = edge_distance[cand]
    if dist.dtype == torch.float32:
        # one int64 sort: centre in the high bits, the (monotonic) float bits below
        key = (edge_index[1, cand] << 32) | dist.view(torch.int32).long()
        return cand[torch.argsort(key, stable=True)]
    cand = cand[torch.argsort(dist, stable=True)]  # stable sorts, least significant first
    return cand[torch.argsort(edge_index[1, cand], stable=True)]


def _neighbour_slots(
    edge_index: torch.Tensor,
    edge_distance: torch.Tensor,
    num_nodes: int,
    spec: MotifMemorySpec,
) -> torch.Tensor:
    """Kept edge ids per centre, nearest first: [A, W], -1 where empty.

    Kept: shorter than ``spec.triplet_cutoff`` and (hard lookups only) not farther than
    the K-th nearest such edge + ``spec.triplet_tie_tolerance``; smooth lookups keep every
    edge inside the triplet cutoff (the envelope, not a cap, bounds them). Only centres
    with at least two kept edges get a row (A of them, in centre order); W = the most
    kept edges of any centre.
    """
    # smooth: no cap (rank never reaches K = number of edges + 1)
    k = edge_distance.shape[0] + 1 if spec.smooth else spec.max_triplet_neighbors
    cand = _sorted_candidates(edge_index, edge_distance, spec.triplet_cutoff)  # [C]
    centre = edge_index[1].index_select(0, cand)  # [C], sorted
    dist = edge_distance.index_select(0, cand)  # [C], ascending within a centre
    counts = torch.bincount(centre, minlength=num_nodes)  # [N]
    starts = torch.cumsum(counts, 0) - counts  # [N]
    rank = torch.arange(cand.shape[0], device=cand.device) - starts.index_select(0, centre)  # [C]
    # farthest kept distance per centre: the K-th nearest + tolerance (inf if fewer than K)
    reach = torch.full((num_nodes,), torch.inf, dtype=dist.dtype, device=dist.device)  # [N]
    at_k = torch.nonzero(rank == k - 1).squeeze(1)  # [<=N]
    reach[centre.index_select(0, at_k)] = dist.index_select(0, at_k) + spec.triplet_tie_tolerance
    keep = (rank < k) | (dist <= reach.index_select(0, centre))  # [C], a prefix per centre
    kept = torch.bincount(centre[keep], minlength=num_nodes)  # [N]
    width = int(kept.max()) if num_nodes else 0
    row_of = torch.cumsum(kept >= 2, 0) - 1  # [N] row of each centre with >= 2 kept edges
    keep &= kept.index_select(0, centre) >= 2
    keep = torch.nonzero(keep).squeeze(1)  # [C']
    slots = torch.full(
        (int(row_of[-1]) + 1 if num_nodes else 0, width),
        -1,
        dtype=torch.long,
        device=cand.device,
    )  # [A, W]
    row = row_of.index_select(0, centre.index_select(0, keep))  # [C']
    slots[row, rank.index_select(0, keep)] = cand.index_select(0, keep)
    return slots


def _pair_slots(slots: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every ordered pair (a, b) of distinct filled slots of the same row of ``slots`` [A, W].

    Returns (own slot [T], partner slot [T]) as indices into ``slots.view(-1)`` and the pair's
    position [T] in a row-major [A, W, W] array, in row-major order (row, a, b).
    """
    filled = slots >= 0  # [A, W]
    width = slots.shape[1]
    distinct = ~torch.eye(width, dtype=torch.bool, device=slots.device)  # [W, W]
    pairs = filled[:, :, None] & filled[:, None, :] & distinct  # [A, W, W]
    pair_pos = torch.nonzero(pairs.view(-1)).squeeze(1)  # [T]
    own_slot = torch.div(pair_pos, width, rounding_mode="floor")  # [T] row * W + a
    partner = pair_pos - own_slot * width  # [T] b
    partner_slot = own_slot - own_slot % width + partner  # [T] row * W + b
    return own_slot, partner_slot, pair_pos


def triplet_pairs(
    edge_index: torch.Tensor, edge_distance: torch.Tensor, num_nodes: int, spec: MotifMemorySpec
) -> tuple[torch.Tensor, torch.Tensor]:
    """Ordered pairs of distinct edges (j -> i, k -> i) sharing centre i.

    Only edges shorter than ``spec.triplet_cutoff`` take part; with hard lookups only the
    K = ``spec.max_triplet_neighbors`` nearest edges of their centre, plus any edge
    within ``spec.triplet_tie_tolerance`` of the K-th nearest distance (so a shell of
    equidistant neighbours is kept whole). Returns (triplet_edge [T], triplet_partner
    [T]) as edge indices, grouped by edge (centre, then edge, then partner by distance).

    Algorithm (no Python loops): sort candidate edges by (centre, distance), rank
    within each centre, keep the nearest in a dense [centres, W] slot table; every
    ordered pair of distinct filled slots of a row is a triplet (a [A, W, W] mask,
    read in row-major order).

    >>> ei = torch.tensor([[1, 2, 3, 0], [0, 0, 0, 1]])
    >>> dist = torch.tensor([1.0, 2.0, 5.0, 1.0])
    >>> e, p = triplet_pairs(ei, dist, 4, MotifMemorySpec(cutoff=6.0))
    >>> e.tolist(), p.tolist()
    ([0, 1], [1, 0])
    >>> ei = torch.tensor([[1, 2, 3], [0, 0, 0]])  # K = 1, but edges 0 and 1 tie
    >>> spec = MotifMemorySpec(cutoff=6.0, max_triplet_neighbors=1, lookup="hard")
    >>> triplet_pairs(ei, torch.tensor([1.0, 1.0, 3.0]), 4, spec)[0].tolist()
    [0, 1]
    >>> smooth = MotifMemorySpec(cutoff=6.0, max_triplet_neighbors=1)  # no cap
    >>> triplet_pairs(ei, torch.tensor([1.0, 1.0, 3.0]), 4, smooth)[0].tolist()
    [0, 0, 1, 1, 2, 2]
    """
    slots = _neighbour_slots(edge_index, edge_distance, num_nodes, spec)
    own_slot, partner_slot, _ = _pair_slots(slots)  # [T] x2
    return slots.view(-1)[own_slot], slots.view(-1)[partner_slot]


def extract_motifs(
    edge_index: torch.Tensor,
    edge_distance: torch.Tensor,
    edge_distance_vec: torch.Tensor,
    atomic_numbers: torch.Tensor,
    spec: MotifMemorySpec,
) -> MotifKeys:
    """Pair and triplet motif keys of a radius graph (fairchem convention).

    Args:
        edge_index: [2, E] int64, row 0 = neighbour j, row 1 = centre i.
        edge_distance: [E] |r_ij|.
        edge_distance_vec: [E, 3] r_j + shift - r_i.
        atomic_numbers: [N] int, all < 128.
        spec: bins, triplet cutoff and K.

    θ is the angle at i between the two edge vectors (``acos`` of the clamped cosine);
    which edges pair up is ``triplet_pairs``'s rule (K nearest, ties within tolerance kept).
    An atom may be its own periodic neighbour: every edge (image) is distinct. Triplets
    are computed densely per centre ([A, W, W], see ``triplet_pairs``) so no per-triplet
    gathers are needed; the cost is bounded by N * W * W, W = K unless a shell ties at K.

    >>> spec = MotifMemorySpec(cutoff=6.0)
    >>> ei = torch.tensor([[1, 2, 0, 0], [0, 0, 1, 2]])
    >>> vec = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [-1.0, 0, 0], [0, -1.0, 0]])
    >>> keys = extract_motifs(ei, vec.norm(dim=1), vec, torch.tensor([8, 1, 1]), spec)
    >>> keys.triplet_key.tolist() == [pack_triplet_key(1, 8, 1, 9)] * 2
    True
    """
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {tuple(edge_index.shape)}")
    num_edges = edge_index.shape[1]
    if edge_distance.shape != (num_edges,) or edge_distance_vec.shape != (num_edges, 3):
        raise ValueError(
            f"edge_distance {tuple(edge_distance.shape)} / edge_distance_vec "
            f"{tuple(edge_distance_vec.shape)} do not match E={num_edges} edges"
        )
    z = atomic_numbers.long()
    _check_range("atomic number Z", z, MAX_Z)
    j, i = edge_index[0], edge_index[1]
    pair_bin = pair_bins(edge_distance, spec)  # [E]
    zj, zi = z.index_select(0, j), z.index_select(0, i)  # [E]
    pair_key = (zj << 17) | (zi << 10) | pair_bin  # [E]

    slots = _neighbour_slots(edge_index, edge_distance, z.shape[0], spec)  # [A, W]
    own_slot, partner_slot, pair_pos = _pair_slots(slots)  # [T] x3
    edge = slots.clamp_min(0)  # [A, W] (empty slots read edge 0; no pair uses them)
    dist = edge_distance.index_select(0, edge.view(-1)).clamp_min(1e-12)  # [A*W]
    ux, uy, uz = (edge_distance_vec.index_select(0, edge.view(-1)) / dist[:, None]).T  # [A*W]
    ux, uy, uz = (u.reshape(slots.shape) for u in (ux, uy, uz))  # [A, W] each
    # (x x' + y y') + z z': fixed elementwise order, the same bits on every platform
    cos = ux[:, :, None] * ux[:, None, :] + uy[:, :, None] * uy[:, None, :]  # [A, W, W]
    cos = (cos + uz[:, :, None] * uz[:, None, :]).view(-1)  # [A*W*W]
    cos = cos.index_select(0, pair_pos).clamp_(-1.0, 1.0)  # [T]
    angle_bin = angle_bins(torch.rad2deg_(torch.acos_(cos)), spec)  # [T]
    slot_zj = zj.index_select(0, edge.view(-1))  # [A*W] Z of each slot's neighbour
    own_part = (slot_zj << 24) | (zi.index_select(0, edge.view(-1)) << 17)  # [A*W] (Zj, Zi)
    triplet_key = own_part.index_select(0, own_slot)  # [T]
    triplet_key |= (slot_zj << 10).index_select(0, partner_slot)  # Zk of the partner edge
    triplet_key |= angle_bin
    return MotifKeys(
        pair_key=pair_key,
        pair_bin=pair_bin,
        triplet_edge=slots.view(-1).index_select(0, own_slot),
        triplet_partner=slots.view(-1).index_select(0, partner_slot),
        triplet_key=triplet_key,
        angle_bin=angle_bin,
    )


def max_key(table: str, spec: MotifMemorySpec) -> int:
    """Size of the packed key space of ``table`` ("pair" or "triplet"), for enumeration.

    >>> max_key("pair", MotifMemorySpec(cutoff=6.0)) == (127 << 17 | 127 << 10 | 59) + 1
    True
    """
    if table == "pair":
        return int(pack_pair_key(MAX_Z - 1, MAX_Z - 1, spec.n_pair_bins - 1)) + 1
    if table == "triplet":
        return int(pack_triplet_key(MAX_Z - 1, MAX_Z - 1, MAX_Z - 1, spec.n_angle_bins - 1)) + 1
    raise ValueError(f"table must be 'pair' or 'triplet', got {table!r}")
