"""A census-scale dataset: the bundled frames replicated and re-rattled to N structures.

    python benchmarks/scale_data.py OUT_DIR [--structures 100000] [--shard-size 10000]
        [--data assets/data] [--sigma 0.02]

Structure ``i`` is bundled frame ``i mod F`` (all splits, in ``StructureSource`` order);
copies after the first (``i >= F``) get Gaussian displacements of ``--sigma`` Å per
component from ``numpy.random.default_rng(i)``, so every copy is a distinct structure of
the same family and chemistry (the motif key space stays the bundled one, which is the
point: the census must stay O(distinct motifs) as structures grow). Frames keep their
``family``; the sid becomes ``<sid>~<copy>``. No labels are written (a census needs none,
and rattled copies would carry wrong ones).

Written as ASE-LMDB shards ``data.0000.aselmdb`` ... of ``--shard-size`` structures each
(``AseDBDataset`` reads them in that order, so the first k shards are the first k×size
structures). A shard is written under a temporary name and moved in when complete, so
an interrupted run resumes at the first missing shard. Prints one JSON line per shard.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.data import StructureSource
from pamm.data.writer import SHARD_PATTERN

REPO = Path(__file__).resolve().parents[1]


def scale_structure(source: StructureSource, index: int, sigma: float):
    """Structure ``index`` of the scale dataset (see the module docstring)."""
    copy, frame = divmod(index, len(source))
    atoms = source.get_atoms(frame)
    atoms.calc = None
    if copy:
        rng = np.random.default_rng(index)
        atoms.positions += rng.normal(0.0, sigma, size=atoms.positions.shape)
    sid = str(atoms.info.get("sid", frame))
    family = source.family(atoms)
    atoms.info = {"sid": f"{sid}~{copy}", "family": family}
    return atoms


def write_shard(source: StructureSource, out: Path, shard: int, start: int, stop: int,
                sigma: float) -> Path:  # fmt: skip
    """Write structures ``[start, stop)`` as shard ``shard`` (atomically) and return its path."""
    import ase.db

    final = out / SHARD_PATTERN.format(shard)
    tmp = out / f".{final.name}.writing"
    tmp.unlink(missing_ok=True)
    db = ase.db.connect(str(tmp), type="aselmdb", use_lock_file=False)
    try:
        for i in tqdm(range(start, stop), desc=final.name, unit="structure", leave=False):
            atoms = scale_structure(source, i, sigma)
            db.write(atoms, data=dict(atoms.info))
    finally:
        db.close()
    os.replace(tmp, final)
    return final


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the shards (created)")
    parser.add_argument("--structures", type=int, default=100_000)
    parser.add_argument("--shard-size", type=int, default=10_000)
    parser.add_argument("--data", nargs="+", default=[str(REPO / "assets" / "data")])
    parser.add_argument("--sigma", type=float, default=0.02, help="rattle of copies, Å")
    args = parser.parse_args(argv)
    if args.structures < 1 or args.shard_size < 1 or args.sigma < 0:
        parser.error("--structures and --shard-size must be >= 1, --sigma >= 0")
    source = StructureSource.open(args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    for shard, start in enumerate(range(0, args.structures, args.shard_size)):
        stop = min(start + args.shard_size, args.structures)
        path = args.out / SHARD_PATTERN.format(shard)
        if path.exists():
            continue  # written by an earlier (interrupted) run
        t0 = time.perf_counter()
        write_shard(source, args.out, shard, start, stop, args.sigma)
        line = {"shard": path.name, "structures": stop - start,
                "seconds": round(time.perf_counter() - t0, 1),
                "mb": round(path.stat().st_size / 2**20, 1)}  # fmt: skip
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
