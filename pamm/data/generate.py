"""Synthetic OMat-like dataset: plan tasks, run them in parallel (resumable), assemble splits.

A *task* runs one seed crystal (optionally with a same-group element substitution,
then a supercell of ``min_atoms``–``max_atoms`` atoms) through one family's recipe
(:mod:`pamm.data.recipes`). Each finished task is saved at once as
``DATA/.work/tasks/task_NNNNN.json`` (atomic), so an interrupted run continues where it
stopped. Assembly writes the layout::

    DATA/{train,val,test,heldout}/data.NNNN.aselmdb + metadata.npz
    DATA/dataset.json     # recipe, seed, counts per family/split, rejected, elements

``train/val/test`` is a random split *by task* (frames of one trajectory or rattle pool
never straddle splits), stratified by family; ``heldout`` holds the held-out families.
Labels are CHGNet's, not DFT. Everything is deterministic given ``seed``.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from pamm.data.families import HELDOUT_FAMILIES, SYNTHETIC_FAMILIES
from pamm.data.recipes import FrameFilter, Recipe
from pamm.data.seeds import Seed
from pamm.plumbing import atomic_write_text

__all__ = ["SPLITS", "GenerateConfig", "assemble", "generate", "plan_tasks", "run_task"]

SPLITS = ("train", "val", "test", "heldout")
LABEL_SOURCE = "CHGNet 0.4.2 (pretrained, offline): machine-learned labels, not DFT"

#: default share of structures per family (flatter than OMat24's mix, so every family
#: has enough structures for per-family statistics)
DEFAULT_FAMILY_WEIGHTS: dict[str, float] = {
    "rattled-300": 0.12,
    "rattled-500": 0.12,
    "rattled-1000": 0.12,
    "rattled-relax": 0.12,
    "aimd-from-PBE-1000-nvt": 0.13,
    "aimd-from-PBE-1000-npt": 0.13,
    "aimd-from-PBE-3000-nvt": 0.13,
    "aimd-from-PBE-3000-npt": 0.13,
}


@dataclass(frozen=True)
class GenerateConfig:
    """Everything that determines a generated dataset (stored in ``dataset.json``)."""

    seed: int = 0
    n_structures: int = 3700
    families: tuple[str, ...] = SYNTHETIC_FAMILIES
    heldout_families: tuple[str, ...] = HELDOUT_FAMILIES
    family_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FAMILY_WEIGHTS))
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    min_atoms: int = 8
    max_atoms: int = 24
    substitution_prob: float = 0.5
    recipe: Recipe = field(default_factory=Recipe)
    frame_filter: FrameFilter = field(default_factory=FrameFilter)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.families) - set(SYNTHETIC_FAMILIES))
        if unknown:
            raise ValueError(f"unknown families {unknown}; choose from {SYNTHETIC_FAMILIES}")
        if self.n_structures <= 0:
            raise ValueError(f"n_structures must be > 0, got {self.n_structures}")
        if not 1 <= self.min_atoms <= self.max_atoms <= 64:
            raise ValueError(f"need 1 <= min_atoms <= max_atoms <= 64, got "
                             f"{self.min_atoms}, {self.max_atoms}")  # fmt: skip
        if not 0 <= self.val_fraction + self.test_fraction < 1:
            raise ValueError("val_fraction + test_fraction must be in [0, 1)")

    def to_dict(self) -> dict:
        out = asdict(self)
        out["families"] = list(self.families)
        out["heldout_families"] = list(self.heldout_families)
        out["family_weights"] = {f: self.family_weights.get(f, 1.0) for f in self.families}
        return out

    @classmethod
    def from_dict(cls, d: dict) -> GenerateConfig:
        d = dict(d)
        d["families"] = tuple(d["families"])
        d["heldout_families"] = tuple(d["heldout_families"])
        d["recipe"] = Recipe(**d["recipe"])
        d["frame_filter"] = FrameFilter(**d["frame_filter"])
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


def frames_per_task(family: str, recipe: Recipe) -> int:
    """Frames one task of ``family`` yields when nothing is rejected."""
    if family.startswith("rattled-") and family != "rattled-relax":
        return recipe.rattle_frames
    if family == "rattled-relax":
        return recipe.relax_steps // recipe.relax_stride + 1
    return recipe.md_steps // recipe.md_stride


def plan_tasks(config: GenerateConfig, n_seeds: int) -> list[dict]:
    """The deterministic task list: family, seed index, substitution flag, target size.

    >>> tasks = plan_tasks(GenerateConfig(n_structures=30, families=("rattled-300",)), 10)
    >>> len(tasks), tasks[0]["family"], sorted(tasks[0])
    (10, 'rattled-300', ['family', 'index', 'seed_index', 'substitute', 'target_atoms'])
    """
    rng = np.random.default_rng([config.seed, 0])
    weights = np.array([config.family_weights.get(f, 1.0) for f in config.families], float)
    weights = weights / weights.sum()
    families: list[str] = []
    for family, w in zip(config.families, weights, strict=True):
        n_tasks = math.ceil(w * config.n_structures / frames_per_task(family, config.recipe))
        families += [family] * n_tasks
    order = rng.permutation(len(families))  # interleave, so a partial run covers all families
    return [
        {
            "index": index,
            "family": families[k],
            "seed_index": int(rng.integers(n_seeds)),
            "substitute": bool(rng.random() < config.substitution_prob),
            "target_atoms": int(rng.integers(config.min_atoms, config.max_atoms + 1)),
        }
        for index, k in enumerate(order.tolist())
    ]


def _frame_to_dict(frame: Atoms) -> dict:
    r = frame.calc.results
    return {
        "numbers": frame.numbers.tolist(),
        "positions": frame.positions.tolist(),
        "cell": frame.cell.array.tolist(),
        "pbc": frame.pbc.tolist(),
        "info": frame.info,
        "energy": float(r["energy"]),
        "forces": np.asarray(r["forces"]).tolist(),
        "stress": np.asarray(r["stress"]).tolist(),
    }


def _frame_from_dict(d: dict) -> Atoms:
    atoms = Atoms(numbers=d["numbers"], positions=d["positions"], cell=d["cell"], pbc=d["pbc"])
    atoms.info.update(d["info"])
    atoms.calc = SinglePointCalculator(
        atoms, energy=d["energy"], forces=np.array(d["forces"]), stress=np.array(d["stress"])
    )
    return atoms


def run_task(task: dict, config: GenerateConfig, seeds: list[Seed], calc=None) -> dict:
    """Run one task; returns ``{"task", "frames": [frame dicts], "rejected", "seconds"}``."""
    from pamm.data.recipes import run_recipe
    from pamm.data.seeds import make_supercell, substitute

    start_time = time.perf_counter()
    rng = np.random.default_rng([config.seed, 1, task["index"]])
    seed = seeds[task["seed_index"]]
    atoms = substitute(seed.atoms, rng) if task["substitute"] else seed.atoms
    atoms = make_supercell(atoms, task["target_atoms"])
    try:
        frames, rejected = run_recipe(
            task["family"], atoms, rng, config.recipe, config.frame_filter, calc
        )
        error = None
    except Exception as err:  # a seed the labeller cannot handle: record, do not stop the run
        frames, rejected, error = [], {"error": 1}, f"{type(err).__name__}: {err}"
    formula = atoms.get_chemical_formula()
    for k, frame in enumerate(frames):
        frame.info = {
            "sid": f"pamm{task['index']:05d}_{formula}_{task['family']}_{k}",
            "family": task["family"],
            "task": task["index"],
            "frame": k,
            "seed": f"{seed.source}:{seed.name}",
            "substituted": task["substitute"],
        }
    return {
        "task": task,
        "frames": [_frame_to_dict(f) for f in frames],
        "rejected": rejected,
        "error": error,
        "seconds": time.perf_counter() - start_time,
    }


_WORKER_STATE: dict = {}


def _init_worker(config_dict: dict, seeds: list[Seed]) -> None:
    from pamm.data.chgnet_labels import one_thread_per_worker

    one_thread_per_worker()
    _WORKER_STATE.update(config=GenerateConfig.from_dict(config_dict), seeds=seeds)


def _work(args: tuple[dict, str]) -> tuple[int, int, dict]:
    task, task_dir = args
    result = run_task(task, _WORKER_STATE["config"], _WORKER_STATE["seeds"])
    atomic_write_text(Path(task_dir) / f"task_{task['index']:05d}.json", json.dumps(result))
    return task["index"], len(result["frames"]), result["rejected"]


def generate(
    config: GenerateConfig,
    out_dir: str | Path,
    *,
    workers: int = 2,
    keep_work: bool = False,
    max_tasks: int | None = None,
) -> dict:
    """Generate (or resume) the dataset in ``out_dir``; returns the ``dataset.json`` dict.

    ``max_tasks`` keeps only the first tasks of the plan (the plan interleaves families,
    so a prefix stays balanced): a deterministic way to stop a long run early and
    assemble what is done (re-run with the same ``max_tasks``).
    """
    import multiprocessing as mp

    from tqdm import tqdm

    from pamm.data.seeds import load_seeds

    out_dir = Path(out_dir)
    card_path = out_dir / "dataset.json"
    if card_path.is_file():
        card = json.loads(card_path.read_text())
        if card.get("config") == json.loads(json.dumps(config.to_dict())):
            return card  # already complete
        raise FileExistsError(f"{card_path} exists with another recipe; choose a new folder")
    work = out_dir / ".work"
    task_dir = work / "tasks"
    task_dir.mkdir(parents=True, exist_ok=True)
    plan_path = work / "plan.json"
    seeds = load_seeds()
    config_json = json.loads(json.dumps(config.to_dict()))
    if plan_path.is_file():
        saved = json.loads(plan_path.read_text())
        if saved["config"] != config_json:
            raise FileExistsError(f"{work} holds an unfinished run with another recipe")
        tasks = saved["tasks"]
    else:
        tasks = plan_tasks(config, len(seeds))
        atomic_write_text(plan_path, json.dumps({"config": config_json, "tasks": tasks}))
    if max_tasks is not None:
        if max_tasks <= 0:
            raise ValueError(f"max_tasks must be > 0, got {max_tasks}")
        tasks = tasks[:max_tasks]
    done = {int(p.stem.split("_")[1]) for p in task_dir.glob("task_*.json")}
    pending = [(t, str(task_dir)) for t in tasks if t["index"] not in done]
    start = time.perf_counter()
    bar = tqdm(total=len(tasks), initial=len(tasks) - len(pending), desc="tasks", unit="task")
    if workers <= 1:
        _init_worker(config_json, seeds)
        results = map(_work, pending)
        for _ in results:
            bar.update()
    elif pending:
        ctx = mp.get_context("spawn")
        with ctx.Pool(workers, initializer=_init_worker, initargs=(config_json, seeds)) as pool:
            for _ in pool.imap_unordered(_work, pending, chunksize=1):
                bar.update()
    bar.close()
    card = assemble(config, out_dir, [t["index"] for t in tasks])
    card["max_tasks"] = max_tasks
    card["run"] = {"wall_seconds_this_invocation": round(time.perf_counter() - start, 1),
                   "workers": workers, "tasks_resumed": len(done)}  # fmt: skip
    atomic_write_text(card_path, json.dumps(card, indent=2))
    if not keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return card


def assemble(config: GenerateConfig, out_dir: Path, task_ids: list[int]) -> dict:
    """Split finished tasks, write ``{split}/`` shards; returns the dataset card (not written)."""
    from pamm.data.writer import write_aselmdb

    task_dir = out_dir / ".work" / "tasks"
    results = [json.loads((task_dir / f"task_{i:05d}.json").read_text()) for i in task_ids]
    rng = np.random.default_rng([config.seed, 2])
    split_of_task: dict[int, str] = {}
    for family in config.families:
        ids = [r["task"]["index"] for r in results if r["task"]["family"] == family]
        if family in config.heldout_families:
            split_of_task.update(dict.fromkeys(ids, "heldout"))
            continue
        ids = [ids[k] for k in rng.permutation(len(ids))]
        n_val = round(config.val_fraction * len(ids))
        n_test = round(config.test_fraction * len(ids))
        split_of_task.update(dict.fromkeys(ids[:n_val], "val"))
        split_of_task.update(dict.fromkeys(ids[n_val : n_val + n_test], "test"))
        split_of_task.update(dict.fromkeys(ids[n_val + n_test :], "train"))
    frames = {s: [] for s in SPLITS}
    rejected: dict[str, Counter] = {f: Counter() for f in config.families}
    errors = []
    for r in results:
        rejected[r["task"]["family"]].update(r["rejected"])
        if r.get("error"):
            errors.append({"task": r["task"]["index"], "error": r["error"]})
        frames[split_of_task[r["task"]["index"]]] += [_frame_from_dict(d) for d in r["frames"]]
    counts = {s: dict(Counter(a.info["family"] for a in fs)) for s, fs in frames.items()}
    for split, split_frames in frames.items():
        if split_frames:
            write_aselmdb(split_frames, out_dir / split, shard_size=1000, overwrite=True)
    all_frames = [a for fs in frames.values() for a in fs]
    elements = sorted({int(z) for a in all_frames for z in a.numbers})
    natoms = [len(a) for a in all_frames]
    from ase.data import chemical_symbols

    return {
        "name": "pamm-omat-like",
        "label_source": LABEL_SOURCE,
        "config": config.to_dict(),
        "n_structures": len(all_frames),
        "n_tasks": len(results),
        "counts": counts,
        "counts_per_family": dict(Counter(a.info["family"] for a in all_frames)),
        "rejected_per_family": {f: dict(c) for f, c in rejected.items()},
        "rejected_total": int(sum(sum(c.values()) for c in rejected.values())),
        "task_errors": errors,
        "elements": [chemical_symbols[z] for z in elements],
        "natoms": {
            "min": min(natoms, default=0),
            "max": max(natoms, default=0),
            "mean": round(float(np.mean(natoms)), 2) if natoms else 0.0,
        },
        "task_cpu_seconds": round(sum(r["seconds"] for r in results), 1),
        "layout": "{train,val,test,heldout}/data.NNNN.aselmdb + metadata.npz",
    }
