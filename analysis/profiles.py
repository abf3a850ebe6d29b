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

from dataclasses import dataclass

import numpy as np
import pandas as pd
from ase.data import atomic_numbers

from pamm.keys import pack_pair_key, pack_triplet_key, unpack_pair_key, unpack_triplet_key
from pamm.spec import MotifMemorySpec

__all__ = [
    "REFERENCE_RANGES",
    "ReferenceRange",
    "motif_profile",
    "profile_elements",
    "reference_ranges",
]


@dataclass(frozen=True)
class ReferenceRange:
    """The bin range of a known environment of one motif, to mark on its profile.

    ``elements`` in the memory's key order: (Zj, Zi) = (neighbour, centre) for pairs, so
    Si–O bonds around a Si centre are ``("O", "Si")``; (Zj, Zi, Zk) for triplets, the
    angle j–i–k at the centre i. ``lo``/``hi`` in Å (pairs) or degrees (triplets).
    """

    table: str
    elements: tuple[str, ...]
    lo: float
    hi: float
    tag: str  # a few characters, marked on the chart
    label: str


#: Typical bond lengths and bond angles of common oxide environments: literature ranges
#: (crystal-structure compilations, e.g. Shannon's radii and the structures of quartz,
#: stishovite, rutile, anatase, corundum, periclase, zincite, Li2O), rounded to cover the
#: usual spread. Neither pymatgen nor ASE ships such a table. The demo labels are CHGNet
#: (PBE-like) and relaxed cells there run ~1 % long. Checked against pymatgen's bundled
#: SiO2 (Si–O 1.63 Å, O–Si–O 108–111°), SrTiO3 (Ti–O 1.95 Å, 90°/180°) and Li2O (2.01 Å).
REFERENCE_RANGES: tuple[ReferenceRange, ...] = (
    ReferenceRange("pair", ("O", "Si"), 1.58, 1.68, "SiO4", "SiO4 tetrahedra (quartz, silicates)"),
    ReferenceRange("pair", ("O", "Si"), 1.75, 1.82, "SiO6", "SiO6 octahedra (stishovite)"),
    ReferenceRange("pair", ("O", "Ti"), 1.78, 1.85, "TiO4", "TiO4 tetrahedra (orthotitanates)"),
    ReferenceRange("pair", ("O", "Ti"), 1.93, 2.00, "TiO6", "TiO6 octahedra (rutile, anatase)"),
    ReferenceRange("pair", ("O", "Al"), 1.72, 1.80, "AlO4", "AlO4 tetrahedra"),
    ReferenceRange("pair", ("O", "Al"), 1.85, 1.97, "AlO6", "AlO6 octahedra (corundum)"),
    ReferenceRange("pair", ("O", "Mg"), 2.05, 2.15, "MgO6", "MgO6 octahedra (periclase)"),
    ReferenceRange("pair", ("O", "Zn"), 1.93, 2.00, "ZnO4", "ZnO4 tetrahedra (zincite)"),
    ReferenceRange("pair", ("O", "Ca"), 2.30, 2.50, "CaO6-8", "CaO6–CaO8 (lime, silicates)"),
    ReferenceRange("pair", ("O", "Li"), 1.90, 2.02, "LiO4", "LiO4 tetrahedra (Li2O)"),
    ReferenceRange("triplet", ("O", "Si", "O"), 105.0, 114.0, "SiO4",
                   "O–Si–O in SiO4 tetrahedra (109.5° ideal)"),
    ReferenceRange("triplet", ("O", "Ti", "O"), 78.0, 102.0, "cis",
                   "cis O–Ti–O in TiO6 (rutile 81°/90°/99°, anatase 78°/92°/102°)"),
    ReferenceRange("triplet", ("O", "Ti", "O"), 155.0, 180.0, "trans",
                   "trans O–Ti–O in TiO6 (rutile 180°, anatase ~155°)"),
)  # fmt: skip


def reference_ranges(table: str, elements: tuple[str, ...]) -> list[ReferenceRange]:
    """The ``REFERENCE_RANGES`` of one motif (key order, see ``ReferenceRange``).

    >>> [r.label for r in reference_ranges("pair", ("O", "Si"))]
    ['SiO4 tetrahedra (quartz, silicates)', 'SiO6 octahedra (stishovite)']
    >>> reference_ranges("pair", ("Si", "O"))  # O around a Si centre is ("O", "Si")
    []
    """
    return [r for r in REFERENCE_RANGES if r.table == table and r.elements == tuple(elements)]


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
