"""How well do the training motifs cover the evaluation splits? Keys only, no model.

    python benchmarks/key_coverage.py --data assets/data --json benchmarks/results/key_coverage.json

For each table (pair, triplet) and each evaluation split: distinct keys, keys never seen in
``train``, and the share of the split's occurrences on keys whose training count is below
1, 10, 100 and 1000 (the census of fairchem's radius graph, ``analysis.runner``; smooth
lookups of the default spec). A memory row trained on few occurrences is where a motif
memory can only memorise; a key with no training occurrence reads its initial row.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analysis.data import StructureSource  # noqa: E402
from analysis.runner import census_from_graphs, select_structures  # noqa: E402
from pamm.plumbing import atomic_write_text  # noqa: E402
from pamm.spec import MotifMemorySpec  # noqa: E402

THRESHOLDS = (1, 10, 100, 1000)


def _counts(table) -> dict[int, float]:
    """Occurrences per key, summed over families (``MotifCounts.per_key``)."""
    keys, counts, _, _ = table.per_key()
    return dict(zip(keys.tolist(), counts.astype(float).tolist(), strict=True))


def coverage(data: Path, splits: list[str], spec: MotifMemorySpec) -> dict:
    """Per table and split: distinct keys, unseen keys, occurrence shares by training count."""
    tables = {}
    for split in ["train", *splits]:
        source = StructureSource.open(data / split)
        census = census_from_graphs(source, select_structures(source), spec, tqdm_bar=False)
        tables[split] = {t: _counts(census.tables[t]) for t in ("pair", "triplet")}
    out: dict = {}
    for t in ("pair", "triplet"):
        train = tables["train"][t]
        for split in splits:
            counts = tables[split][t]
            occ = np.array(list(counts.values()))
            n_train = np.array([train.get(k, 0.0) for k in counts])
            out[f"{t}/{split}"] = {
                "distinct_keys": len(counts),
                "keys_unseen_in_train": int((n_train == 0).sum()),
                "occurrence_share_by_train_count": {
                    f"<{th}": round(float(occ[n_train < th].sum() / occ.sum()), 4)
                    for th in THRESHOLDS
                },
            }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "assets" / "data")
    parser.add_argument("--splits", default="val,test,heldout,heldout_chemistry")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    splits = [s for s in args.splits.split(",") if (args.data / s).is_dir()]
    if not (args.data / "train").is_dir() or not splits:
        print(f"key_coverage: {args.data} needs train/ and one of {args.splits}", file=sys.stderr)
        return 2
    load = os.getloadavg()
    start = time.time()
    result = {
        "data": str(args.data),
        "spec": "MotifMemorySpec() (smooth, cutoff 6, 0.1 Å / 10° bins)",
        "coverage": coverage(args.data, splits, MotifMemorySpec()),
        "wall_s": round(time.time() - start, 1),
        "loadavg_before": load,
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        atomic_write_text(args.json, text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
