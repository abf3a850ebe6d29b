"""Reliance on the memory per family and element, gate vs effect, and all probes of a run.

``memory_reliance`` switches the whole memory, the pair table and the triplet table off
(exact ablation) and reports ΔE (meV/atom) and ΔF (meV/Å) per structure and atom;
``gate_vs_effect`` asks whether buckets with a large mean gate have a large causal
effect; ``probe_run`` runs every probe the Interventions page shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from ase import Atoms
from ase.data import chemical_symbols

from analysis.ablation_effects import Progress, ablation_effect, predict, rank_correlation
from analysis.attribution import attribution_agreement, bucket_attribution, bucket_effects
from analysis.data import StructureSource, open_dataset
from pamm.ablation import Ablation
from pamm.capture import find_pamm_backbone

__all__ = [
    "gate_vs_effect",
    "memory_reliance",
    "probe_run",
    "probe_structures",
    "reliance_summary",
]


def gate_vs_effect(effects: pd.DataFrame, column: str = "abs_d_energy") -> pd.DataFrame:
    """Per table: Spearman correlation between a bucket's mean gate and its effect."""
    rows = []
    for table, grp in effects.groupby("table"):
        rows.append(
            {
                "table": table,
                "n_buckets": len(grp),
                "spearman": rank_correlation(grp["gate_mean"].to_numpy(), grp[column].to_numpy()),
            }
        )
    return pd.DataFrame(rows, columns=["table", "n_buckets", "spearman"])


def memory_reliance(
    model: torch.nn.Module,
    atoms_list: Sequence[Atoms],
    families: Sequence[str],
    *,
    batch_size: int = 8,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Effect of switching off the whole memory, only the pair, only the triplet table.

    Returns (per-structure frame with family and d_energy/d_force per part, per-atom frame
    of the whole-memory-off force change with element). Summarise with ``reliance_summary``.
    """
    memory = find_pamm_backbone(model).motif_memory
    parts = {"memory": Ablation("memory")}
    for table in ("pair", "triplet"):
        if getattr(memory, f"{table}_table", None) is not None:
            parts[table] = Ablation("table", table=table)
    # one set of unablated passes for the three ablations (same batches: bitwise equal)
    reference = predict(model, atoms_list, batch_size=batch_size, seed=seed)
    frame, atoms_frame = ablation_effect(
        model, atoms_list, parts["memory"], per_atom=True, batch_size=batch_size, seed=seed,
        reference=reference,
    )  # fmt: skip
    frame = frame[["structure", "n_atoms", "d_energy", "d_force"]]
    for name, ab in parts.items():
        if name != "memory":
            eff = ablation_effect(
                model, atoms_list, ab, batch_size=batch_size, seed=seed, reference=reference
            )
            frame = frame.assign(
                **{
                    f"d_energy_{name}": eff["d_energy"].to_numpy(),
                    f"d_force_{name}": eff["d_force"].to_numpy(),
                }
            )
    frame.insert(1, "family", list(families))
    atoms_frame["element"] = [chemical_symbols[z] for z in atoms_frame["Z"]]
    return frame, atoms_frame


def reliance_summary(
    per_structure: pd.DataFrame, per_atom: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """Mean |ΔE| (meV/atom) and |ΔF| (meV/Å) per family (all parts) and per element."""
    cols = [c for c in per_structure if c.startswith(("d_energy", "d_force"))]
    fam = per_structure[["family", *cols]].assign(**{c: per_structure[c].abs() for c in cols})
    fam = fam.groupby("family").agg(["mean"]).droplevel(1, axis=1)
    fam.insert(0, "n_structures", per_structure.groupby("family").size())
    elem = per_atom.groupby("element").agg(n_atoms=("atom", "size"), d_force=("d_force", "mean"))
    return {"family": fam.reset_index(), "element": elem.reset_index()}


def probe_structures(
    dataset: dict | StructureSource, limit: int, *, data_root: str | Path | None = None
) -> tuple[list[Atoms], list[str], list[int]]:
    """Up to ``limit`` structures of a dataset, evenly spaced over it (deterministic).

    ``dataset`` is a manifest's ``dataset`` entry (its ``paths`` are opened only under
    ``data_root``, :func:`analysis.data.open_dataset`) or an open
    ``analysis.data.StructureSource``. Returns (atoms, families, dataset indices), indices
    as in ``examples.parquet``.
    """
    if limit < 1:
        raise ValueError(f"probe structure limit must be >= 1, got {limit}")
    source = dataset if isinstance(dataset, StructureSource) else open_dataset(dataset, data_root)
    idx = np.unique(np.linspace(0, len(source) - 1, min(limit, len(source))).round().astype(int))
    atoms = [source.get_atoms(int(i)) for i in idx]
    return atoms, [source.family(a) for a in atoms], [int(i) for i in idx]


def probe_run(
    model: torch.nn.Module,
    atoms_list: Sequence[Atoms],
    families: Sequence[str],
    *,
    replace: str = "zero",
    top_k: int = 10,
    batch_size: int = 8,
    progress: Progress | None = None,
) -> dict:
    """All probes of one model on ``atoms_list`` (what the Interventions page shows).

    Keys: ``attribution`` (per bucket × structure × motif key, ``bucket_attribution`` with
    ``by_key``: the input of ``analysis.profiles``), ``effects`` (per bucket),
    ``agreement`` (top-k first-order vs exact) and ``spearman`` (dict), ``gate_vs_effect``,
    ``reliance`` / ``reliance_atoms`` (memory/pair/triplet off) and their ``summary``.
    """

    def stage(lo: float, hi: float, name: str) -> Progress | None:
        if progress is None:
            return None
        return lambda f, msg: progress(lo + (hi - lo) * f, f"{name}: {msg}")

    per = bucket_attribution(
        model,
        atoms_list,
        replace=replace,
        batch_size=batch_size,
        progress=stage(0.0, 0.4, "attribution"),
        by_key=True,  # one pass: per-bucket consumers sum over keys (``per_bucket``)
    )
    effects = bucket_effects(per)
    agreement, corr = attribution_agreement(
        model,
        atoms_list,
        per,
        top_k=top_k,
        replace=replace,
        batch_size=batch_size,
        progress=stage(0.4, 0.85, "exact"),
    )
    if progress is not None:
        progress(0.85, "reliance: memory, pair and triplet off")
    reliance, reliance_atoms = memory_reliance(model, atoms_list, families, batch_size=batch_size)
    if progress is not None:
        progress(1.0, "done")
    return {
        "attribution": per,
        "effects": effects,
        "agreement": agreement,
        "spearman": corr,
        "gate_vs_effect": gate_vs_effect(effects),
        "reliance": reliance,
        "reliance_atoms": reliance_atoms,
        "summary": reliance_summary(reliance, reliance_atoms),
    }
