"""The census: per-motif aggregates of a dataset, mergeable exactly across shards.

For each table (``pair``, ``triplet``) the census holds, per (motif key, family):
occurrence ``count`` and the sums of the quantised gate ``q = round(g * 2^16)`` and of
``q^2`` as int64, so that any split of the data into shards sums to the *identical*
census (integer sums are associative; float sums are not). It also holds a bounded
reservoir of example occurrences per key: each occurrence gets a deterministic
priority (a hash of its identity: structure, atoms, images) and the ``reservoir``
smallest priorities per key are kept; the union of shard reservoirs trimmed the same
way equals the reservoir of one pass. Memory grows with distinct motifs, not edges.

``count`` is the number of occurrences of each edge's / triplet's own key (the bin it lies
in). With smooth lookups one edge reads the rows of two neighbouring bins with weights,
so the census also holds ``lookup_mass``: per (key, family) the summed lookup weights
(pair: the bin-blend weights, 1 per edge; triplet: the envelope mass split over two angle
bins), quantised as ``round(w * 2^16)`` so shard sums stay exact. ``lookup_mass`` is None
for hard lookups, where it would equal ``count``.

>>> b = CensusBuilder(reservoir=2)
>>> b.add("pair", keys=np.array([5, 5, 7]), family=np.array([0, 0, 1]),
...       gate=np.array([0.5, 1.0, 0.0]), structure=np.array([0, 0, 1]),
...       centre=np.array([0, 1, 0]), neighbour=np.array([1, 0, 0]))
>>> c = b.finish()
>>> c.tables["pair"].key.tolist(), c.tables["pair"].count.tolist()
([5, 7], [2, 1])
>>> float(c.tables["pair"].gate_mean()[0])
0.75
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from analysis.reservoir import Reservoir, candidate_rows, occurrence_priority
from analysis.schema import TABLES
from pamm.data.families import OMAT24_FAMILIES, UNKNOWN_FAMILY
from pamm.plumbing import atomic_write_npz

__all__ = [
    "FAMILY_NAMES",
    "MASS_SCALE",
    "Census",
    "CensusBuilder",
    "MotifCounts",
    "Reservoir",
    "merge",
]

#: Fixed family index space of every census (stable across shards and runs).
FAMILY_NAMES: tuple[str, ...] = (*OMAT24_FAMILIES, UNKNOWN_FAMILY)
#: Largest batch aggregated at once (float64 bincount sums of q^2 stay below 2^53).
_MAX_ADD = 1 << 20
#: Gate quantisation: q = round(g * GATE_SCALE), exact int64 sums.
GATE_SCALE = 1 << 16
#: Lookup-weight quantisation (smooth lookups): exact int64 sums of round(w * MASS_SCALE).
MASS_SCALE = 1 << 16
_N_FAM = len(FAMILY_NAMES)


@dataclass
class MotifCounts:
    """Aggregates of one table, one row per (key, family), sorted by (key, family)."""

    key: np.ndarray  # [R] int64
    family: np.ndarray  # [R] int16, index into FAMILY_NAMES
    count: np.ndarray  # [R] int64
    gate_q: np.ndarray  # [R] int64, sum of quantised gates
    gate_q2: np.ndarray  # [R] int64, sum of squared quantised gates

    @classmethod
    def empty(cls) -> MotifCounts:
        z = np.zeros(0, np.int64)
        return cls(z, z.astype(np.int16), z, z, z)

    @classmethod
    def reduce(cls, parts: list[MotifCounts]) -> MotifCounts:
        """Sum rows of equal (key, family): the exact merge."""
        parts = [p for p in parts if len(p.key)]
        if not parts:
            return cls.empty()
        key = np.concatenate([p.key for p in parts])
        fam = np.concatenate([p.family for p in parts]).astype(np.int64)
        combined = key * _N_FAM + fam  # keys < 2^31, no overflow
        order = np.argsort(combined)
        sorted_c = combined[order]
        starts = np.r_[0, np.flatnonzero(np.diff(sorted_c)) + 1]
        uniq = sorted_c[starts]

        def total(name: str) -> np.ndarray:
            return _group_sum(np.concatenate([getattr(p, name) for p in parts]), order, starts)

        return cls(
            uniq // _N_FAM,
            (uniq % _N_FAM).astype(np.int16),
            total("count"),
            total("gate_q"),
            total("gate_q2"),
        )

    def per_key(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(keys [K], counts [K], gate_q [K], gate_q2 [K]) summed over families."""
        keys, inv = np.unique(self.key, return_inverse=True)
        order, starts = _groups(inv)
        return (
            keys,
            _group_sum(self.count, order, starts),
            _group_sum(self.gate_q, order, starts),
            _group_sum(self.gate_q2, order, starts),
        )

    def gate_mean(self) -> np.ndarray:
        """Mean gate per row (NaN where the census holds no gate)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.gate_q / (self.count * float(GATE_SCALE))

    def equals(self, other: MotifCounts) -> bool:
        return all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name)) for f in fields(self)
        )


def _groups(inv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort order and group starts of dense group ids ``inv`` (0..G-1, all present)."""
    order = np.argsort(inv, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(inv[order])) + 1]
    return order, starts


