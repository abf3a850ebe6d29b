"""PaMM analysis: a census of motif usage and the statistics built on it.

Notebooks import this package; ``pamm analyze`` writes a run directory of artifacts
(``analysis.schema``) that the dashboard reads through ``load_run``.

Public names load on first use (PEP 562), so ``import analysis`` is cheap and a
process pays for torch, fairchem, umap or scipy only when it touches a name that
needs them; ``from analysis import X`` works as usual.

>>> import analysis
>>> analysis.SCHEMA_VERSION == analysis.schema.SCHEMA_VERSION
True
>>> from analysis import load_run
>>> load_run.__module__
'analysis.io'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # static analysers and IDEs see the eager imports
    from analysis.buckets import bucket_motifs, bucket_summary, inverse_map, key_space
    from analysis.census import FAMILY_NAMES, Census, CensusBuilder, merge
    from analysis.collisions import advisor, collision_stats, expected_collision_rate
    from analysis.data import StructureSource, load_structure
    from analysis.embeddings import nearest_buckets, project_2d
    from analysis.environments import coordination, local_environment
    from analysis.export import chemiscope_dataset, export_chemiscope
    from analysis.families import jensen_shannon, specific_buckets, specific_motifs
    from analysis.gates import family_gate_summary, gate_histogram, gate_ranking
    from analysis.io import Run, RunError, load_run
    from analysis.latent import gfre, latent_comparison, lfre
    from analysis.motifs import bucket_ids, motif_labels, motif_table
    from analysis.pipeline import run_analysis
    from analysis.probe_artifacts import load_probes
    from analysis.probes import (
        Predictions,
        ablation_effect,
        attribution_agreement,
        bucket_attribution,
        bucket_effects,
        gate_vs_effect,
        memory_reliance,
        predict,
        probe_run,
        probe_structures,
        reliance_summary,
    )
    from analysis.schema import PARQUET_ARTIFACTS, SCHEMA_VERSION
    from analysis.settings import AnalysisSettings

#: submodule -> the public names it provides
_SOURCES: dict[str, tuple[str, ...]] = {
    "analysis.buckets": ("bucket_motifs", "bucket_summary", "inverse_map", "key_space"),
    "analysis.census": ("FAMILY_NAMES", "Census", "CensusBuilder", "merge"),
    "analysis.collisions": ("advisor", "collision_stats", "expected_collision_rate"),
    "analysis.data": ("StructureSource", "load_structure"),
    "analysis.embeddings": ("nearest_buckets", "project_2d"),
    "analysis.environments": ("coordination", "local_environment"),
    "analysis.export": ("chemiscope_dataset", "export_chemiscope"),
    "analysis.families": ("jensen_shannon", "specific_buckets", "specific_motifs"),
    "analysis.gates": ("family_gate_summary", "gate_histogram", "gate_ranking"),
    "analysis.io": ("Run", "RunError", "load_run"),
    "analysis.latent": ("gfre", "latent_comparison", "lfre"),
    "analysis.motifs": ("bucket_ids", "motif_labels", "motif_table"),
    "analysis.pipeline": ("run_analysis",),
    "analysis.probe_artifacts": ("load_probes",),
    "analysis.probes": (
        "Predictions",
        "ablation_effect",
        "attribution_agreement",
        "bucket_attribution",
        "bucket_effects",
        "gate_vs_effect",
        "memory_reliance",
        "predict",
        "probe_run",
        "probe_structures",
        "reliance_summary",
    ),
    "analysis.schema": ("PARQUET_ARTIFACTS", "SCHEMA_VERSION"),
    "analysis.settings": ("AnalysisSettings",),
}
#: public name -> the submodule that defines it
_LAZY: dict[str, str] = {name: mod for mod, names in _SOURCES.items() for name in names}

__all__ = [
    "FAMILY_NAMES",
    "PARQUET_ARTIFACTS",
    "SCHEMA_VERSION",
    "AnalysisSettings",
    "Census",
    "CensusBuilder",
    "Predictions",
    "Run",
    "RunError",
    "StructureSource",
    "ablation_effect",
    "advisor",
    "attribution_agreement",
    "bucket_attribution",
    "bucket_effects",
    "bucket_ids",
    "bucket_motifs",
    "bucket_summary",
    "chemiscope_dataset",
    "collision_stats",
    "coordination",
    "expected_collision_rate",
    "export_chemiscope",
    "family_gate_summary",
    "gate_histogram",
    "gate_ranking",
    "gate_vs_effect",
    "gfre",
    "inverse_map",
    "jensen_shannon",
    "key_space",
    "latent_comparison",
    "lfre",
    "load_probes",
    "load_run",
    "load_structure",
    "local_environment",
    "memory_reliance",
    "merge",
    "motif_labels",
    "motif_table",
    "nearest_buckets",
    "predict",
    "probe_run",
    "probe_structures",
    "project_2d",
    "reliance_summary",
    "run_analysis",
    "specific_buckets",
    "specific_motifs",
]


def __getattr__(name: str) -> Any:
    """Import the submodule holding ``name`` on first access and cache the value."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'analysis' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
