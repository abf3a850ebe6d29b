"""Neighbour counts and triplet cost: does the neighbour cap bind, how many triplets per atom.

    python benchmarks/neighbours.py --json benchmarks/results/neighbours.json [--data assets/data]

For every structure of the bundled data (all splits) and for dense reference crystals
(``pamm.testing.dense_crystals``: fcc Cu, bcc W, corundum Al2O3, diamond C, rocksalt MgO,
rutile TiO2): the most neighbours any atom has within the graph cutoff (6 Å; the shipped
``max_neighbors`` must stay above it, else the cap binds and the energy jumps), and the
triplets per atom at triplet cutoffs 3-5 Å with the hard rule (K = 12 nearest + ties) and
the smooth rule (every edge inside the triplet cutoff, no cap), on the dense crystals and
the first ``--per-split`` structures of each split. Counts only: no timing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.neighborlist import neighbor_list

from pamm.keys import triplet_pairs
from pamm.plumbing import atomic_write_json
from pamm.spec import MotifMemorySpec
from pamm.testing import ase_edges, dense_crystals

TRIPLET_CUTOFFS = (3.0, 3.5, 4.0, 4.5, 5.0)


def max_neighbors(atoms: Atoms, cutoff: float = 6.0) -> int:
    """The most neighbours (edges, periodic images included) any atom has within ``cutoff``."""
    centre = neighbor_list("i", atoms, cutoff)
    return int(np.bincount(centre, minlength=len(atoms)).max())


def counts(atoms: Atoms, cutoff: float = 6.0) -> dict[str, float]:
    """Most neighbours within ``cutoff`` and triplets per atom (hard K=12 / smooth)."""
    out: dict[str, float] = {"max_neighbors": max_neighbors(atoms, cutoff)}
    edges = ase_edges(atoms, cutoff)
    ei = torch.from_numpy(edges["edge_index"])
    dist = torch.from_numpy(edges["edge_distance"])
    for rc in TRIPLET_CUTOFFS:
        for lookup in ("hard", "smooth"):
            spec = MotifMemorySpec(cutoff=cutoff, triplet_cutoff=rc, lookup=lookup)
            n = triplet_pairs(ei, dist, len(atoms), spec)[0].shape[0]
            out[f"triplets_per_atom_{lookup}_{rc:g}"] = n / len(atoms)
    return out


def bundled(data: Path, per_split: int) -> dict[str, float]:
    """Most neighbours over every bundled structure; triplets per atom (mean, max) over the
    first ``per_split`` structures of each split."""
    from pamm.data.readers import iter_structures

    splits = ("train", "val", "test", "heldout")
    structures = [a for split in splits for a in iter_structures(data / split)]
    rows = [counts(a) for split in splits for a in iter_structures(data / split, limit=per_split)]
    out: dict[str, float] = {"n_structures": len(structures), "n_triplet_sample": len(rows)}
    out["max_neighbors"] = max(max_neighbors(a) for a in structures)
    for key in rows[0]:
        if key.startswith("triplets"):
            values = np.array([r[key] for r in rows])
            out[f"{key}_mean"] = float(values.mean())
            out[f"{key}_max"] = float(values.max())
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("assets/data"))
    parser.add_argument("--per-split", type=int, default=100, help="structures for triplets")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    result = {
        "cutoff": 6.0,
        "dense": {name: counts(atoms) for name, atoms in dense_crystals().items()},
        "bundled": bundled(args.data, args.per_split) if args.data.is_dir() else None,
    }
    print(json.dumps(result, indent=1))
    if args.json is not None:
        atomic_write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
