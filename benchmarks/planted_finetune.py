"""``planted.py --finetune-from PLAIN.pt``: the planted check on the shipped ``gate.pt`` recipe.

The shipped memory checkpoints are not trained from scratch: a zero-initialised memory is
attached to the converged plain ``baseline.pt`` and only the memory is fine-tuned
(``assets/checkpoints/README.md``). This mode runs the plants through that recipe:

1. ``init.pt`` under ``--work``: ``PLAIN.pt`` with a zero-initialised memory of ``--variant``
   attached (``pamm attach``; the spec is the variant's config with the ``pamm.*``
   overrides, the cutoff the backbone's).
2. Per data order (``--seeds``): a control, the same fine-tune on the unplanted labels, and
   per motif and strength a fine-tune on a copy carrying that one term (so neither term can
   compete for the memory or leak into the other's shares), each ``pamm train --init
   init.pt --train-only memory`` for ``--steps`` with the run's recipe and overrides
   (``planted_frozen.fine_tune``), then scored and recovered (``planted_frozen.score_run``).
3. Summarised per data order and motif by ``planted.summarise_runs`` against that data
   order's control.

The fine-tunes run ``--jobs`` at a time, in separate processes (``--threads`` each, default
the cores shared out); the planted copies are written while the controls train. Every
finished run is saved to the JSON at once (and to ``RUN.json`` beside its run directory); a
rerun reuses finished runs and fine-tunes, so strengths and seeds can be added later.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))  # as planted_frozen: its siblings by name

import planted  # noqa: E402
import planted_frozen  # noqa: E402

from pamm.plumbing import atomic_write_json  # noqa: E402


def memory_spec(variant: str, overrides: list[str]) -> dict:
    """The ``pamm`` block of the variant's config with ``overrides`` (hydra, resolved),
    without its cutoff (``attach_pamm`` takes the backbone's)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from pamm.train import config_path

    path = config_path(variant)
    with initialize_config_dir(str(path.parent), version_base="1.3"):
        cfg = compose(path.stem, overrides=[*overrides, "dataset_dir=/nonexistent"])
    spec = OmegaConf.to_container(cfg.pamm, resolve=True)
    spec.pop("cutoff", None)
    return spec


def attach_init(plain: Path, config: dict, dest: Path) -> dict:
    """``dest``: ``plain`` with a zero-initialised memory of the run's variant (kept if it
    is there with the same source and spec); the record of what it holds."""
    from pamm.checkpoint import attach_pamm, load_checkpoint, save_checkpoint

    spec = memory_spec(config["variant"], config["overrides"])
    record = {"path": str(dest), "from": str(plain.resolve()), "spec": spec}
    record_path = dest.with_suffix(".json")
    if dest.is_file() and record_path.is_file() and json.loads(record_path.read_text()) == record:
        return record
    dest.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(attach_pamm(load_checkpoint(plain), spec), dest)
    atomic_write_json(record_path, record, indent=1)
    return record


def plan(variant: str, seeds: list[int], strengths: list[float], motifs: dict) -> list[dict]:
    """The jobs, controls first: name, seed, strength, the planted motif (None: control).

    >>> [j["name"] for j in plan("gate", [0], [1.0], {"pair": 0, "triplet": 0})]
    ['gate_s0_r0', 'gate_s0_pair_r1', 'gate_s0_triplet_r1']
    """
    jobs = [{"name": f"{variant}_s{s}_r0", "seed": s, "strength": 0.0, "motif": None}
            for s in seeds]  # fmt: skip
    jobs += [{"name": f"{variant}_s{s}_{k}_{planted.tag(r)}", "seed": s, "strength": r,
              "motif": k} for s in seeds for r in strengths for k in motifs]  # fmt: skip
    return jobs


def run_job(job: dict, source: dict, init: Path, data: Path, work: Path, threads: int) -> dict:
    """One fine-tune (in a worker process), scored; written to ``work/runs/NAME.json``."""
    planted.set_threads(threads)
    print(f"planted: fine-tuning {job['name']}", flush=True)
    config = source["config"]
    motifs = planted.motifs_of(config)
    if job["motif"] is not None:
        motifs = {job["motif"]: motifs[job["motif"]]}
    checkpoint = planted_frozen.fine_tune(
        work / "runs" / job["name"], config, init, data, steps=config["steps"], seed=job["seed"]
    )
    run = planted_frozen.score_run(source, checkpoint, init, job["strength"], motifs)
    run |= {"seed": job["seed"], "planted_motif": job["motif"]}
    atomic_write_json(_record(work, job), {"job": job, "run": run}, indent=1)
    return run


def _record(work: Path, job: dict) -> Path:
    """Where a finished job is recorded, beside its run directory."""
    return work / "runs" / f"{job['name']}.json"


def _done(work: Path, job: dict) -> dict | None:
    record = _record(work, job)
    if record.is_file():
        saved = json.loads(record.read_text())
        if saved["job"] == job:
            return saved["run"]
    return None


def run_all(args, result: dict, save) -> list[str]:
    """Attach, plant, fine-tune and score every job of ``--seeds`` x strengths; the names of
    the jobs that failed. ``save()`` writes ``result`` (after each finished job)."""
    from pamm.data.planted import plant_datasets

    config = result["config"]
    motifs = planted.motifs_of(config)
    result["init"] = attach_init(args.finetune_from, config, args.work / "init.pt")
    init = Path(result["init"]["path"])
    jobs = [j for j in plan(config["variant"], config["seeds"], config["strengths"], motifs)
            if j["name"] not in result["runs"]]  # fmt: skip
    for job in list(jobs):  # finished in an interrupted invocation: recorded beside the run
        run = _done(args.work, job)
        if run is not None:
            result["runs"][job["name"]] = run
            jobs.remove(job)
    save()
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    context = multiprocessing.get_context("spawn")  # a fresh torch/OpenMP in each worker
    failed: list[str] = []
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=context) as pool:
        futures: dict[Future, str] = {}

        def submit(job: dict, data: Path) -> None:
            print(f"planted: queued {job['name']} ({config['steps']} steps)", flush=True)
            future = pool.submit(run_job, job, result, init, data, args.work, threads)
            futures[future] = job["name"]

        for job in (j for j in jobs if j["motif"] is None):
            submit(job, args.data)
        copies = {args.work / "data" / f"{k}_{planted.tag(r)}":
                  planted.planted_motifs(result["calibration"], r, {k: m})
                  for r in config["strengths"] for k, m in motifs.items()}  # fmt: skip
        for path, record in plant_datasets(args.data, copies, splits=planted.SPLITS).items():
            result["datasets"][path.name] = {"path": str(path), **record}
        save()
        for job in (j for j in jobs if j["motif"] is not None):
            submit(job, args.work / "data" / f"{job['motif']}_{planted.tag(job['strength'])}")
        for future in as_completed(futures):
            name = futures[future]
            try:
                result["runs"][name] = future.result()
            except Exception as err:  # keep going; report at the end
                print(f"planted: {name} FAILED: {type(err).__name__}: {err}", flush=True)
                failed.append(name)
                continue
            print(f"planted: {name} done", flush=True)
            save()
    return failed


