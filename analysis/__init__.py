"""PaMM analysis: a census of motif usage and the statistics built on it.

Notebooks import this package; ``pamm analyze`` writes a run directory of artifacts
(``analysis.schema``) that the dashboard reads through ``load_run``.
"""

from analysis.buckets import bucket_motifs, bucket_summary, inverse_map, key_space
from analysis.census import FAMILY_NAMES, Census, CensusBuilder, merge
from analysis.collisions import advisor, collision_stats, expected_collision_rate
from analysis.data import StructureSource, load_structure
from analysis.embeddings import nearest_buckets, project_2d
from analysis.families import jensen_shannon, specific_buckets, specific_motifs
from analysis.gates import family_gate_summary, gate_histogram, gate_ranking
from analysis.io import Run, RunError, load_run
from analysis.motifs import bucket_ids, motif_labels, motif_table
from analysis.pipeline import run_analysis
from analysis.schema import PARQUET_ARTIFACTS, SCHEMA_VERSION

__all__ = [
    "FAMILY_NAMES",
    "PARQUET_ARTIFACTS",
    "SCHEMA_VERSION",
    "Census",
    "CensusBuilder",
    "Run",
    "RunError",
    "StructureSource",
    "advisor",
    "bucket_ids",
    "bucket_motifs",
    "bucket_summary",
    "collision_stats",
    "expected_collision_rate",
    "family_gate_summary",
    "gate_histogram",
    "gate_ranking",
    "inverse_map",
    "jensen_shannon",
    "key_space",
    "load_run",
    "load_structure",
    "merge",
    "motif_labels",
    "motif_table",
    "nearest_buckets",
    "project_2d",
    "run_analysis",
    "specific_buckets",
    "specific_motifs",
]
