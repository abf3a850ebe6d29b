"""The artifact schema of an analysis run directory: every file, its columns and dtypes.

A run directory is the one exchange format between ``analysis`` and ``app`` (and any
notebook). Each Parquet artifact is a tidy table whose columns are fixed here; the
manifest (``manifest.json``) carries the versions and inputs that produced them.
``analysis.io.load_run`` checks a directory against this module, so a change here is a
schema change: bump ``SCHEMA_VERSION`` and describe it in ``docs/ANALYSIS.md``.

Conventions: ``table`` is ``"pair"`` or ``"triplet"``; ``head`` is a hash head
(``-1`` in collision rows means "all heads combined"); ``key`` is the packed int64 motif
key of ``pamm.keys``; ``family`` is an OMat24 family name (or ``"unknown"``).

>>> sorted(PARQUET_ARTIFACTS)[:3]
['advisor.parquet', 'bucket_motifs.parquet', 'buckets.parquet']
>>> column_names("buckets.parquet")[:4]
('table', 'head', 'bucket', 'n_motifs')
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MANIFEST_KEYS",
    "NPZ_ARTIFACTS",
    "PARQUET_ARTIFACTS",
    "PROBES_ADDED",
    "PROBES_JSON",
    "PROBES_VERSION",
    "PROBE_ARTIFACTS",
    "SCHEMA_VERSION",
    "TABLES",
    "Column",
    "column_names",
]

#: Version of this schema; ``load_run`` refuses any other.
SCHEMA_VERSION = 2

#: The two motif tables of the memory.
TABLES = ("pair", "triplet")


@dataclass(frozen=True)
class Column:
    """One column of a Parquet artifact: ``name``, pandas ``dtype``, meaning."""

    name: str
    dtype: str
    doc: str


def _motif_columns() -> tuple[Column, ...]:
    return (
        Column("key", "int64", "packed motif key (pamm.keys)"),
        Column("zj", "int16", "atomic number of the neighbour j"),
        Column("zi", "int16", "atomic number of the centre i"),
        Column("zk", "int16", "atomic number of the partner k (-1 for pair motifs)"),
        Column("bin", "int16", "distance bin b_r (pair) or angle bin b_theta (triplet)"),
        Column("bin_lo", "float64", "lower edge of the bin (Å for pair, degrees for triplet)"),
        Column("bin_hi", "float64", "upper edge of the bin"),
        Column("label", "string", "human-readable motif, e.g. 'O–Fe 2.1–2.2 Å'"),
        Column("count", "int64", "occurrences over the whole census"),
        Column("share", "float64", "count / total count of the table"),
        Column("gate_mean", "float64", "mean per-edge gate activation over occurrences"),
        Column("gate_std", "float64", "standard deviation of the gate over occurrences"),
        Column("top_family", "string", "family with the largest share of this motif"),
        Column("specificity", "float64", "share of this motif's count in top_family"),
        Column("heldout_only", "bool", "seen only in held-out families"),
        Column("bucket_0", "int64", "bucket of head 0 (one bucket_<h> column per head)"),
        Column("shared_0", "int64", "other motifs in bucket_0 (one shared_<h> per head)"),
        Column("shared_all_heads", "int64", "fewest other motifs sharing a bucket, over heads"),
    )


#: Parquet artifacts -> their columns. Motif tables have one ``bucket_<h>`` and one
#: ``shared_<h>`` per head (schema 2 added the ``shared_*`` columns).
PARQUET_ARTIFACTS: dict[str, tuple[Column, ...]] = {
    "pair_motifs.parquet": _motif_columns(),
    "triplet_motifs.parquet": _motif_columns(),
    "motif_families.parquet": (
        Column("table", "string", "pair or triplet"),
        Column("key", "int64", "packed motif key"),
        Column("family", "string", "OMat24 family"),
        Column("count", "int64", "occurrences of the motif in this family"),
        Column("gate_mean", "float64", "mean gate of the motif in this family"),
        Column("gate_std", "float64", "gate standard deviation in this family"),
    ),
    "buckets.parquet": (
        Column("table", "string", "pair or triplet"),
        Column("head", "int64", "hash head"),
        Column("bucket", "int64", "row of the table"),
        Column("n_motifs", "int64", "distinct observed motifs hashed here"),
        Column("mass", "int64", "occurrences of all motifs hashed here"),
        Column("purity", "float64", "dominant motif's share of the bucket mass"),
        Column("dominant_key", "int64", "key of the most frequent motif in the bucket"),
        Column("dominant_label", "string", "label of the dominant motif"),
        Column("gate_mean", "float64", "mass-weighted mean gate of the bucket"),
    ),
    "bucket_motifs.parquet": (
        Column("table", "string", "pair or triplet"),
        Column("head", "int64", "hash head"),
        Column("bucket", "int64", "row of the table"),
        Column("key", "int64", "a motif observed in this bucket"),
        Column("label", "string", "its label"),
        Column("count", "int64", "its occurrences"),
        Column("share", "float64", "its share of the bucket mass"),
    ),
    "collisions.parquet": (
        Column("table", "string", "pair or triplet"),
        Column("head", "int64", "hash head; -1 = all heads combined (ambiguous in every head)"),
        Column("buckets", "int64", "table rows M"),
        Column("n_motifs", "int64", "distinct observed motifs"),
        Column("occupied", "int64", "buckets holding at least one motif"),
        Column("load_factor", "float64", "n_motifs / M"),
        Column("max_load", "int64", "most motifs in one bucket"),
        Column("motif_collision_rate", "float64", "fraction of motifs sharing their bucket"),
        Column("mass_collision_rate", "float64", "fraction of occurrence mass sharing a bucket"),
        Column("expected_occupied", "float64", "E[occupied] under uniform hashing"),
        Column("expected_collision_rate", "float64", "E[motif collision rate], uniform hashing"),
    ),
    "advisor.parquet": (
        Column("table", "string", "pair or triplet"),
        Column("buckets", "int64", "candidate table rows M"),
        Column("heads", "int64", "candidate head count H"),
        Column("motif_collision_rate", "float64", "motifs ambiguous in every head (exact)"),
        Column("mass_collision_rate", "float64", "occurrence mass ambiguous in every head"),
        Column("expected_collision_rate", "float64", "uniform-hashing expectation"),
        Column("is_current", "bool", "the checkpoint's own (M, H)"),
    ),
    "family_usage.parquet": (
        Column("table", "string", "pair or triplet"),
        Column("head", "int64", "hash head"),
        Column("family", "string", "OMat24 family"),
        Column("bucket", "int64", "row of the table"),
        Column("count", "int64", "occurrences of this family landing in this bucket"),
        Column("share", "float64", "count / family total in this table"),
    ),
    "family_divergence.parquet": (
        Column("table", "string", "pair or triplet"),
        Column("head", "int64", "hash head"),
        Column("family_a", "string", "first family"),
        Column("family_b", "string", "second family"),
        Column("jsd", "float64", "Jensen–Shannon divergence of bucket usage (bits, 0..1)"),
    ),
    "examples.parquet": (
        Column("table", "string", "pair or triplet"),
        Column("key", "int64", "packed motif key"),
        Column("structure", "int64", "index of the structure in the analysed dataset"),
        Column("sid", "string", "structure id"),
        Column("family", "string", "its family"),
        Column("centre", "int64", "atom index i (in the structure)"),
        Column("neighbour", "int64", "atom index j"),
        Column("partner", "int64", "atom index k (-1 for pair motifs)"),
        Column("offset_j", "object", "periodic image of j, 3 ints (cell units)"),
        Column("offset_k", "object", "periodic image of k, 3 ints (zeros for pairs)"),
        Column("gate", "float64", "gate activation of the occurrence's edge j->i"),
    ),
    "embedding_2d.parquet": (
        Column("table", "string", "pair or triplet"),
        Column("head", "int64", "hash head"),
        Column("bucket", "int64", "row of the table"),
        Column("x", "float64", "2-D coordinate"),
        Column("y", "float64", "2-D coordinate"),
        Column("method", "string", "umap or pca"),
        Column("mass", "int64", "occurrence mass of the bucket"),
        Column("purity", "float64", "dominant motif share"),
        Column("dominant_label", "string", "label of the dominant motif"),
        Column("element_pair", "string", "dominant motif's elements, e.g. 'O–Fe' or 'O–Fe–O'"),
        Column("bin_lo", "float64", "dominant motif's bin lower edge"),
    ),
}

#: NPZ artifacts -> array names (``<table>_rows``: float32 [H, M, D] table contents;
#: ``<table>_occupied``: bool [H, M]).
NPZ_ARTIFACTS: dict[str, tuple[str, ...]] = {
    "table_rows.npz": ("pair_rows", "triplet_rows", "pair_occupied", "triplet_occupied"),
    "census.npz": (),  # mergeable raw census (analysis.census.Census.save); free-form arrays
}

#: JSON artifacts beside the manifest.
JSON_ARTIFACTS = ("metrics.json",)

#: Version of the optional probes artifact (``probes.json["settings"]["version"]``).
#: 2 added the ``key`` column of ``attribution.parquet`` (motif profiles); version-1
#: artifacts still load, without it (``PROBES_ADDED`` says which columns are newer).
PROBES_VERSION = 2

#: (artifact, column) -> the probes version that added it (absent from older artifacts)
PROBES_ADDED: dict[tuple[str, str], int] = {("attribution.parquet", "key"): 2}

#: Settings, probed structures and correlations of the optional probes artifact.
PROBES_JSON = "probes.json"

_EFFECT_COLUMNS = (
    Column("d_energy", "float64", "first-order ΔE of replacing the row (meV/atom)"),
    Column("d_force_rms", "float64", "first-order Δ RMS force (meV/Å)"),
)

#: Optional artifacts of ``pamm analyze --probes N`` (``analysis.probe_artifacts``).
#: Absent in most runs; ``load_run`` does not require them and SCHEMA_VERSION is unchanged.
PROBE_ARTIFACTS: dict[str, tuple[Column, ...]] = {
    "attribution.parquet": (
        Column("table", "string", "pair or triplet"),
        Column("head", "int64", "hash head"),
        Column("bucket", "int64", "row of the table"),
        Column("structure", "int64", "index among the probed structures"),
        Column("key", "int64", "motif key the lookups read (smooth: the slot's bin; version 2)"),
        Column("dataset_index", "int64", "index of the structure in the dataset"),
        Column("n_lookups", "int64", "lookups of this row by this key (smooth: summed weights)"),
        Column("gate_sum", "float64", "sum of the per-edge mean gate over those lookups"),
        *_EFFECT_COLUMNS,
    ),
    "attribution_agreement.parquet": (
        Column("table", "string", "pair or triplet"),
        Column("head", "int64", "hash head"),
        Column("bucket", "int64", "row of the table (top-k by first-order |ΔE|)"),
        Column("n_structures", "int64", "probed structures where the row fires"),
        Column("gate_mean", "float64", "mean gate over the lookups"),
        Column("d_energy", "float64", "first-order ΔE, mean over those structures (meV/atom)"),
        Column("abs_d_energy", "float64", "first-order |ΔE|, mean (meV/atom)"),
        Column("exact_d_energy", "float64", "exact-ablation ΔE, mean (meV/atom)"),
        Column("exact_abs_d_energy", "float64", "exact-ablation |ΔE|, mean (meV/atom)"),
        Column("exact_d_force", "float64", "exact mean per-atom |ΔF| (meV/Å)"),
        Column("exact_d_force_rms", "float64", "exact Δ RMS force (meV/Å)"),
    ),
    "reliance.parquet": (
        Column("structure", "int64", "index among the probed structures"),
        Column("family", "string", "its family"),
        Column("n_atoms", "int64", "atoms"),
        Column("d_energy", "float64", "ΔE with the whole memory off (meV/atom)"),
        Column("d_force", "float64", "mean per-atom |ΔF| with the memory off (meV/Å)"),
        # plus d_energy_<table>, d_force_<table> for each table the mode has
    ),
    "reliance_atoms.parquet": (
        Column("structure", "int64", "index among the probed structures"),
        Column("atom", "int64", "atom index in the structure"),
        Column("Z", "int64", "atomic number"),
        Column("element", "string", "element symbol"),
        Column("d_force", "float64", "|ΔF| of the atom with the memory off (meV/Å)"),
    ),
}

#: Keys every manifest.json holds.
MANIFEST_KEYS: dict[str, str] = {
    "schema_version": "int, equals SCHEMA_VERSION",
    "created": "ISO-8601 UTC time the run was (last) written",
    "versions": "dict: python, pamm, torch, fairchem-core, numpy, pandas, pyarrow",
    "checkpoint": "dict: path, sha256 (null for an in-memory model)",
    "dataset": "dict: path(s), fingerprint, n_structures, per_family (analysed counts)",
    "spec": "dict: the full MotifMemorySpec.to_dict()",
    "settings": "dict: census/analysis settings (max_per_family, batch_size, reservoir, ...)",
    "families": "list of families present in the census, in census order",
    "heldout_families": "list of families treated as held out",
    "stages": "dict: stage name -> fingerprint of its inputs (idempotent re-runs)",
    "artifacts": "list of files written",
}


def column_names(artifact: str) -> tuple[str, ...]:
    """Column names of a Parquet artifact (fixed columns only).

    >>> column_names("examples.parquet")[:3]
    ('table', 'key', 'structure')
    """
    if artifact not in PARQUET_ARTIFACTS:
        raise KeyError(f"unknown artifact {artifact!r}; known: {sorted(PARQUET_ARTIFACTS)}")
    return tuple(c.name for c in PARQUET_ARTIFACTS[artifact])