def summarise(result: dict) -> dict:
    """Per data order: each motif's rows and checks against that data order's control (the
    shape of ``planted.summarise_runs``); ``all_checks_pass`` over every boolean check."""
    config, runs = result["config"], result["runs"]
    variant = config["variant"]
    out: dict = {}
    for seed in config["seeds"]:
        control = runs.get(f"{variant}_s{seed}_r0")
        per = {"noise_floor_mev_per_atom": None, "motifs": {}, "checks": {}}
        for k in planted.motifs_of(config):
            chosen = {f"{variant}_r0": control} if control else {}
            for r in config["strengths"]:
                run = runs.get(f"{variant}_s{seed}_{k}_{planted.tag(r)}")
                if run is not None:
                    chosen[f"{variant}_{planted.tag(r)}"] = run
            part = planted.summarise_runs(
                {"runs": chosen, "eval": result["eval"], "calibration": result["calibration"]},
                variant,
            )
            per["noise_floor_mev_per_atom"] = part["noise_floor_mev_per_atom"]
            per["motifs"][k], per["checks"][k] = part["motifs"][k], part["checks"][k]
        out[f"s{seed}"] = per
    flags = [v for per in out.values() for c in per["checks"].values() for v in c.values()
             if not isinstance(v, dict)]  # fmt: skip
    out["all_checks_pass"] = bool(flags) and all(v is True for v in flags)
    return out
