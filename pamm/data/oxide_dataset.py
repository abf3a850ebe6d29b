"""The oxide demo dataset: candidates → relaxed parents → family tasks → splits by parent.

Stages, each resumable (results saved atomically under ``DATA/.work/`` as they finish):

1. ``candidates.json``: offline candidate crystals (:mod:`pamm.data.oxides`);
2. ``relaxed/cand_NNNNN.json``: each candidate relaxed with CHGNet (:mod:`pamm.data.parents`);
3. ``parents.json``: the selected parents (sanity rule + ``StructureMatcher`` dedup),
   their split and the task plan;
4. ``tasks/task_NNNNN.json``: frames of one family sampled around one parent
   (:mod:`pamm.data.sampling`);
5. assembly: ``{train,val,test,heldout,heldout_chemistry}/*.aselmdb`` + ``dataset.json``
   + ``candidates.json.gz`` (the candidate list, reused by a rerun into this folder)
   + ``parents.json.gz`` (the parents and the task plan: any task can be recomputed
   alone with :func:`run_task`).

Splits are *by parent*: a parent's frames all land in one split. Parents of the held-out
chemistry slice (cation set :attr:`OxideConfig.heldout_chemistry`) go to
``heldout_chemistry``; of the rest, ``heldout_parent_fraction`` are sampled only by the
held-out families (``heldout``); the others are split into train/val/test and each is
sampled by all three rattled families, rattled-relax and one of the two 1000 K MD
families (alternating), so that family differences are sampling, not chemistry.
"""

from __future__ import annotations

import gzip
import json
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from pamm.data.generate import LABEL_SOURCE, _frame_from_dict, _frame_to_dict
from pamm.data.recipes import FrameFilter
from pamm.data.sampling import SamplingRecipe
from pamm.plumbing import atomic_write_bytes, atomic_write_text

__all__ = ["OXIDE_SPLITS", "OxideConfig", "generate_oxides", "plan_parents", "run_task"]

CANDIDATE_RECORD = "candidates.json.gz"
PARENT_RECORD = "parents.json.gz"  # the relaxed parents, their splits and the task plan
OXIDE_SPLITS = ("train", "val", "test", "heldout", "heldout_chemistry")
TRAIN_FAMILIES = ("rattled-300", "rattled-500", "rattled-1000", "rattled-relax")
MD_1000 = ("aimd-from-PBE-1000-nvt", "aimd-from-PBE-1000-npt")
HELDOUT_MD = ("aimd-from-PBE-3000-nvt", "aimd-from-PBE-3000-npt")


@dataclass(frozen=True)
class OxideConfig:
    """Everything that determines the oxide dataset (stored in ``dataset.json``)."""

    seed: int = 0
    per_prototype: int = 2
    pyxtal_per_composition: int = 6
    extra_per_prototype: int = 3  # Li/Al assignments of 3–4-species prototypes, appended
    all_multication: bool = True  # then all other assignments of those prototypes
    relax_max_steps: int = 150
    max_atoms_random: int = 24  # pyxtal candidates above this are not relaxed
    max_above_lowest: float = 0.3  # eV/atom above the lowest parent of the same formula
    min_atoms: int = 12  # parents are repeated to at least this many atoms for sampling
    max_atoms: int = 40
    # exact cation set held out: the Mg titanates (ilmenite MgTiO3, spinel Mg2TiO4,
    # pseudobrookite MgTi2O5 types; 12 parents), while {Li, Ti} had only 2
    heldout_chemistry: tuple[str, ...] = ("Mg", "Ti")
    heldout_parent_fraction: float = 0.12
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    recipe: SamplingRecipe = field(default_factory=SamplingRecipe)
    frame_filter: FrameFilter = field(default_factory=FrameFilter)
    # CHGNet label path (pamm.data.chgnet_labels.LABEL_PATHS); "calculator" made the
    # bundled data and is what a config recorded before this field existed ran
    labels: str = "one-backward"

    def __post_init__(self) -> None:
        from pamm.data.chgnet_labels import LABEL_PATHS

        if self.labels not in LABEL_PATHS:
            raise ValueError(f"OxideConfig.labels must be one of {LABEL_PATHS}: {self.labels!r}")

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, d: dict) -> OxideConfig:
        d = dict(d)
        d["heldout_chemistry"] = tuple(d["heldout_chemistry"])
        d["recipe"] = SamplingRecipe(**d["recipe"])
        d["frame_filter"] = FrameFilter(**d["frame_filter"])
        d.setdefault("labels", "calculator")
        return cls(**d)


