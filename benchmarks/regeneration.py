"""Does a regeneration reproduce the bundled oxide data, and how long did it take?

    python benchmarks/regeneration.py --new runs/regen13/full --base-run runs/regen13/base \\
        --times runs/regen13/times.log --json benchmarks/results/regeneration_oxides319.json

``--new`` is a finished dataset folder made by the same commands as ``--bundled`` (default
``assets/data``; see its card's "Regenerate"). Compared: the parents (by candidate index:
relaxed energy, split), the task plan, the frame counts per split and family; per family,
the frames present in both (same parent candidate, task and frame) and their largest
position, energy and force differences; and the card statistics (``statistics.json``)
side by side. CHGNet runs in float32 and relaxations and MD are chaotic, so a relaxation
or a trajectory may end far from where a label's noise would suggest. Time: the card's
CPU seconds of both runs and, with ``--times`` (``step kind epoch date`` lines written
around each step, as ``scripts/generate_oxide_data.sh`` does), each step's wall time.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pamm.data.oxide_dataset import OXIDE_SPLITS, PARENT_RECORD  # noqa: E402
from pamm.plumbing import atomic_write_json  # noqa: E402


def _record(folder: Path) -> dict:
    return json.loads(gzip.decompress((folder / PARENT_RECORD).read_bytes()))


def _frames(folder: Path, record: dict) -> dict:
    """Frames keyed by (parent's candidate, family, task index, frame number): equal keys
    are the same random stream on the same candidate's relaxed parent."""
    from pamm.data.readers import read_structures

    candidate = [p["candidate"] for p in record["parents"]]
    return {
        (candidate[a.info["parent"]], a.info["family"], a.info["task"], a.info["frame"]): a
        for split in OXIDE_SPLITS
        for a in read_structures(folder / split)
    }


def compare_parents(old: dict, new: dict) -> dict:
    """Parents matched by candidate index: counts, energy differences, split agreement."""
    by_old = {p["candidate"]: p for p in old["parents"]}
    by_new = {p["candidate"]: p for p in new["parents"]}
    both = sorted(by_old.keys() & by_new.keys())
    d_energy = [abs(by_old[k]["energy_per_atom"] - by_new[k]["energy_per_atom"]) for k in both]

    def plan(rec: dict) -> Counter:
        candidate = [p["candidate"] for p in rec["parents"]]
        return Counter((candidate[t["parent"]], t["family"], t["split"]) for t in rec["tasks"])

    same_tasks = plan(old) & plan(new)
    return {
        "bundled": len(by_old),
        "regenerated": len(by_new),
        "same_candidate": len(both),
        "only_bundled": len(by_old.keys() - by_new.keys()),
        "only_regenerated": len(by_new.keys() - by_old.keys()),
        "same_split": sum(by_old[k]["split"] == by_new[k]["split"] for k in both),
        "max_abs_d_energy_per_atom_eV": max(d_energy, default=None),
        "median_abs_d_energy_per_atom_eV": float(np.median(d_energy)) if d_energy else None,
        "tasks_bundled": len(old["tasks"]),
        "tasks_regenerated": len(new["tasks"]),
        "tasks_same_parent_family_split": sum(same_tasks.values()),
    }


def compare_frames(old: dict, new: dict) -> dict:
    """Per family: frames in both (same key, :func:`_frames`), their largest differences."""
    rows: dict[str, dict] = defaultdict(lambda: {"bundled": 0, "regenerated": 0, "both": 0})
    diffs: dict[str, list] = defaultdict(list)
    for atoms in old.values():
        rows[atoms.info["family"]]["bundled"] += 1
    for key, atoms in new.items():
        family = atoms.info["family"]
        rows[family]["regenerated"] += 1
        ref = old.get(key)
        if ref is None or len(ref) != len(atoms) or (ref.numbers != atoms.numbers).any():
            continue
        rows[family]["both"] += 1
        diffs[family].append(
            (
                float(np.abs(ref.positions - atoms.positions).max()),
                abs(ref.get_potential_energy() - atoms.get_potential_energy()) / len(atoms),
                float(np.abs(ref.get_forces() - atoms.get_forces()).max()),
            )
        )
    for family, row in rows.items():
        d = np.array(diffs[family]).reshape(-1, 3)
        if len(d):
            row |= {
                "median_max_d_position_A": float(np.median(d[:, 0])),
                "share_position_within_1e-4_A": float((d[:, 0] < 1e-4).mean()),
                "median_d_energy_per_atom_meV": 1e3 * float(np.median(d[:, 1])),
                "p95_d_energy_per_atom_meV": 1e3 * float(np.percentile(d[:, 1], 95)),
                "median_max_d_force_eV_A": float(np.median(d[:, 2])),
            }
    return dict(sorted(rows.items()))


def compare_statistics(old: dict, new: dict) -> dict:
    """The card's floor and spread per split, and force RMS per family (train split)."""
    keys = ("n", "n_parents", "composition_mae_meV", "ridge_mae_meV")
    out = {
        split: {
            name: {k: stats["splits"][split][k] for k in keys}
            | {"within_parent_std_meV": stats["splits"][split]["variance"]["within_parent_std_meV"]}
            for name, stats in (("bundled", old), ("regenerated", new))
        }
        for split in old["splits"]
        if split in new["splits"]
    }
    out["train_force_rms_eV_A"] = {
        family: {
            name: stats["splits"]["train"]["families"].get(family, {}).get("force_rms")
            for name, stats in (("bundled", old), ("regenerated", new))
        }
        for family in old["splits"]["train"]["families"]
    }
    return out


def wall_times(path: Path) -> dict:
    """Seconds of each step from ``label kind epoch ...`` lines: a step runs from the line
    before it to its own; a ``start`` line (a new piece after a ``stopped`` one) ends none."""
    marks = [line.split()[:3] for line in path.read_text().splitlines() if line.strip()]
    out: dict[str, int] = {}
    for (_, _, t0), (label, kind, t1) in itertools.pairwise(marks):
        if kind != "start":
            key = f"{label}_{kind}"
            out[key] = out.get(key, 0) + int(t1) - int(t0)
    out["total"] = sum(out.values())
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--new", type=Path, required=True, help="the regenerated dataset folder")
    parser.add_argument("--bundled", type=Path, default=ROOT / "assets" / "data")
    parser.add_argument("--base-run", type=Path, help="the first run's folder (its CPU time)")
    parser.add_argument("--times", type=Path, help="the run's time log")
    parser.add_argument("--json", type=Path, help="write the report here (atomically)")
    args = parser.parse_args(argv)
    for folder in (args.new, args.bundled):
        if not (folder / "dataset.json").is_file():
            parser.error(f"{folder} is not a finished dataset folder (no dataset.json)")
    card = json.loads((args.new / "dataset.json").read_text())
    old_card = json.loads((args.bundled / "dataset.json").read_text())
    old_record, new_record = _record(args.bundled), _record(args.new)
    report = {
        "new": str(args.new),
        "bundled": str(args.bundled),
        "cpu_seconds": {"bundled": old_card["cpu_seconds"], "regenerated": card["cpu_seconds"]},
        "n_structures": {"bundled": old_card["n_structures"], "regenerated": card["n_structures"]},
        "parents": compare_parents(old_record, new_record),
        "families": compare_frames(
            _frames(args.bundled, old_record), _frames(args.new, new_record)
        ),
    }
    if (args.new / "statistics.json").is_file():
        report["statistics"] = compare_statistics(
            *(json.loads((f / "statistics.json").read_text()) for f in (args.bundled, args.new))
        )
    if args.base_run is not None:
        base = json.loads((args.base_run / "dataset.json").read_text())
        report["run_wall_seconds"] = {"first_run": base["run"], "extension": card["run"]}
    if args.times is not None:
        report["wall_seconds"] = wall_times(args.times)
    if args.json is not None:
        atomic_write_json(args.json, report, indent=1)
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
