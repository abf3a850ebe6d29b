"""More parents for a finished oxide dataset, keeping every frame it already has.

A finished run removes its work folder, so the relaxations of the candidates it dropped
are gone and the selection cannot be rerun over all candidates. The extension keeps the
base dataset's parents, splits and tasks as they are and adds:

1. candidates, indexed after the base's: every remaining charge-balanced assignment of the
   AFLOW prototypes and of pymatgen's bundled structures
   (:func:`pamm.data.oxides.remaining_candidates`), then :data:`SUBSTITUTIONS` isovalent
   substitutions of the base's multi-cation parents
   (:func:`pamm.data.oxides.substituted_candidates`);
2. their CHGNet relaxation, as in the base run;
3. the same selection rule (:func:`pamm.data.parents.select_parents`) with the base
   parents *fixed*: never dropped, counted in the lowest energy of their formula, and
   winners of their ``StructureMatcher`` group (a new structure equal to a base parent is
   a duplicate);
4. a plan for the new parents only: their own seeded split draw (stream ``[seed, 22]``),
   parent ids and task indices after the base's (task random streams ``[seed, 30,
   index]`` as before, so every base task stays what it was);
5. assembly: the base frames read back from the base folder plus the new tasks' frames.

Stages are resumable as in :func:`pamm.data.oxide_dataset.generate_oxides` (results under
``OUT/.work/``); ``dataset.json`` records the base and the extension under ``extension``.
"""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

from pamm.data.generate import _frame_to_dict
from pamm.data.oxide_dataset import (
    CANDIDATE_RECORD,
    OXIDE_SPLITS,
    PARENT_RECORD,
    OxideConfig,
    _assemble,
    _finish,
    _stage_relax,
    _stage_tasks,
    plan_parents,
)
from pamm.plumbing import atomic_write_text

__all__ = ["DatasetFolderError", "extend_oxides"]


class DatasetFolderError(ValueError):
    """A base or output folder an extension cannot use (the message says why)."""


SPLIT_STREAM = 22  # the new parents' split draw: default_rng([seed, 22])
TASK_ORDER_STREAM = 23  # the new tasks' run order
SUBSTITUTIONS = 120  # isovalent substitutions of base parents drawn as candidates
FRAME_INFO = ("sid", "family", "task", "frame", "parent", "parent_name", "split")


def _read_gz(path: Path):
    return json.loads(gzip.decompress(path.read_bytes()))


def _read_base(base_dir: Path) -> tuple[OxideConfig, dict, list[dict], dict]:
    """The base dataset's config, card, candidates and parent record (clear errors)."""
    card_path = base_dir / "dataset.json"
    for path in (card_path, base_dir / CANDIDATE_RECORD, base_dir / PARENT_RECORD):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found; --extend needs a finished oxide dataset")
    card = json.loads(card_path.read_text())
    if card.get("name") != "pamm-oxides":
        raise DatasetFolderError(f"{card_path}: not an oxide dataset (name {card.get('name')!r})")
    config = OxideConfig.from_dict(card["config"])
    return config, card, _read_gz(base_dir / CANDIDATE_RECORD), _read_gz(base_dir / PARENT_RECORD)


def _stage_candidates(
    work: Path, config: OxideConfig, base_cands: list[dict], base_parents: list[dict]
) -> list[dict]:
    """Base candidates followed by the new ones (saved on first use)."""
    path = work / "candidates.json"
    if not path.is_file():
        from pamm.data.oxides import remaining_candidates, substituted_candidates

        found = remaining_candidates(config.seed, {c["name"] for c in base_cands})
        found += substituted_candidates(base_parents, config.seed, SUBSTITUTIONS)
        atomic_write_text(path, json.dumps([c.as_record() for c in found]))
    return base_cands + json.loads(path.read_text())


def _stage_parents(work: Path, config: OxideConfig, base_state: dict, entries: list[dict]) -> dict:
    """The combined parent record: base parents and tasks, then the new ones."""
    path = work / "parents.json"
    if path.is_file():
        return json.loads(path.read_text())
    from pamm.data.parents import select_parents

    base_parents = base_state["parents"]
    fixed = len(base_parents)
    pool = base_parents + entries
    kept, dropped = select_parents(pool, max_above=config.max_above_lowest, fixed=fixed)
    new = [k for k in kept if k >= fixed]
    plan = plan_parents(config, pool, new, stream=SPLIT_STREAM, first_parent=fixed)
    keys = ("numbers", "positions", "cell", "energy_per_atom", "source", "name", "candidate")
    parents = [p | {k: pool[p["candidate"]][k] for k in keys} for p in plan]
    first_task = len(base_state["tasks"])
    tasks = [
        {"parent": p["parent"], "family": family, "split": p["split"]}
        for p in parents
        for family in p["families"]
    ]
    order = np.random.default_rng([config.seed, TASK_ORDER_STREAM]).permutation(len(tasks))
    tasks = [tasks[k] | {"index": first_task + n} for n, k in enumerate(order)]
    state = {
        "parents": base_parents + parents,
        "dropped": base_state["dropped"],
        "n_candidates": base_state["n_candidates"] + len(entries),
        "tasks": base_state["tasks"] + tasks,
        "extension": {
            "n_base_parents": fixed,
            "n_base_tasks": first_task,
            "n_candidates": len(entries),
            "dropped": dropped,
            "base_parents_above": _base_above(pool, fixed, config.max_above_lowest),
        },
    }
    atomic_write_text(path, json.dumps(state))
    return state


