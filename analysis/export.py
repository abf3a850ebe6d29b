"""Export example environments as a chemiscope dataset (JSON) for sharing.

One chemiscope *environment* per distinct (structure, centre) of the run's examples,
with atom-level properties: the occurrence's gate, its motif's label, table, family,
count, mean gate and bin lower edge. Uses the ``chemiscope`` package (optional,
``pip install chemiscope``); open the file at https://chemiscope.org or in a notebook
with ``chemiscope.show_input(path)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.data import StructureSource, open_dataset
from analysis.io import Run, load_run
from pamm.plumbing import atomic_write_bytes

__all__ = ["chemiscope_dataset", "export_chemiscope"]


def _chemiscope() -> Any:
    try:
        import chemiscope
    except ImportError as err:  # pragma: no cover - depends on the installation
        raise ImportError(
            "chemiscope export needs the 'chemiscope' package: pip install chemiscope"
        ) from err
    return chemiscope


def _pick(run: Run, tables: tuple[str, ...], max_environments: int) -> pd.DataFrame:
    ex = run.frame("examples")
    ex = ex[ex["table"].isin(tables)]
    motifs = pd.concat([run.motifs(t).assign(table=t) for t in tables], ignore_index=True)[
        ["table", "key", "label", "count", "gate_mean", "bin_lo"]
    ]
    ex = ex.merge(
        motifs.rename(columns={"gate_mean": "motif_gate_mean"}), on=["table", "key"], how="left"
    )
    ex = ex.sort_values(["count", "key"], ascending=[False, True], kind="stable")
    ex = ex.drop_duplicates(["structure", "centre"])
    return ex.head(max_environments).sort_values(["structure", "centre"], ignore_index=True)


def chemiscope_dataset(
    run: Run | str | Path,
    *,
    tables: tuple[str, ...] = ("pair", "triplet"),
    max_environments: int = 300,
    cutoff: float = 4.0,
    source: StructureSource | None = None,
) -> dict[str, Any]:
    """The chemiscope input dict (``chemiscope.create_input``) of a run's examples.

    ``source`` defaults to the dataset named in the run's manifest (under the data root).
    """
    run = run if isinstance(run, Run) else load_run(run)
    chemiscope = _chemiscope()
    if source is None:
        source = open_dataset(run.manifest["dataset"])
    picked = _pick(run, tables, max_environments)
    if picked.empty:
        raise ValueError(f"run {run.path} has no example occurrences to export")
    structures = sorted(picked["structure"].unique().tolist())
    index = {s: n for n, s in enumerate(structures)}
    frames = []
    for s in structures:
        atoms = source.get_atoms(int(s))
        atoms.calc = None
        atoms.info = {"sid": str(atoms.info.get("sid", s))}
        frames.append(atoms)
    environments = [
        (index[s], int(c), float(cutoff))
        for s, c in zip(picked["structure"], picked["centre"], strict=True)
    ]

    def numeric(col: str) -> np.ndarray:
        return picked[col].to_numpy(np.float64)

    properties = {
        "gate": {"target": "atom", "values": numeric("gate"), "description": "gate of j->i"},
        "motif gate mean": {"target": "atom", "values": numeric("motif_gate_mean")},
        "motif count": {"target": "atom", "values": numeric("count")},
        "bin lower edge": {"target": "atom", "values": numeric("bin_lo")},
        "motif": {"target": "atom", "values": picked["label"].astype(str).tolist()},
        "table": {"target": "atom", "values": picked["table"].astype(str).tolist()},
        "family": {"target": "atom", "values": picked["family"].astype(str).tolist()},
    }
    for prop in properties.values():
        if isinstance(prop["values"], np.ndarray):
            prop["values"] = np.nan_to_num(prop["values"], nan=-1.0)
    return chemiscope.create_input(
        frames,
        metadata={
            "name": f"PaMM motif environments ({run.path.name})",
            "description": "Example occurrences of PaMM motifs with gates and families; "
            "gate -1 means the model has no gate (baseline).",
        },
        properties=properties,
        environments=environments,
        settings={"map": {"x": {"property": "motif count"}, "y": {"property": "gate"},
                          "color": {"property": "motif gate mean"}}},
    )  # fmt: skip


def export_chemiscope(run: Run | str | Path, path: str | Path, **kwargs: Any) -> Path:
    """Write ``chemiscope_dataset(run, **kwargs)`` as JSON (``.json`` or ``.json.gz``)."""
    import gzip
    import json

    data = chemiscope_dataset(run, **kwargs)
    path = Path(path)
    raw = json.dumps(data).encode()
    atomic_write_bytes(path, gzip.compress(raw) if path.suffix == ".gz" else raw)
    return path
