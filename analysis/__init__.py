"""PaMM analysis: a census of motif usage and the statistics built on it.

Notebooks import this package; ``pamm analyze`` writes a run directory of artifacts
(``analysis.schema``) that the dashboard reads through ``load_run``.

Public names load on first use (PEP 562), so ``import analysis`` is cheap and a
process pays for torch, fairchem, umap or scipy only when it touches a name that
needs them; ``from analysis import X`` works as usual. Each public name is listed once,
in ``_SOURCES`` (submodule -> names); ``__all__`` is derived from it.

>>> import analysis
>>> analysis.SCHEMA_VERSION == analysis.schema.SCHEMA_VERSION
True
>>> from analysis import load_run
>>> load_run.__module__
'analysis.io'
"""

from __future__ import annotations

import importlib
from typing import Any

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
    "analysis.profiles": ("motif_profile", "profile_elements", "reference_ranges"),
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
    "analysis.recovery": ("PlantedKeys", "Recovery", "motif_recovery", "planted_keys"),
    "analysis.schema": ("PARQUET_ARTIFACTS", "SCHEMA_VERSION"),
    "analysis.settings": ("AnalysisSettings",),
}
#: public name -> the submodule that defines it
_LAZY: dict[str, str] = {name: mod for mod, names in _SOURCES.items() for name in names}

#: the public names, in one place: every name of ``_SOURCES``
__all__ = sorted(_LAZY)


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
