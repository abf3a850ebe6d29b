"""``MotifMemory``: hashed pair/triplet tables and the per-edge memory vector.

For edge e = j -> i with triplet partners k (edges k -> i, see ``pamm.keys``)::

    m_e = [ pair_h(key_e) for h in heads ; mean_k [ triplet_h(key_ejk) for h in heads ] ]

Each half is H * D wide; an edge without partners gets a zero triplet half. That is the
``hard`` lookup; with ``lookup="smooth"`` each edge and triplet reads the rows of two
neighbouring bins with C² weights and the mean over partners becomes an envelope-weighted
sum over 1 + the summed mass (formulas in ``pamm.blend``). ``triplet_reduce="sum"``
drops the divisor in both lookups (the plain or enveloped sum over partners).

Modes (``MotifMemorySpec.mode``):

- ``pamm``: both halves; ``pair_only`` / ``triplet_only``: only that half (m is H*D wide).
- ``random_bucket``: the same tables, shapes and fusion, but every lookup of every forward
  pass reads a uniformly random row (the module's own generator, seeded by ``hash_seed``;
  not stored in checkpoints). Bucket ids carry no motif identity and no structure
  identity either, so the control cannot recall a motif or a training structure; what it
  keeps is the extra capacity and the noise of a memory read. Within one forward the rows
  are fixed, so forces are still the gradient of that forward's energy; two forwards of
  one structure differ. With smooth lookups both blend slots read the same random row
  (the weights still sum to 1 per edge and to the envelope mass per triplet).
  (The first design hashed a per-structure stream: frames of one task shared codes and
  the control could recall training structures.)
- ``mlp``: no tables; a parameter-matched MLP fed the same information as the keys
  (elements of j, i, k, distance and angle at the bins' resolution; ``pamm.mlp_control``).

>>> from pamm.spec import MotifMemorySpec
>>> mem = MotifMemory(MotifMemorySpec(pair_buckets=64, triplet_buckets=128), edge_dim=24)
>>> tuple(mem.pair_table.shape), tuple(mem.triplet_table.shape), mem.memory_dim
((2, 64, 16), (2, 128, 16), 64)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pamm.hashing import hash_params, hash_torch
from pamm.keys import MotifKeys
from pamm.mlp_control import MotifMLP
from pamm.optim import mark_table
from pamm.spec import MotifMemorySpec

__all__ = ["MemoryLookup", "MotifMemory"]


@dataclass
class MemoryLookup:
    """Result of one lookup: m [E, memory_dim]; bucket ids (None where not hashed).

    Hard lookups fill ``pair_bucket`` [E, H] / ``triplet_bucket`` [T, H]; smooth lookups
    fill ``pair_bucket`` [E, 2, H] / ``triplet_bucket`` [T, 2, H] instead (the buckets of
    ``keys.pair_blend_key`` / ``keys.triplet_blend_key``, weights in the keys).
    """

    m: torch.Tensor
    pair_bucket: torch.Tensor | None  # [E, H] hard, [E, 2, H] smooth
    triplet_bucket: torch.Tensor | None  # [T, H] hard, [T, 2, H] smooth


class MotifMemory(nn.Module):
    """Hashed motif tables (or the ``mlp`` control) producing m [E, memory_dim]."""

    def __init__(self, spec: MotifMemorySpec, *, edge_dim: int, init_std: float = 0.1) -> None:
        super().__init__()
        if not spec.uses_memory:
            raise ValueError("MotifMemory needs a spec with a memory (mode != 'baseline')")
        self.spec = spec
        self.edge_dim = edge_dim
        h, d = spec.heads, spec.head_dim
        for table in ("pair", "triplet"):
            a, b = hash_params(spec.hash_seed, spec.heads, table)
            self.register_buffer(f"{table}_hash_a", torch.from_numpy(a))  # [H]
            self.register_buffer(f"{table}_hash_b", torch.from_numpy(b))  # [H]
        self.pair_table = self.triplet_table = self.mlp = None
        if spec.mode == "mlp":
            self.mlp = MotifMLP(spec)
        if spec.uses_pair:
            self.pair_table = mark_table(
                nn.Parameter(torch.randn(h, spec.pair_buckets, d) * init_std)
            )
        if spec.uses_triplet:
            self.triplet_table = mark_table(
                nn.Parameter(torch.randn(h, spec.triplet_buckets, d) * init_std)
            )
        self._random_stream: torch.Generator | None = None  # random_bucket's rows
        #: optional ``row_edit(table, rows [N, H*D], bucket [N, H], key [N]) -> rows``
        #: applied to the looked-up rows of each table; set only by ``pamm.ablation``.
        self.row_edit = None

    @property
    def memory_dim(self) -> int:
        """Width of m: 2*H*D, or H*D for ``pair_only`` / ``triplet_only``."""
        half = self.spec.heads * self.spec.head_dim
        return half if self.spec.mode in ("pair_only", "triplet_only") else 2 * half

    def buckets(self, keys: MotifKeys) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Bucket ids of the tables in use (None otherwise).

        Hard keys: pair [E, H], triplet [T, H]; keys with smooth lookups
        (``keys.weighted``): pair [E, 2, H], triplet [T, 2, H] of the blend keys.
        """
        spec = self.spec
        if keys.weighted:
            pair_keys, trip_keys = keys.pair_blend_key, keys.triplet_blend_key  # [E, 2], [T, 2]
        else:
            pair_keys, trip_keys = keys.pair_key, keys.triplet_key  # [E], [T]
        if spec.mode == "random_bucket":
            return (
                self._random_buckets(pair_keys, spec.pair_buckets),
                self._random_buckets(trip_keys, spec.triplet_buckets),
            )
        pair_bucket = trip_bucket = None
        if spec.uses_pair:
            pair_bucket = self.hash("pair", pair_keys)
        if spec.uses_triplet:
            trip_bucket = self.hash("triplet", trip_keys)
        return pair_bucket, trip_bucket

    def _random_buckets(self, keys: torch.Tensor, buckets: int) -> torch.Tensor:
        """``random_bucket``: uniform random rows [..., H] for ``keys`` [N] or [N, 2].

        One row per lookup, shared by the two blend slots of a smooth lookup.
        """
        device = keys.device
        if self._random_stream is None or self._random_stream.device != device:
            self._random_stream = torch.Generator(device=device).manual_seed(self.spec.hash_seed)
        n, heads = keys.shape[0], self.spec.heads
        rows = torch.randint(
            0, buckets, (n, heads), generator=self._random_stream, device=device
        )  # [N, H]
        return rows.unsqueeze(1).expand(n, 2, heads) if keys.dim() == 2 else rows

    def hash(self, table: str, keys: torch.Tensor) -> torch.Tensor:
        """Buckets [..., H] of packed ``keys`` [...] in ``table`` ("pair" or "triplet")."""
        buckets = self.spec.pair_buckets if table == "pair" else self.spec.triplet_buckets
        a, b = getattr(self, f"{table}_hash_a"), getattr(self, f"{table}_hash_b")
        out = hash_torch(keys.reshape(-1), a, b, buckets, check=False)  # [n, H]
        return out.reshape(*keys.shape, out.shape[1])

    @staticmethod
    def _rows(table: torch.Tensor, bucket: torch.Tensor) -> torch.Tensor:
        """Concatenated head rows [N, H*D] of ``table`` [H, M, D] at ``bucket`` [N, H]."""
        heads, rows, dim = table.shape
        offset = torch.arange(heads, device=bucket.device) * rows  # [H]
        flat = (bucket + offset).reshape(-1)  # [N*H]
        # index_select: its backward is an index_add (embedding's sorts the indices first)
        out = table.reshape(heads * rows, dim).index_select(0, flat)  # [N*H, D]
        return out.reshape(bucket.shape[0], heads * dim)

    def forward(
        self,
        keys: MotifKeys,
        *,
        x_edge: torch.Tensor,
        atomic_numbers: torch.Tensor,
        batch: torch.Tensor,
        edge_index: torch.Tensor,
        edge_distance: torch.Tensor | None = None,
        edge_distance_vec: torch.Tensor | None = None,
    ) -> MemoryLookup:
        """Memory vector m [E, memory_dim] (dtype of x_edge) and the bucket ids used.

        The tables need only ``keys``; the ``mlp`` control also reads the graph
        (``atomic_numbers``, ``edge_index``, and the differentiable ``edge_distance`` and
        ``edge_distance_vec``). ``batch`` is accepted for callers' symmetry.
        """
        if self.mlp is not None:
            if edge_distance is None or edge_distance_vec is None:
                raise ValueError("the mlp control needs edge_distance and edge_distance_vec")
            m = self.mlp(keys, atomic_numbers, edge_index, edge_distance, edge_distance_vec)
            return MemoryLookup(m.to(x_edge.dtype), None, None)
        if self.spec.smooth != keys.weighted:
            raise ValueError(
                f"the memory has lookup={self.spec.lookup!r} but the keys "
                f"{'carry' if keys.weighted else 'lack'} smooth lookups "
                "(pamm.blend.blend_lookups adds them for lookup='smooth')"
            )
        num_edges = x_edge.shape[0]
        pair_bucket, trip_bucket = self.buckets(keys)
        if keys.weighted:
            m = self._smooth_memory(keys, pair_bucket, trip_bucket, num_edges)
            return MemoryLookup(m.to(x_edge.dtype), pair_bucket, trip_bucket)
        halves = []
        if pair_bucket is not None:
            rows = self._rows(self.pair_table, pair_bucket)  # [E, H*D]
            if self.row_edit is not None:
                rows = self.row_edit("pair", rows, pair_bucket, keys.pair_key)
            halves.append(rows)
        if trip_bucket is not None:
            rows = self._rows(self.triplet_table, trip_bucket)  # [T, H*D]
            if self.row_edit is not None:
                rows = self.row_edit("triplet", rows, trip_bucket, keys.triplet_key)
            sums = rows.new_zeros(num_edges, rows.shape[1])  # [E, H*D]
            sums = sums.index_add(0, keys.triplet_edge, rows)
            if self.spec.triplet_reduce == "mean":
                counts = torch.bincount(keys.triplet_edge, minlength=num_edges)  # [E]
                sums = sums / counts.clamp_min(1).unsqueeze(1).to(rows.dtype)
            halves.append(sums)
        m = torch.cat(halves, dim=1) if len(halves) > 1 else halves[0]  # [E, memory_dim]
        return MemoryLookup(m.to(x_edge.dtype), pair_bucket, trip_bucket)

    def _weighted_rows(
        self, table: str, bucket: torch.Tensor, key: torch.Tensor, weight: torch.Tensor
    ) -> torch.Tensor:
        """weight · row of every blend slot: [N*2, H*D] (slot-major per lookup) from bucket
        [N, 2, H], weight [N, 2]; the caller sums the slots (one flat product, no per-slot
        slices: their backward would allocate a zero [N, 2, H*D] per slot)."""
        n, slots, heads = bucket.shape
        flat = bucket.reshape(n * slots, heads)  # [N*2, H]
        rows = self._rows(getattr(self, f"{table}_table"), flat)  # [N*2, H*D]
        if self.row_edit is not None:
            rows = self.row_edit(table, rows, flat, key.reshape(-1))
        return rows * weight.reshape(n * slots, 1).to(rows.dtype)  # [N*2, H*D] (N may be 0)

    def _smooth_memory(
        self,
        keys: MotifKeys,
        pair_bucket: torch.Tensor | None,
        trip_bucket: torch.Tensor | None,
        num_edges: int,
    ) -> torch.Tensor:
        """m [E, memory_dim] of the smooth lookup (``pamm.blend``)."""
        halves = []
        if pair_bucket is not None:
            rows = self._weighted_rows(
                "pair", pair_bucket, keys.pair_blend_key, keys.pair_blend_weight
            )  # [E*2, H*D]
            halves.append(rows.reshape(num_edges, 2, rows.shape[1]).sum(1))  # [E, H*D]
        if trip_bucket is not None:
            weight = keys.triplet_blend_weight  # [T, 2]
            rows = self._weighted_rows("triplet", trip_bucket, keys.triplet_blend_key, weight)
            slot_edge = keys.triplet_edge.repeat_interleave(2)  # [T*2], matches rows
            sums = rows.new_zeros(num_edges, rows.shape[1])  # [E, H*D]
            sums = sums.index_add(0, slot_edge, rows)
            if self.spec.triplet_reduce == "mean":
                mass = rows.new_zeros(num_edges).index_add(
                    0, keys.triplet_edge, weight.sum(1).to(rows.dtype)
                )  # [E]
                sums = sums / (1.0 + mass).unsqueeze(1)
            halves.append(sums)
        return torch.cat(halves, dim=1) if len(halves) > 1 else halves[0]  # [E, memory_dim]
