"""Carter–Wegman universal hashing of packed motif keys into table buckets.

For head h of a table with M rows::

    bucket_h(key) = ((a_h * key + b_h) mod p) mod M,    p = 2^31 - 1

with 1 <= a_h < p and 0 <= b_h < p drawn by ``numpy.random.default_rng`` seeded with
``(seed, utf-8 bytes of the table name)``. Keys are < 2^31, so ``a_h * key + b_h`` stays
below 2^63 and the arithmetic is exact in int64 (integer remainders, no floats), so numpy
and torch give identical buckets on every platform. The model stores ``a`` and ``b`` as
buffers (they land in checkpoints).

>>> a, b = hash_params(0, 2, "pair")
>>> a.shape, b.shape, a.dtype
((2,), (2,), dtype('int64'))
>>> keys = np.array([0, 1, 139273])
>>> buckets = hash_numpy(keys, a, b, 4096)
>>> buckets.shape
(3, 2)
>>> bool((buckets == hash_torch(torch.from_numpy(keys), torch.from_numpy(a),
...                            torch.from_numpy(b), 4096).numpy()).all())
True
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

#: the Mersenne prime of the hash family
PRIME = 2**31 - 1

Array = TypeVar("Array", np.ndarray, torch.Tensor)

__all__ = ["PRIME", "hash_numpy", "hash_params", "hash_torch"]


def hash_params(seed: int, heads: int, table: str) -> tuple[np.ndarray, np.ndarray]:
    """Hash parameters (a [H], b [H]) int64 for ``table``, fixed by (seed, table name).

    >>> a, b = hash_params(0, 2, "pair")
    >>> bool((a >= 1).all() and (a < PRIME).all() and (b >= 0).all() and (b < PRIME).all())
    True
    >>> bool((hash_params(0, 2, "triplet")[0] != a).any())
    True
    """
    if heads <= 0:
        raise ValueError(f"heads={heads} must be > 0")
    if seed < 0:
        raise ValueError(f"hash seed={seed} must be >= 0")
    if not table:
        raise ValueError("table name must be a non-empty string")
    rng = np.random.default_rng([int(seed), *table.encode("utf-8")])
    a = rng.integers(1, PRIME, size=heads, dtype=np.int64)
    b = rng.integers(0, PRIME, size=heads, dtype=np.int64)
    return a, b


def _check_keys(keys: Array) -> None:
    if keys.shape[0] == 0:
        return
    lo, hi = int(keys.min()), int(keys.max())
    if lo < 0 or hi >= PRIME:
        bad = lo if lo < 0 else hi
        raise ValueError(f"motif key {bad} is outside [0, 2^31 - 1): not a packed motif key")


def _check_buckets(buckets: int) -> None:
    if not 0 < buckets < PRIME:
        raise ValueError(f"buckets={buckets} must be in [1, 2^31 - 1)")


def hash_numpy(
    keys: np.ndarray, a: np.ndarray, b: np.ndarray, buckets: int, *, check: bool = True
) -> np.ndarray:
    """Buckets [N, H] int64 of packed keys [N] (numpy); see the module docstring."""
    keys = np.asarray(keys, dtype=np.int64).reshape(-1)
    _check_buckets(buckets)
    if check:
        _check_keys(keys)
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    x = keys[:, None] * a[None, :]  # [N, H], < 2^62
    x += b[None, :]
    x %= PRIME
    x %= buckets
    return x


def hash_torch(
    keys: torch.Tensor, a: torch.Tensor, b: torch.Tensor, buckets: int, *, check: bool = True
) -> torch.Tensor:
    """Buckets [N, H] int64 of packed keys [N] (torch, any device); equals ``hash_numpy``."""
    keys = keys.reshape(-1).long()
    _check_buckets(buckets)
    power_of_two = buckets & (buckets - 1) == 0
    if check:
        _check_keys(keys)
    heads = []
    for a_h, b_h in zip(a.tolist(), b.tolist(), strict=True):  # H (2) in-place passes over N
        x = keys * a_h  # [N], < 2^62
        x += b_h
        x.remainder_(PRIME)
        heads.append(x.bitwise_and_(buckets - 1) if power_of_two else x.remainder_(buckets))
    return torch.stack(heads, dim=1) if heads else keys.new_zeros(keys.shape[0], 0)  # [N, H]