def _cation_set(numbers: list[int]) -> tuple[str, ...]:
    from ase.data import chemical_symbols

    return tuple(sorted({chemical_symbols[z] for z in numbers} - {"O"}))


def plan_parents(
    config: OxideConfig,
    entries: list[dict],
    kept: list[int],
    *,
    stream: int = 20,
    first_parent: int = 0,
) -> list[dict]:
    """Split the kept candidates by parent and list each parent's families.

    The split draw is ``default_rng([seed, stream])``; parent ids start at ``first_parent``
    (an extension plans its new parents after the base's, :mod:`pamm.data.oxide_extension`).

    >>> cfg = OxideConfig(heldout_chemistry=("Li",))
    >>> entries = [{"numbers": [12, 8]}] * 9 + [{"numbers": [3, 3, 8]}]
    >>> plan = plan_parents(cfg, entries, list(range(10)))
    >>> [p["split"] for p in plan][-1], sorted({p["split"] for p in plan[:9]}) != []
    ('heldout_chemistry', True)
    """
    rng = np.random.default_rng([config.seed, stream])
    held_chem = [k for k in kept if _cation_set(entries[k]["numbers"]) == config.heldout_chemistry]
    rest = [k for k in kept if k not in set(held_chem)]
    split_of = dict.fromkeys(held_chem, "heldout_chemistry")
    # stratify by number of cation species, so ternaries reach every split
    by_order: dict[int, list[int]] = {}
    for k in rest:
        by_order.setdefault(len(_cation_set(entries[k]["numbers"])), []).append(k)
    for members in by_order.values():
        members = [members[i] for i in rng.permutation(len(members))]
        n = len(members)
        n_held = round(config.heldout_parent_fraction * n)
        n_val = round(config.val_fraction * n)
        n_test = round(config.test_fraction * n)
        split_of.update(dict.fromkeys(members[:n_held], "heldout"))
        split_of.update(dict.fromkeys(members[n_held : n_held + n_val], "val"))
        split_of.update(dict.fromkeys(members[n_held + n_val : n_held + n_val + n_test], "test"))
        split_of.update(dict.fromkeys(members[n_held + n_val + n_test :], "train"))
    plan = []
    for parent_id, k in enumerate(kept, start=first_parent):
        split = split_of[k]
        if split == "heldout":
            families = list(HELDOUT_MD)
        else:
            families = [*TRAIN_FAMILIES, MD_1000[parent_id % 2]]
        plan.append({"parent": parent_id, "candidate": k, "split": split, "families": families})
    return plan


# --- workers -------------------------------------------------------------------------------
_STATE: dict = {}


def _init_worker(config_dict: dict) -> None:
    from pamm.data.chgnet_labels import one_thread_per_worker

    one_thread_per_worker()
    _STATE["config"] = OxideConfig.from_dict(config_dict)


def _calc(labels: str):
    """The worker's CHGNet calculator (the data tests put Lennard-Jones here)."""
    from pamm.data.chgnet_labels import label_calculator

    return label_calculator(labels)


def _relax_work(args: tuple[int, dict, str]) -> int:
    from pamm.data.parents import relax_candidate

    index, cand, out = args
    config = _STATE["config"]
    atoms = Atoms(numbers=cand["numbers"], positions=cand["positions"], cell=cand["cell"], pbc=True)
    result = relax_candidate(atoms, _calc(config.labels), max_steps=config.relax_max_steps)
    result |= {"source": cand["source"], "name": cand["name"], "candidate": index}
    atomic_write_text(Path(out) / f"cand_{index:05d}.json", json.dumps(result))
    return index


