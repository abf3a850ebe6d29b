"""Motif profiles: what the memory contributes along the distance (or angle) bins of one
element pair (Zj, Zi) or triple (Zj, Zi, Zk).

From :func:`analysis.attribution.bucket_attribution` rows with ``by_key=True`` (which
carry the key each lookup read), the contribution of a motif key is minus the first-order
change of the target when the rows its lookups read are replaced (``replace="zero"``:
the memory's own contribution), summed over heads and structures and divided by the
number of structures analysed (meV/atom per structure). Beside it, the lookup count
(weighted mass for smooth lookups) is the occurrence histogram. A bump planted on one bin
(``pamm.data.planted``) should show as a peak there.

>>> frame = pd.DataFrame({"table": ["pair"] * 3, "head": [0, 1, 0], "key": [
...     pack_pair_key(8, 14, 16), pack_pair_key(8, 14, 16), pack_pair_key(8, 14, 17)],
...     "structure": [0, 0, 1], "n_lookups": [2.0, 2.0, 1.0], "d_energy": [-1.0, -0.5, 0.2]})
>>> prof = motif_profile(frame, "pair", ("O", "Si"), MotifMemorySpec())
>>> cols = ["lo", "n_lookups", "contribution_mev"]
>>> prof.loc[prof["bin"].isin([16, 17]), cols].round(2).values.tolist()
[[1.6, 2.0, 0.75], [1.7, 1.0, -0.1]]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from ase.data import atomic_numbers

from pamm.keys import pack_pair_key, pack_triplet_key, unpack_pair_key, unpack_triplet_key
from pamm.spec import MotifMemorySpec

__all__ = ["motif_profile", "profile_elements"]


def _bins(table: str, spec: MotifMemorySpec) -> tuple[int, float]:
    if table == "pair":
        return spec.n_pair_bins, spec.pair_bin_width
    if table == "triplet":
        return spec.n_angle_bins, spec.angle_bin_deg
    raise ValueError(f"table must be 'pair' or 'triplet', got {table!r}")


def motif_profile(
    per_structure: pd.DataFrame,
    table: str,
    elements: tuple[str, ...],
    spec: MotifMemorySpec,
) -> pd.DataFrame:
    """One row per bin of the motif ``elements`` ((Zj, Zi) pair, (Zj, Zi, Zk) triplet).

    Columns: bin, lo, hi (Å or degrees), n_lookups (summed over structures, one head's
    count), contribution_mev (−Σ d_energy / structures analysed; 0 where it never occurs).
    """
    n_bins, width = _bins(table, spec)
    want = 2 if table == "pair" else 3
    if len(elements) != want or not all(e in atomic_numbers for e in elements):
        raise ValueError(f"a {table} profile needs {want} element symbols, got {elements}")
    z = [atomic_numbers[e] for e in elements]
    b = np.arange(n_bins)
    keys = pack_pair_key(z[0], z[1], b) if table == "pair" else pack_triplet_key(*z, b)
    rows = per_structure[per_structure["table"] == table]
    n_structures = max(int(per_structure["structure"].nunique()), 1)
    first_head = rows[rows["head"] == rows["head"].min()] if len(rows) else rows
    counts = first_head.groupby("key")["n_lookups"].sum()
    effect = rows.groupby("key")["d_energy"].sum()
    return pd.DataFrame(
        {
            "bin": b,
            "lo": b * width,
            "hi": (b + 1) * width,
            "n_lookups": counts.reindex(keys, fill_value=0.0).to_numpy(dtype=float),
            "contribution_mev": -effect.reindex(keys, fill_value=0.0).to_numpy() / n_structures,
        }
    )


def profile_elements(per_structure: pd.DataFrame, table: str) -> pd.DataFrame:
    """The element pairs / triples that occur, with their lookup counts, most used first."""
    rows = per_structure[per_structure["table"] == table]
    if not len(rows):
        return pd.DataFrame(columns=["elements", "n_lookups"])
    rows = rows[rows["head"] == rows["head"].min()]
    keys = rows["key"].to_numpy()
    parts = unpack_pair_key(keys)[:2] if table == "pair" else unpack_triplet_key(keys)[:3]
    from ase.data import chemical_symbols

    label = ["-".join(chemical_symbols[int(x)] for x in zs) for zs in zip(*parts, strict=True)]
    out = rows.assign(elements=label).groupby("elements", as_index=False)["n_lookups"].sum()
    return out.sort_values("n_lookups", ascending=False, ignore_index=True)