def _base_above(pool: list[dict], fixed: int, max_above: float) -> int:
    """Base parents now more than ``max_above`` above a new parent of their formula (kept)."""
    from ase import Atoms

    formula = [Atoms(numbers=e["numbers"]).get_chemical_formula(empirical=True) for e in pool]
    lowest: dict[str, float] = {}
    for f, e in zip(formula, pool, strict=True):
        lowest[f] = min(lowest.get(f, np.inf), e["energy_per_atom"])
    return sum(pool[k]["energy_per_atom"] - lowest[formula[k]] > max_above for k in range(fixed))


def _base_results(base_dir: Path, tasks: list[dict]) -> list[dict]:
    """The base frames regrouped into task results (what ``_stage_tasks`` returns)."""
    from pamm.data.readers import open_aselmdb

    frames: dict[int, list] = {t["index"]: [] for t in tasks}
    for split in OXIDE_SPLITS:
        if not (base_dir / split).is_dir():
            continue
        dataset = open_aselmdb(base_dir / split)
        for idx in range(len(dataset)):
            atoms = dataset.get_atoms(idx)
            atoms.info = {k: atoms.info[k] for k in FRAME_INFO}  # as run_task stores it
            frames[int(atoms.info["task"])].append(atoms)
    return [
        {
            "task": t,
            "frames": [
                _frame_to_dict(a)
                for a in sorted(frames[t["index"]], key=lambda a: int(a.info["frame"]))
            ],
            "rejected": {},
            "error": None,
            "seconds": 0.0,
        }
        for t in tasks
    ]


def extend_oxides(
    base_dir: str | Path,
    out_dir: str | Path,
    *,
    workers: int = 2,
    stop_after: str | None = None,
    keep_work: bool = False,
) -> dict | None:
    """Extend the oxide dataset in ``base_dir`` into ``out_dir`` (resumable); the card.

    ``stop_after`` ("candidates", "relax", "parents", "tasks") ends after that stage.
    """
    base_dir, out_dir = Path(base_dir), Path(out_dir)
    if base_dir.resolve() == out_dir.resolve():
        raise DatasetFolderError("--extend writes a new folder: --out must differ from the base")
    config, base_card, base_cands, base_state = _read_base(base_dir)
    card_path = out_dir / "dataset.json"
    if card_path.is_file():
        card = json.loads(card_path.read_text())
        if card.get("extension", {}).get("base_n_parents") == base_card["n_parents"]:
            return card
        raise FileExistsError(f"{card_path} exists and is not this extension; choose a new folder")
    work = out_dir / ".work"
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    cands = _stage_candidates(work, config, base_cands, base_state["parents"])
    if stop_after == "candidates":
        return None
    new_indices = list(range(len(base_cands), len(cands)))
    entries = _stage_relax(config, work, cands, workers, indices=new_indices)
    if stop_after == "relax":
        return None
    state = _stage_parents(work, config, base_state, entries)
    if stop_after == "parents":
        return None
    n_base_tasks = state["extension"]["n_base_tasks"]
    new_tasks = state["tasks"][n_base_tasks:]
    new_results = _stage_tasks(config, work, state | {"tasks": new_tasks}, workers)
    if stop_after == "tasks":
        return None
    results = _base_results(base_dir, state["tasks"][:n_base_tasks]) + new_results
    card = _assemble(config, out_dir, state, entries, results)
    card = _merge_base_counts(card, base_card, state, entries, new_results)
    return _finish(out_dir, card, cands, state, start=start, workers=workers, keep_work=keep_work)


def _merge_base_counts(
    card: dict, base_card: dict, state: dict, entries: list[dict], new_results: list[dict]
) -> dict:
    """Rejections, errors and CPU time of base + extension (the base's frames were read
    back, not rerun), and the extension's own record."""
    ext = state["extension"]
    card["rejected"] = dict(Counter(base_card["rejected"]) + Counter(card["rejected"]))
    card["task_errors"] = base_card["task_errors"] + card["task_errors"]
    base_cpu = base_card["cpu_seconds"]
    card["cpu_seconds"] = {
        "relax": round(base_cpu["relax"] + sum(e["seconds"] for e in entries), 1),
        "tasks": round(base_cpu["tasks"] + sum(r["seconds"] for r in new_results), 1),
    }
    card["extension"] = {
        "base_n_parents": ext["n_base_parents"],
        "base_n_structures": base_card["n_structures"],
        "base_n_candidates": base_card["n_candidates"],
        "sources": {
            "remaining_candidates": "every remaining charge-balanced assignment of the AFLOW "
            "prototypes and pymatgen's bundled structures",
            "substituted_candidates": f"{SUBSTITUTIONS} isovalent substitutions (Mg/Ca/Zn, "
            "Si/Ti) of the base's multi-cation parents, stream [seed, 14]",
        },
        "n_candidates": ext["n_candidates"],
        "n_parents": len(state["parents"]) - ext["n_base_parents"],
        "dropped": ext["dropped"],
        "base_parents_above": ext["base_parents_above"],
        "split_stream": [card["config"]["seed"], SPLIT_STREAM],
        "task_order_stream": [card["config"]["seed"], TASK_ORDER_STREAM],
        "cpu_seconds": {
            "relax": round(sum(e["seconds"] for e in entries), 1),
            "tasks": round(sum(r["seconds"] for r in new_results), 1),
        },
    }
    return card