def run_task(config: OxideConfig, task: dict, parent: dict, calc) -> dict:
    """Sample one planned task (a family around a parent) with ``calc``; nothing written.

    Returns ``{"task", "frames" (dicts), "rejected", "error", "seconds"}``; the random
    stream is ``[seed, 30, task index]``, so a task can be recomputed alone.
    """
    from pamm.data.sampling import sample_family
    from pamm.data.seeds import make_supercell

    start = time.perf_counter()
    atoms = Atoms(
        numbers=parent["numbers"], positions=parent["positions"], cell=parent["cell"], pbc=True
    )
    atoms = make_supercell(atoms, config.min_atoms, max_atoms=config.max_atoms)
    rng = np.random.default_rng([config.seed, 30, task["index"]])
    try:
        frames, rejected = sample_family(
            task["family"], atoms, rng, calc, config.recipe, config.frame_filter
        )
        error = None
    except Exception as err:  # record, do not stop the run
        frames, rejected, error = [], {"error": 1}, f"{type(err).__name__}: {err}"
    formula = atoms.get_chemical_formula()
    for k, frame in enumerate(frames):
        frame.info = {
            "sid": f"oxide{task['parent']:04d}_{formula}_{task['family']}_{k}",
            "family": task["family"],
            "task": task["index"],
            "frame": k,
            "parent": task["parent"],
            "parent_name": parent["name"],
            "split": task["split"],
        }
    return {
        "task": task,
        "frames": [_frame_to_dict(f) for f in frames],
        "rejected": rejected,
        "error": error,
        "seconds": round(time.perf_counter() - start, 2),
    }


def _task_work(args: tuple[dict, dict, str]) -> int:
    task, parent, out = args
    config = _STATE["config"]
    result = run_task(config, task, parent, _calc(config.labels))
    atomic_write_bytes(
        Path(out) / f"task_{task['index']:05d}.json.gz", gzip.compress(json.dumps(result).encode())
    )
    return task["index"]


def _run_pool(fn, jobs: list, workers: int, config: OxideConfig, desc: str) -> None:
    import multiprocessing as mp

    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc=desc, unit=desc.split()[0])
    if workers <= 1:
        _init_worker(config.to_dict())
        for job in jobs:
            fn(job)
            bar.update()
    elif jobs:
        ctx = mp.get_context("spawn")
        with ctx.Pool(workers, initializer=_init_worker, initargs=(config.to_dict(),)) as pool:
            for _ in pool.imap_unordered(fn, jobs, chunksize=1):
                bar.update()
    bar.close()


# --- stages --------------------------------------------------------------------------------
def _stage_candidates(config: OxideConfig, work: Path) -> list[dict]:
    """The candidate list: the run's own, else the dataset's record, else made anew.

    The record (``DATA/candidates.json.gz``, written at assembly) makes a finished dataset
    regenerable from its candidates even where a library's random draws change.
    """
    path = work / "candidates.json"
    if path.is_file():
        return json.loads(path.read_text())
    record = work.parent / CANDIDATE_RECORD
    if record.is_file():
        cands = json.loads(gzip.decompress(record.read_bytes()))
        atomic_write_text(path, json.dumps(cands))
        return cands
    from pamm.data.oxides import all_candidates

    found = all_candidates(
        config.seed,
        per_prototype=config.per_prototype,
        pyxtal_per_composition=config.pyxtal_per_composition,
        extra_per_prototype=config.extra_per_prototype,
        all_multication=config.all_multication,
    )
    cands = [c.as_record() for c in found]
    atomic_write_text(path, json.dumps(cands))
    return cands


