"""Motif tables: decoded keys, labels, counts, gates and family attributes per motif.

Keys are decoded with ``pamm.keys`` and hashed with ``pamm.hashing`` (never re-implemented
here). Labels read neighbour–centre(–partner), e.g. ``O–Fe 2.1–2.2 Å`` for a pair
``(Zj=O, Zi=Fe, b_r=21)`` and ``O–Fe–O 90–100°`` for a triplet with centre Fe.

>>> from pamm.spec import MotifMemorySpec
>>> from pamm.keys import pack_pair_key
>>> motif_labels("pair", np.array([pack_pair_key(8, 26, 21)]), MotifMemorySpec()).label[0]
'O–Fe 2.10–2.20 Å'
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from ase.data import chemical_symbols

from analysis.census import FAMILY_NAMES, GATE_SCALE, Census
from pamm.hashing import hash_numpy, hash_params
from pamm.keys import unpack_pair_key, unpack_triplet_key
from pamm.spec import MotifMemorySpec

__all__ = [
    "bucket_ids",
    "family_matrix",
    "motif_family_table",
    "motif_labels",
    "motif_table",
    "table_size",
]

_SYMBOLS = np.array(chemical_symbols, dtype=object)


def table_size(table: str, spec: MotifMemorySpec) -> int:
    """Rows M of ``table`` in ``spec``."""
    if table == "pair":
        return spec.pair_buckets
    if table == "triplet":
        return spec.triplet_buckets
    raise ValueError(f"table must be 'pair' or 'triplet', got {table!r}")


def bucket_ids(
    table: str,
    keys: np.ndarray,
    spec: MotifMemorySpec,
    *,
    heads: int | None = None,
    buckets: int | None = None,
) -> np.ndarray:
    """Buckets ``[N, H]`` of ``keys`` via ``pamm.hashing`` (optionally another M or H)."""
    heads = spec.heads if heads is None else heads
    buckets = table_size(table, spec) if buckets is None else buckets
    a, b = hash_params(spec.hash_seed, heads, table)
    return np.asarray(hash_numpy(np.asarray(keys, np.int64), a, b, buckets), np.int64)


def motif_labels(table: str, keys: np.ndarray, spec: MotifMemorySpec) -> pd.DataFrame:
    """Decoded keys: ``key, zj, zi, zk, bin, bin_lo, bin_hi, label`` (``zk=-1`` for pairs)."""
    keys = np.asarray(keys, np.int64)
    if table == "pair":
        zj, zi, b = unpack_pair_key(keys)
        zk = np.full_like(keys, -1)
        width, top, unit, fmt = spec.pair_bin_width, spec.cutoff, " Å", "{:.2f}"
    elif table == "triplet":
        zj, zi, zk, b = unpack_triplet_key(keys)
        width, top, unit, fmt = spec.angle_bin_deg, 180.0, "°", "{:.0f}"
    else:
        raise ValueError(f"table must be 'pair' or 'triplet', got {table!r}")
    lo = b * width
    last = spec.n_pair_bins - 1 if table == "pair" else spec.n_angle_bins - 1
    hi = np.where(b == last, max(top, (last + 1) * width), (b + 1) * width)
    elements = _SYMBOLS[zj] + "–" + _SYMBOLS[zi]
    if table == "triplet":
        elements = elements + "–" + _SYMBOLS[zk]
    ranges = [f"{fmt.format(x)}–{fmt.format(y)}{unit}" for x, y in zip(lo, hi, strict=True)]
    frame = pd.DataFrame(
        {
            "key": keys,
            "zj": zj.astype(np.int16),
            "zi": zi.astype(np.int16),
            "zk": zk.astype(np.int16),
            "bin": b.astype(np.int16),
            "bin_lo": lo.astype(np.float64),
            "bin_hi": hi.astype(np.float64),
        }
    )
    frame["label"] = pd.array(elements + " " + np.array(ranges, dtype=object), dtype="string")
    frame["element_pair"] = pd.array(elements, dtype="string")
    return frame


def family_matrix(census: Census, table: str) -> tuple[np.ndarray, np.ndarray]:
    """(keys [K], counts [K, F]) with F = ``len(FAMILY_NAMES)``."""
    counts = census.tables[table]
    keys, inv = np.unique(counts.key, return_inverse=True)
    mat = np.zeros((len(keys), len(FAMILY_NAMES)), np.int64)
    np.add.at(mat, (inv, counts.family.astype(np.int64)), counts.count)
    return keys, mat


def _gate_stats(count: np.ndarray, gq: np.ndarray, gq2: np.ndarray) -> tuple[np.ndarray, ...]:
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = gq / (count * float(GATE_SCALE))
        var = gq2 / (count * float(GATE_SCALE) ** 2) - mean**2
    return mean, np.sqrt(np.clip(var, 0.0, None))


def sharing_counts(ids: np.ndarray) -> np.ndarray:
    """How many *other* motifs share each motif's bucket, per head: [K, H] int64.

    >>> sharing_counts(np.array([[3, 7], [3, 8], [4, 7]])).tolist()
    [[1, 1], [1, 0], [0, 1]]
    """
    ids = np.asarray(ids, np.int64).reshape(len(ids), -1)  # [K, H]
    out = np.zeros(ids.shape, np.int64)
    for h in range(ids.shape[1]):
        _, inverse, counts = np.unique(ids[:, h], return_inverse=True, return_counts=True)
        out[:, h] = counts[inverse] - 1
    return out


def motif_table(
    census: Census, table: str, spec: MotifMemorySpec, heldout: tuple[str, ...] = ()
) -> pd.DataFrame:
    """One row per observed motif (columns of ``{table}_motifs.parquet``), by count desc."""
    keys, count, gq, gq2 = census.tables[table].per_key()
    frame = motif_labels(table, keys, spec).drop(columns="element_pair")
    frame["count"] = count
    total = max(int(count.sum()), 1)
    frame["share"] = count / total
    mean, std = _gate_stats(count, gq, gq2)
    if not census.has_gate:
        mean, std = np.full_like(mean, np.nan), np.full_like(std, np.nan)
    frame["gate_mean"], frame["gate_std"] = mean, std
    _, fam = family_matrix(census, table)  # same key order (np.unique)
    top = fam.argmax(axis=1) if len(keys) else np.zeros(0, np.int64)
    frame["top_family"] = pd.array(np.array(FAMILY_NAMES, dtype=object)[top], dtype="string")
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["specificity"] = fam.max(axis=1, initial=0) / np.maximum(count, 1)
    held = np.isin(np.array(FAMILY_NAMES), list(heldout))
    frame["heldout_only"] = (fam[:, ~held].sum(axis=1) == 0) & (fam[:, held].sum(axis=1) > 0)
    ids = bucket_ids(table, keys, spec)  # [K, H]
    for h in range(ids.shape[1]):
        frame[f"bucket_{h}"] = ids[:, h]
    shared = sharing_counts(ids)  # [K, H]
    for h in range(ids.shape[1]):
        frame[f"shared_{h}"] = shared[:, h]
    frame["shared_all_heads"] = shared.min(axis=1)  # [K]
    return frame.sort_values(["count", "key"], ascending=[False, True], ignore_index=True)


def motif_family_table(census: Census, table: str) -> pd.DataFrame:
    """Per (motif, family): ``table, key, family, count, gate_mean, gate_std``."""
    c = census.tables[table]
    mean, std = _gate_stats(c.count, c.gate_q, c.gate_q2)
    if not census.has_gate:
        mean, std = np.full_like(mean, np.nan), np.full_like(std, np.nan)
    return pd.DataFrame(
        {
            "table": pd.array([table] * len(c.key), dtype="string"),
            "key": c.key,
            "family": pd.array(
                np.array(FAMILY_NAMES, dtype=object)[c.family.astype(np.int64)], dtype="string"
            ),
            "count": c.count,
            "gate_mean": mean,
            "gate_std": std,
        }
    )
