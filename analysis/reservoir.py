"""Example occurrences of each motif: a bounded, deterministic, mergeable reservoir.

Each occurrence gets a priority from its identity (``occurrence_priority``: a hash of the
key, structure, atoms and image offsets, the same on any shard); a ``Reservoir`` keeps
the ``size`` smallest priorities per key, so the union of shard reservoirs trimmed the
same way (``Reservoir.reduce``) equals the reservoir of one pass over all the data.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

__all__ = ["Reservoir", "candidate_rows", "occurrence_priority", "top_per_key"]


@dataclass
class Reservoir:
    """Example occurrences: at most ``size`` per key, those of smallest priority."""

    key: np.ndarray  # [S] int64
    priority: np.ndarray  # [S] int64, deterministic hash of the occurrence
    structure: np.ndarray  # [S] int64, dataset index
    centre: np.ndarray  # [S] int64, atom index i within the structure
    neighbour: np.ndarray  # [S] int64, atom index j
    partner: np.ndarray  # [S] int64, atom index k (-1 for pairs)
    family: np.ndarray  # [S] int64
    offset_j: np.ndarray  # [S, 3] int64
    offset_k: np.ndarray  # [S, 3] int64
    gate: np.ndarray  # [S] float64

    @classmethod
    def empty(cls) -> Reservoir:
        z = np.zeros(0, np.int64)
        z3 = np.zeros((0, 3), np.int64)
        return cls(z, z, z, z, z, z, z, z3, z3, np.zeros(0))

    def take(self, idx: np.ndarray) -> Reservoir:
        return Reservoir(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @classmethod
    def reduce(cls, parts: list[Reservoir], size: int) -> Reservoir:
        """Union of ``parts`` keeping the ``size`` smallest priorities per key."""
        parts = [p for p in parts if len(p.key)]
        if not parts:
            return cls.empty()
        cat = Reservoir(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)}
        )
        return cat.take(top_per_key(cat.key, cat.priority, size))

    def equals(self, other: Reservoir) -> bool:
        """Exact equality (NaN gates of a gate-less census compare equal)."""
        return all(
            np.array_equal(
                getattr(self, f.name), getattr(other, f.name), equal_nan=f.name == "gate"
            )
            for f in fields(self)
        )


def candidate_rows(key: np.ndarray, prio: np.ndarray, size: int) -> np.ndarray:
    """Indices holding, per key, every row that can be among the ``size`` smallest priorities.

    One argsort on ``key << 32 | prio >> 31`` (keys < 2^31); rows tied with the
    ``size``-th at 32-bit precision are kept too, so the superset is exact.
    """
    n = len(key)
    top = prio >> 31  # [n] high 32 bits of the 63-bit priority
    order = np.argsort((key << 32) | top)  # [n]
    k_sorted = key[order]
    starts = np.r_[0, np.flatnonzero(np.diff(k_sorted)) + 1]  # [K]
    n_key = np.diff(np.r_[starts, n])  # [K]
    group = np.repeat(np.arange(len(starts)), n_key)  # [n]
    rank = np.arange(n) - starts[group]
    top_sorted = top[order]
    boundary = top_sorted[starts + np.minimum(n_key, size) - 1]  # [K]
    return order[(rank < size) | (top_sorted == boundary[group])]


def top_per_key(key: np.ndarray, prio: np.ndarray, size: int) -> np.ndarray:
    """Indices of the ``size`` smallest priorities of each key, ordered by (key, priority).

    >>> top_per_key(np.array([5, 5, 5, 2]), np.array([30, 10, 20, 40]), 2).tolist()
    [3, 1, 2]
    """
    if len(key) == 0 or size <= 0:
        return np.zeros(0, np.int64)
    cand = candidate_rows(key, prio, size)
    order = cand[np.lexsort((prio[cand], key[cand]))]  # exact (key, full priority)
    k = key[order]
    start = np.r_[0, np.flatnonzero(np.diff(k)) + 1]
    rank = np.arange(len(k)) - np.repeat(start, np.diff(np.r_[start, len(k)]))
    return order[rank < size]


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 (wrapping arithmetic)."""
    x = x.astype(np.uint64)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def occurrence_priority(
    key: np.ndarray,
    structure: np.ndarray,
    centre: np.ndarray,
    neighbour: np.ndarray,
    partner: np.ndarray,
    offset_j: np.ndarray,
    offset_k: np.ndarray,
) -> np.ndarray:
    """Deterministic 63-bit priority of occurrences from their identity (same on any shard).

    >>> z = np.zeros(2, np.int64)
    >>> p = occurrence_priority(np.array([1, 2]), z, z, z, z, np.zeros((2, 3)), np.zeros((2, 3)))
    >>> bool(p[0] != p[1]), bool((p >= 0).all())
    (True, True)
    """
    off = np.asarray(offset_j, np.int64) + 512  # [n, 3], |offset| < 512
    off_code = (off[:, 0] << 20) | (off[:, 1] << 10) | off[:, 2]
    offk = np.asarray(offset_k, np.int64) + 512
    offk_code = (offk[:, 0] << 20) | (offk[:, 1] << 10) | offk[:, 2]
    with np.errstate(over="ignore"):
        h = _mix64(np.asarray(key, np.int64).view(np.uint64) ^ _mix64(
            np.asarray(structure, np.int64).view(np.uint64)
        ))  # fmt: skip
        atoms = (
            (np.asarray(centre, np.int64) << 42)
            ^ (np.asarray(neighbour, np.int64) << 21)
            ^ (np.asarray(partner, np.int64) + 1)
        )
        h = _mix64(h ^ atoms.view(np.uint64))
        h = _mix64(h ^ ((off_code << 30) ^ offk_code).view(np.uint64))
    return (h >> np.uint64(1)).astype(np.int64)