def _stage_relax(
    config: OxideConfig,
    work: Path,
    cands: list[dict],
    workers: int,
    indices: list[int] | None = None,
) -> list[dict]:
    """Relax the relaxable candidates (of ``indices`` if given); their results in order."""
    out = work / "relaxed"
    out.mkdir(parents=True, exist_ok=True)
    done = {int(p.stem.split("_")[1]) for p in out.glob("cand_*.json")}
    wanted = _relaxable(config, cands)
    if indices is not None:
        chosen = set(indices)
        wanted = [k for k in wanted if k in chosen]
    # known structure types first, small before large: a partial run holds the most parents
    pending = sorted(
        (k for k in wanted if k not in done),
        key=lambda k: (cands[k]["source"] == "pyxtal", len(cands[k]["numbers"]), k),
    )
    _run_pool(
        _relax_work,
        [(k, cands[k], str(out)) for k in pending],
        workers,
        config,
        "candidates relaxed",
    )
    return [json.loads((out / f"cand_{k:05d}.json").read_text()) for k in wanted]


def _relaxable(config: OxideConfig, cands: list[dict]) -> list[int]:
    """Candidates that are relaxed: random crystals only up to ``max_atoms_random`` atoms
    (larger random cells rarely converge within the step budget)."""
    return [
        k
        for k, c in enumerate(cands)
        if c["source"] != "pyxtal" or len(c["numbers"]) <= config.max_atoms_random
    ]


def _stage_parents(config: OxideConfig, work: Path, entries: list[dict]) -> dict:
    path = work / "parents.json"
    if path.is_file():
        return json.loads(path.read_text())
    from pamm.data.parents import select_parents

    kept, dropped = select_parents(entries, max_above=config.max_above_lowest)
    plan = plan_parents(config, entries, kept)
    parents = []
    for p in plan:
        e = entries[p["candidate"]]
        keys = ("numbers", "positions", "cell", "energy_per_atom", "source", "name", "candidate")
        parents.append(p | {k: e[k] for k in keys})
    tasks = []
    for p in parents:
        for family in p["families"]:
            tasks.append(
                {"index": len(tasks), "parent": p["parent"], "family": family, "split": p["split"]}
            )
    rng = np.random.default_rng([config.seed, 21])
    tasks = [tasks[k] for k in rng.permutation(len(tasks))]  # a partial run covers all
    state = {"parents": parents, "dropped": dropped, "n_candidates": len(entries), "tasks": tasks}
    atomic_write_text(path, json.dumps(state))
    return state


def _stage_tasks(config: OxideConfig, work: Path, state: dict, workers: int) -> list[dict]:
    out = work / "tasks"
    out.mkdir(parents=True, exist_ok=True)
    done = {int(p.name.split("_")[1].split(".")[0]) for p in out.glob("task_*.json.gz")}
    parents = state["parents"]
    jobs = [(t, parents[t["parent"]], str(out)) for t in state["tasks"] if t["index"] not in done]
    _run_pool(_task_work, jobs, workers, config, "tasks sampled")
    return [
        json.loads(gzip.decompress((out / f"task_{t['index']:05d}.json.gz").read_bytes()))
        for t in state["tasks"]
    ]


def generate_oxides(
    config: OxideConfig,
    out_dir: str | Path,
    *,
    workers: int = 2,
    stop_after: str | None = None,
    keep_work: bool = False,
) -> dict | None:
    """Generate (or resume) the oxide dataset in ``out_dir``; returns the card dict.

    ``stop_after`` ("candidates", "relax", "parents", "tasks") ends after that stage
    (returns ``None``): a long run can be done in pieces.
    """
    out_dir = Path(out_dir)
    card_path = out_dir / "dataset.json"
    if card_path.is_file():
        card = json.loads(card_path.read_text())
        if card.get("config") == config.to_dict():
            return card
        raise FileExistsError(f"{card_path} exists with another recipe; choose a new folder")
    work = out_dir / ".work"
    work.mkdir(parents=True, exist_ok=True)
    config_path = work / "config.json"
    if config_path.is_file() and json.loads(config_path.read_text()) != config.to_dict():
        raise FileExistsError(f"{work} holds an unfinished run with another recipe")
    atomic_write_text(config_path, json.dumps(config.to_dict()))
    start = time.perf_counter()
    cands = _stage_candidates(config, work)
    if stop_after == "candidates":
        return None
    entries = _stage_relax(config, work, cands, workers)
    if stop_after == "relax":
        return None
    state = _stage_parents(config, work, entries)
    if stop_after == "parents":
        return None
    results = _stage_tasks(config, work, state, workers)
    if stop_after == "tasks":
        return None
    card = _assemble(config, out_dir, state, entries, results)
    return _finish(out_dir, card, cands, state, start=start, workers=workers, keep_work=keep_work)