def _group_sum(values: np.ndarray, order: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Exact int64 sums of ``values`` per group (no float round-off)."""
    if len(order) == 0:
        return np.zeros(0, np.int64)
    return np.add.reduceat(np.asarray(values, np.int64)[order], starts)


@dataclass
class Census:
    """A finished census: per-table aggregates, reservoirs and per-family totals."""

    tables: dict[str, MotifCounts]
    reservoirs: dict[str, Reservoir]
    structures_per_family: np.ndarray  # [F] int64
    reservoir_size: int
    has_gate: bool
    meta: dict[str, Any] = field(default_factory=dict)
    #: smooth lookups only: per table, rows (key, family) whose ``count`` holds the summed
    #: quantised lookup weight (units of 1 / MASS_SCALE); ``lookup_mass_of`` gives floats
    lookup_mass: dict[str, MotifCounts] | None = None

    def lookup_mass_of(self, table: str) -> tuple[np.ndarray, np.ndarray]:
        """(keys [K], weighted lookup mass [K] float) of ``table`` summed over families.

        Hard lookups: the occurrence counts (each occurrence reads its own key with weight 1).
        """
        if self.lookup_mass is None:
            keys, count, _, _ = self.tables[table].per_key()
            return keys, count.astype(np.float64)
        keys, mass_q, _, _ = self.lookup_mass[table].per_key()
        return keys, mass_q / float(MASS_SCALE)

    @property
    def families(self) -> list[str]:
        """Names of the families with at least one structure."""
        return [FAMILY_NAMES[i] for i in np.flatnonzero(self.structures_per_family)]

    def equals(self, other: Census) -> bool:
        """Exact equality of all aggregates and reservoirs (ignores ``meta``)."""
        return (
            np.array_equal(self.structures_per_family, other.structures_per_family)
            and self.has_gate == other.has_gate
            and all(self.tables[t].equals(other.tables[t]) for t in TABLES)
            and all(self.reservoirs[t].equals(other.reservoirs[t]) for t in TABLES)
            and (self.lookup_mass is None) == (other.lookup_mass is None)
            and all(
                self.lookup_mass[t].equals(other.lookup_mass[t])
                for t in (TABLES if self.lookup_mass is not None else ())
            )
        )

    def save(self, path: str | Path) -> None:
        """Write as ``.npz`` atomically (plain arrays, loadable without pickle)."""
        arrays: dict[str, np.ndarray] = {"structures_per_family": self.structures_per_family}
        for t in TABLES:
            for f in fields(MotifCounts):
                arrays[f"{t}.counts.{f.name}"] = getattr(self.tables[t], f.name)
            for f in fields(Reservoir):
                arrays[f"{t}.reservoir.{f.name}"] = getattr(self.reservoirs[t], f.name)
            for f in fields(MotifCounts) if self.lookup_mass is not None else ():
                arrays[f"{t}.lookup_mass.{f.name}"] = getattr(self.lookup_mass[t], f.name)
        info = {"reservoir_size": self.reservoir_size, "has_gate": self.has_gate, **self.meta}
        arrays["info"] = np.frombuffer(json.dumps(info).encode(), dtype=np.uint8)
        atomic_write_npz(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> Census:
        """Read a census written by ``save``."""
        with np.load(path, allow_pickle=False) as npz:
            info = json.loads(npz["info"].tobytes().decode())
            tables = {
                t: MotifCounts(**{f.name: npz[f"{t}.counts.{f.name}"] for f in fields(MotifCounts)})
                for t in TABLES
            }
            reservoirs = {
                t: Reservoir(**{f.name: npz[f"{t}.reservoir.{f.name}"] for f in fields(Reservoir)})
                for t in TABLES
            }
            spf = npz["structures_per_family"]
            mass = None
            if f"{TABLES[0]}.lookup_mass.key" in npz:
                mass = {
                    t: MotifCounts(
                        **{f.name: npz[f"{t}.lookup_mass.{f.name}"] for f in fields(MotifCounts)}
                    )
                    for t in TABLES
                }
        size = info.pop("reservoir_size")
        has_gate = info.pop("has_gate")
        return cls(tables, reservoirs, spf, size, has_gate, info, mass)


def merge(censuses: list[Census]) -> Census:
    """The exact sum of shard censuses (equal to one census over all shards)."""
    if not censuses:
        raise ValueError("merge() needs at least one census")
    size = censuses[0].reservoir_size
    if any(c.reservoir_size != size for c in censuses):
        raise ValueError("cannot merge censuses with different reservoir sizes")
    return Census(
        tables={t: MotifCounts.reduce([c.tables[t] for c in censuses]) for t in TABLES},
        reservoirs={t: Reservoir.reduce([c.reservoirs[t] for c in censuses], size) for t in TABLES},
        structures_per_family=np.sum([c.structures_per_family for c in censuses], axis=0),
        reservoir_size=size,
        has_gate=all(c.has_gate for c in censuses),
        meta=dict(censuses[0].meta),
        lookup_mass=None
        if any(c.lookup_mass is None for c in censuses)
        else {t: MotifCounts.reduce([c.lookup_mass[t] for c in censuses]) for t in TABLES},
    )


class CensusBuilder:
    """Streams occurrences in, compacting buffers so memory tracks distinct motifs."""

    def __init__(self, *, reservoir: int = 8, compact_every: int = 2_000_000) -> None:
        if reservoir < 0:
            raise ValueError(f"reservoir={reservoir} must be >= 0")
        self.reservoir_size = reservoir
        self.compact_every = compact_every
        self._counts: dict[str, list[MotifCounts]] = {t: [] for t in TABLES}
        self._res: dict[str, list[Reservoir]] = {t: [] for t in TABLES}
        self._pending: dict[str, int] = dict.fromkeys(TABLES, 0)
        self.structures_per_family = np.zeros(_N_FAM, np.int64)
        self.has_gate = True
        self._mass: dict[str, list[MotifCounts]] | None = None  # smooth lookups only

    def add_structures(self, family: np.ndarray) -> None:
        """Count structures (family indices) seen by this shard."""
        self.structures_per_family += np.bincount(np.asarray(family), minlength=_N_FAM)

    def add(
        self,
        table: str,
        *,
        keys: np.ndarray,
        family: np.ndarray,
        gate: np.ndarray | None,
        structure: np.ndarray,
        centre: np.ndarray,
        neighbour: np.ndarray,
        partner: np.ndarray | None = None,
        offset_j: np.ndarray | None = None,
        offset_k: np.ndarray | None = None,
    ) -> None:
        """Add ``n`` occurrences of ``table`` motifs (all arrays ``[n]``, offsets ``[n, 3]``)."""
        if table not in TABLES:
            raise ValueError(f"table {table!r} is not one of {TABLES}")
        keys = np.asarray(keys, np.int64)
        n = len(keys)
        if n == 0:
            return
        family = np.asarray(family, np.int64)
        if n > _MAX_ADD:  # keep float64 bincount sums exact (< 2^53)
            for sl in range(0, n, _MAX_ADD):
                cut = slice(sl, sl + _MAX_ADD)
                self.add(
                    table, keys=keys[cut], family=family[cut],
                    gate=None if gate is None else np.asarray(gate)[cut],
                    structure=np.asarray(structure)[cut], centre=np.asarray(centre)[cut],
                    neighbour=np.asarray(neighbour)[cut],
                    partner=None if partner is None else np.asarray(partner)[cut],
                    offset_j=None if offset_j is None else np.asarray(offset_j)[cut],
                    offset_k=None if offset_k is None else np.asarray(offset_k)[cut],
                )  # fmt: skip
            return
        if gate is None:
            self.has_gate = False
            gate = np.full(n, np.nan)
            q = np.zeros(n, np.int64)
        else:
            gate = np.asarray(gate, np.float64)
            q = np.rint(np.clip(gate, 0.0, 1.0) * GATE_SCALE).astype(np.int64)
        structure = np.asarray(structure, np.int64)
        centre = np.asarray(centre, np.int64)
        neighbour = np.asarray(neighbour, np.int64)
        partner = np.full(n, -1, np.int64) if partner is None else np.asarray(partner, np.int64)
        off_j = np.zeros((n, 3), np.int64) if offset_j is None else np.asarray(offset_j, np.int64)
        off_k = np.zeros((n, 3), np.int64) if offset_k is None else np.asarray(offset_k, np.int64)
        prio = occurrence_priority(keys, structure, centre, neighbour, partner, off_j, off_k)
        order = np.argsort(keys)  # [n]
        k_sorted = keys[order]
        starts = np.r_[0, np.flatnonzero(np.diff(k_sorted)) + 1]  # [K]
        group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))  # [n] sorted
        cell = group * _N_FAM + family[order]  # [n] dense (key, family) cell
        size = len(starts) * _N_FAM
        cnt = np.bincount(cell, minlength=size)
        hit = np.flatnonzero(cnt)
        qs = q[order]
        self._counts[table].append(
            MotifCounts(
                k_sorted[starts][hit // _N_FAM],
                (hit % _N_FAM).astype(np.int16),
                cnt[hit].astype(np.int64),
                np.rint(np.bincount(cell, qs, size)[hit]).astype(np.int64),
                np.rint(np.bincount(cell, qs * qs, size)[hit]).astype(np.int64),
            )
        )
        if self.reservoir_size:
            idx = candidate_rows(keys, prio, self.reservoir_size)
            batch = Reservoir(
                keys[idx], prio[idx], structure[idx], centre[idx], neighbour[idx],
                partner[idx], family[idx], off_j[idx], off_k[idx], gate[idx],
            )  # fmt: skip
            self._res[table].append(batch)
        self._pending[table] += n
        if self._pending[table] >= self.compact_every:
            self._compact(table)

    def add_lookup_mass(
        self, table: str, *, keys: np.ndarray, family: np.ndarray, weight: np.ndarray
    ) -> None:
        """Add weighted lookups of ``table`` (all ``[n]``): ``weight`` of the row of ``keys``.

        Once called, the census carries ``lookup_mass`` (smooth lookups; see the module
        docstring). Quantised to 1 / MASS_SCALE so that shard sums are exact.
        """
        if table not in TABLES:
            raise ValueError(f"table {table!r} is not one of {TABLES}")
        if self._mass is None:
            self._mass = {t: [] for t in TABLES}
        keys = np.asarray(keys, np.int64)
        if not len(keys):
            return
        q = np.rint(np.asarray(weight, np.float64) * MASS_SCALE).astype(np.int64)
        zero = np.zeros(len(keys), np.int64)
        rows = MotifCounts(keys, np.asarray(family, np.int16), q, zero, zero)
        self._mass[table] = [MotifCounts.reduce([*self._mass[table], rows])]

    def _compact(self, table: str) -> None:
        self._counts[table] = [MotifCounts.reduce(self._counts[table])]
        self._res[table] = [Reservoir.reduce(self._res[table], self.reservoir_size)]
        self._pending[table] = 0

    def finish(self, meta: dict[str, Any] | None = None) -> Census:
        """The census of everything added so far."""
        for t in TABLES:
            self._compact(t)
        return Census(
            tables={t: self._counts[t][0] for t in TABLES},
            reservoirs={t: self._res[t][0] for t in TABLES},
            structures_per_family=self.structures_per_family.copy(),
            reservoir_size=self.reservoir_size,
            has_gate=self.has_gate,
            meta=dict(meta or {}),
            lookup_mass=None
            if self._mass is None
            else {t: MotifCounts.reduce(self._mass[t]) for t in TABLES},
        )
