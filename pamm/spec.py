"""``MotifMemorySpec``: the frozen, validated configuration of the PaMM motif memory.

One spec describes everything that changes what a motif key is or where it is stored
(bins, cutoffs, table sizes, hashing seed), so it is serialised whole into checkpoints
and analysis manifests (``to_dict`` / ``from_dict``).

>>> spec = MotifMemorySpec(cutoff=6.0)
>>> spec.n_pair_bins, spec.n_angle_bins
(60, 18)
>>> MotifMemorySpec.from_dict(spec.to_dict()) == spec
True
>>> spec.lookup, MotifMemorySpec.from_dict({"fusion": "affine"}).lookup
('smooth', 'smooth')
>>> legacy = {k: v for k, v in spec.to_dict().items() if k in LEGACY_FIELDS}
>>> MotifMemorySpec.from_dict(legacy).lookup  # a stored spec from before lookup modes
'hard'
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

#: memory variants; ``baseline`` means no memory at all (the plain backbone)
MODES = ("baseline", "pamm", "pair_only", "triplet_only", "random_bucket", "mlp")
#: fusion of the memory vector into the edge features
FUSIONS = ("gate", "affine")
#: how a motif key becomes table rows: ``hard`` (one row per key, piecewise constant in
#: the positions) or ``smooth`` (neighbouring bins blended, triplets enveloped: the
#: energy is a C² function of the positions; see ``pamm.blend``)
LOOKUPS = ("hard", "smooth")
#: how an edge's triplet rows are combined: ``mean`` (over the partners; smooth: the
#: enveloped sum over 1 + the summed mass) or ``sum`` (no normaliser: a row's weight in m
#: does not shrink with the number of other partners; see docs/ARCHITECTURE.md)
TRIPLET_REDUCES = ("mean", "sum")
#: the fields of every stored spec written before lookup modes existed (2026-11): a dict
#: holding all of them but no ``lookup`` is such a spec, and those models were trained hard
LEGACY_FIELDS = frozenset(
    {
        "mode", "fusion", "cutoff", "pair_bin_width", "triplet_cutoff",
        "max_triplet_neighbors", "angle_bin_deg", "pair_buckets", "triplet_buckets",
        "heads", "head_dim", "hash_seed",
    }
)  # fmt: skip
#: packed keys hold Z in 7 bits and bins in 10 bits (see ``pamm.keys``)
MAX_BINS = 1024


@dataclass(frozen=True)
class MotifMemorySpec:
    """Configuration of the motif memory (defaults: ``shared/DESIGN.md``).

    Attributes:
        mode: one of ``MODES``.
        fusion: ``"gate"`` (x + g*(W_v m)) or ``"affine"`` ((1 + W_g m)*x + g*(W_v m)).
        lookup: ``"smooth"`` (default for new models: rows of neighbouring bins blended
            by a C² partition of unity, triplets weighted by a C² envelope, no K cap;
            energy and forces are continuous) or ``"hard"`` (one row per key, the
            paper-faithful reading; the energy jumps at bin edges). See ``pamm.blend``.
        triplet_reduce: ``"mean"`` (default; stored specs without the field are mean) or
            ``"sum"``: how the triplet rows of an edge's partners are combined (hard: mean
            or sum over the kept partners; smooth: Σ μ·w·row / (1 + Σμ) or Σ μ·w·row).
        cutoff: radius-graph cutoff in Å; must equal the backbone's ``cutoff``.
        pair_bin_width: Δr of the pair distance bins, Å.
        triplet_cutoff: both edges of a triplet must be shorter than this, Å.
        triplet_envelope_width: ``smooth`` only: Å; triplet partners are weighted by
            f(r) = 1 - s((r - (triplet_cutoff - width)) / width) (s the quintic
            smoothstep), 1 up to ``triplet_cutoff - width`` and 0 with two vanishing
            derivatives at ``triplet_cutoff``.
        max_triplet_neighbors: ``hard`` only: K, only the K nearest edges of a centre
            form triplets (a hard cap cannot be continuous; ``smooth`` uses the envelope).
        triplet_tie_tolerance: ``hard`` only: Å; edges at most this much farther than the
            K-th nearest are kept too, so an equidistant shell is never cut by float noise
            (as fairchem's ``enforce_max_neighbors_strictly=False``, which uses 0.01 Å).
        angle_bin_deg: Δθ of the angle bins, degrees.
        pair_buckets / triplet_buckets: rows M of each table (per head).
        heads: H hash heads per table (lookups are concatenated).
        head_dim: D, width of one table row.
        hash_seed: seed of the Carter–Wegman parameters.
    """

    mode: str = "pamm"
    fusion: str = "gate"
    lookup: str = "smooth"
    triplet_reduce: str = "mean"
    cutoff: float = 6.0
    pair_bin_width: float = 0.10
    triplet_cutoff: float = 4.0
    triplet_envelope_width: float = 0.5
    max_triplet_neighbors: int = 12
    triplet_tie_tolerance: float = 0.01
    angle_bin_deg: float = 10.0
    pair_buckets: int = 4096
    triplet_buckets: int = 16384
    heads: int = 2
    head_dim: int = 16
    hash_seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"MotifMemorySpec.mode={self.mode!r} is not one of {MODES}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"MotifMemorySpec.fusion={self.fusion!r} is not one of {FUSIONS}")
        if self.lookup not in LOOKUPS:
            raise ValueError(f"MotifMemorySpec.lookup={self.lookup!r} is not one of {LOOKUPS}")
        if self.triplet_reduce not in TRIPLET_REDUCES:
            raise ValueError(
                f"MotifMemorySpec.triplet_reduce={self.triplet_reduce!r} is not one of "
                f"{TRIPLET_REDUCES}"
            )
        for name in (
            "cutoff",
            "pair_bin_width",
            "triplet_cutoff",
            "triplet_envelope_width",
            "angle_bin_deg",
        ):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"MotifMemorySpec.{name}={value!r} must be a finite number > 0")
        for name in (
            "max_triplet_neighbors",
            "pair_buckets",
            "triplet_buckets",
            "heads",
            "head_dim",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"MotifMemorySpec.{name}={value!r} must be an integer > 0")
        tol = self.triplet_tie_tolerance
        if not isinstance(tol, int | float) or not math.isfinite(tol) or tol < 0:
            raise ValueError(
                f"MotifMemorySpec.triplet_tie_tolerance={tol!r} must be a finite number >= 0"
            )
        if isinstance(self.hash_seed, bool) or not isinstance(self.hash_seed, int):
            raise ValueError(f"MotifMemorySpec.hash_seed={self.hash_seed!r} must be an integer")
        if self.hash_seed < 0:
            raise ValueError(f"MotifMemorySpec.hash_seed={self.hash_seed} must be >= 0")
        if self.triplet_cutoff > self.cutoff:
            raise ValueError(
                f"MotifMemorySpec.triplet_cutoff={self.triplet_cutoff} exceeds "
                f"cutoff={self.cutoff}: triplets are built from graph edges"
            )
        if self.triplet_envelope_width > self.triplet_cutoff:
            raise ValueError(
                f"MotifMemorySpec.triplet_envelope_width={self.triplet_envelope_width} exceeds "
                f"triplet_cutoff={self.triplet_cutoff}: the envelope starts at their difference"
            )
        for name in ("pair_buckets", "triplet_buckets"):
            if getattr(self, name) >= 2**31 - 1:
                raise ValueError(f"MotifMemorySpec.{name} must be < 2^31 - 1 (hash prime)")
        for name in ("n_pair_bins", "n_angle_bins"):
            try:
                n = getattr(self, name)
            except OverflowError:  # e.g. a subnormal bin width: cutoff / width = inf
                n = math.inf
            if not 0 < n < MAX_BINS:
                formula = {
                    "n_pair_bins": "ceil(cutoff / pair_bin_width)",
                    "n_angle_bins": "ceil(180 / angle_bin_deg)",
                }[name]
                raise ValueError(
                    f"MotifMemorySpec.{name} = {formula} = {n} must be in [1, {MAX_BINS - 1}] "
                    f"(keys pack bins in 10 bits); change the bin width or the cutoff"
                )

    @property
    def n_pair_bins(self) -> int:
        """n_r = ceil(cutoff / Δr), the number of distance bins."""
        return math.ceil(round(self.cutoff / self.pair_bin_width, 9))

    @property
    def n_angle_bins(self) -> int:
        """n_θ = ceil(180 / Δθ), the number of angle bins."""
        return math.ceil(round(180.0 / self.angle_bin_deg, 9))

    @property
    def smooth(self) -> bool:
        """True for the continuous lookup (``lookup == "smooth"``)."""
        return self.lookup == "smooth"

    @property
    def uses_memory(self) -> bool:
        """False only for ``baseline`` (no memory, no fusion)."""
        return self.mode != "baseline"

    @property
    def uses_pair(self) -> bool:
        """Whether the pair half of the memory vector is looked up."""
        return self.mode in ("pamm", "pair_only", "random_bucket")

    @property
    def uses_triplet(self) -> bool:
        """Whether the triplet half of the memory vector is looked up."""
        return self.mode in ("pamm", "triplet_only", "random_bucket")

    @property
    def memory_dim(self) -> int:
        """Width of the memory vector m = [pair ; triplet] (both halves H*D wide)."""
        return 2 * self.heads * self.head_dim

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of all fields (no derived values)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> MotifMemorySpec:
        """Build from a dict, rejecting unknown keys by name (missing keys take defaults).

        One exception: a dict holding every field of ``LEGACY_FIELDS`` but no ``lookup`` is
        a stored spec (checkpoint, manifest) written before lookup modes existed; its model
        was trained with hard lookups, so it loads as ``lookup="hard"``.
        """
        data = dict(data or {})
        if "lookup" not in data and LEGACY_FIELDS.issubset(data):
            data["lookup"] = "hard"
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown MotifMemorySpec field(s) {unknown}; known fields: {sorted(known)}"
            )
        # YAML / JSON may give ints for float fields and vice versa: normalise
        for f in dataclasses.fields(cls):
            if f.name in data and f.type == "float" and isinstance(data[f.name], int):
                data[f.name] = float(data[f.name])
        return cls(**data)