def _finish(
    out_dir: Path,
    card: dict,
    cands: list[dict],
    state: dict,
    *,
    start: float,
    workers: int,
    keep_work: bool,
) -> dict:
    """Write the two records and ``dataset.json`` (last: it marks the folder finished)."""
    for name, record in ((CANDIDATE_RECORD, cands), (PARENT_RECORD, state)):
        atomic_write_bytes(out_dir / name, gzip.compress(json.dumps(record).encode(), 9, mtime=0))
    card["run"] = {
        "wall_seconds_this_invocation": round(time.perf_counter() - start, 1),
        "workers": workers,
    }
    atomic_write_text(out_dir / "dataset.json", json.dumps(card, indent=2))
    if not keep_work:
        shutil.rmtree(out_dir / ".work", ignore_errors=True)
    return card


def _assemble(config, out_dir: Path, state: dict, entries: list[dict], results: list[dict]) -> dict:
    from ase.data import chemical_symbols

    from pamm.data.writer import write_aselmdb

    frames: dict[str, list[Atoms]] = {s: [] for s in OXIDE_SPLITS}
    rejected: Counter = Counter()
    errors = []
    for r in results:
        rejected.update(r["rejected"])
        if r.get("error"):
            errors.append({"task": r["task"]["index"], "error": r["error"]})
        frames[r["task"]["split"]] += [_frame_from_dict(d) for d in r["frames"]]
    rng = np.random.default_rng([config.seed, 40])
    for split, split_frames in frames.items():
        # a seeded shuffle: the first N structures of a split are a fair subsample
        # (pamm.evaluate's ``limit`` scores the first N in stored order)
        split_frames.sort(key=lambda a: a.info["sid"])
        split_frames[:] = [split_frames[k] for k in rng.permutation(len(split_frames))]
        if split_frames:
            write_aselmdb(split_frames, out_dir / split, shard_size=1000, overwrite=True)
    parents = state["parents"]
    all_frames = [a for fs in frames.values() for a in fs]
    natoms = [len(a) for a in all_frames]
    per_element = Counter(el for p in parents for el in _cation_set(p["numbers"]))
    return {
        "name": "pamm-oxides",
        "label_source": LABEL_SOURCE,
        "config": config.to_dict(),
        "n_structures": len(all_frames),
        "n_candidates": state["n_candidates"],
        "n_parents": len(parents),
        "parents_dropped": state["dropped"],
        "parents_per_split": dict(Counter(p["split"] for p in parents)),
        "parents_per_cation": dict(sorted(per_element.items())),
        "parents_per_source": dict(Counter(p["source"] for p in parents)),
        "parents_by_n_cations": dict(Counter(str(len(_cation_set(p["numbers"]))) for p in parents)),
        "counts": {s: dict(Counter(a.info["family"] for a in fs)) for s, fs in frames.items()},
        "rejected": dict(rejected),
        "task_errors": errors,
        "elements": sorted({chemical_symbols[z] for a in all_frames for z in set(a.numbers)}),
        "natoms": {
            "min": min(natoms, default=0),
            "max": max(natoms, default=0),
            "mean": round(float(np.mean(natoms)), 2) if natoms else 0.0,
        },
        "cpu_seconds": {
            "relax": round(sum(e["seconds"] for e in entries), 1),
            "tasks": round(sum(r["seconds"] for r in results), 1),
        },
        "layout": "{train,val,test,heldout,heldout_chemistry}/data.NNNN.aselmdb + metadata.npz",
    }
