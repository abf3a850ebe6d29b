"""The census at scale: time and peak memory from 10k to 100k structures, 1 vs 2 processes.

    python benchmarks/scale_data.py /tmp/pamm-scale/data            # 100k structures, ~2 min
    python benchmarks/census_scale.py --data /tmp/pamm-scale/data \\
        --json benchmarks/results/census_scale.json [--sizes 10000,30000,100000] \\
        [--model-sizes 10000,30000,100000] [--checkpoint assets/checkpoints/gate.pt] \\
        [--distributed graphs/100000,model/10000,model/100000] [--work /tmp/pamm-scale/census]

Every measurement runs in a fresh child process (so ``peak_rss_mb`` is that census's own
peak, including the Python/torch/fairchem import floor, which ``import_rss_mb`` reports):

- ``graphs/N``: ``analysis.runner.census_from_graphs`` (fairchem's radius graph + motif
  keys, no model) over the first N structures;
- ``model/N``: ``analysis.runner.census_from_model`` with ``--checkpoint`` (keys and gates
  from the model's own forward);
- ``distributed_<kind>/N``: the census of the first N structures (whole shards) over 2
  processes (``torchrun --nproc_per_node 2 -m analysis.distributed``, gloo), compared with
  the single-process ``<kind>/N`` when that was measured (``Census.equals``: every count,
  gate sum and reservoir entry; null otherwise). Its census carries its identity, so
  ``pamm analyze --census`` builds a dashboard run from it.

Census memory must stay O(distinct motifs), not O(structures): the JSON holds, per size,
the peak RSS next to the distinct motifs and occurrences. Results are merged into
``--json`` after every measurement and finished ones are skipped on a rerun (``--force``
redoes them), so an interrupted run resumes. The censuses are kept in ``--work``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status_mb() -> dict[str, float]:
    """Current anonymous / file-backed resident memory (Linux ``/proc/self/status``), MB.

    The dataset is read through LMDB's memory map, whose pages count in the RSS as
    file-backed memory; the census itself lives in anonymous memory.
    """
    out = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("RssAnon", "RssFile"):
                out[f"{name[3:].lower()}_rss_mb"] = int(value.split()[0]) / 1024
    except OSError:  # not Linux
        pass
    return out


def census_summary(census) -> dict[str, Any]:
    """Occurrences, distinct motif keys and (key, family) rows per table of a census."""
    import numpy as np

    tables = census.tables
    return {
        "occurrences": {t: int(c.count.sum()) for t, c in tables.items()},
        "distinct_motifs": {t: len(np.unique(c.key)) for t, c in tables.items()},
        "rows": {t: len(c.key) for t, c in tables.items()},
    }


def shard_files(data: Path) -> list[Path]:
    files = sorted(data.glob("*.aselmdb"))
    if not files:
        raise FileNotFoundError(f"no *.aselmdb in {data}; write it with benchmarks/scale_data.py")
    return files


def first_structures(data: Path, n: int):
    """(source over the shards holding the first ``n`` structures, selection of those ``n``)."""
    from analysis.data import StructureSource
    from analysis.runner import Selection, select_structures

    files = shard_files(data)
    per_shard = len(StructureSource.open(files[0]))
    files = files[: math.ceil(n / per_shard)]
    source = StructureSource.open(files)
    if len(source) < n:
        raise ValueError(f"{data} holds {len(source)} structures, fewer than {n}")
    sel = select_structures(source)
    return source, Selection(sel.indices[:n], sel.family[:n], sel.sids[:n])


def measure(kind: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """In this (child) process: one census of the first ``n`` structures, timed."""
    import torch

    from analysis.runner import census_from_graphs, census_from_model
    from pamm.spec import MotifMemorySpec

    torch.set_num_threads(1)
    import_mb = _rss_mb()
    t0 = time.perf_counter()
    source, selection = first_structures(args.data, n)
    select_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    if kind == "model":
        from pamm.checkpoint import check_memory_tables
        from pamm.plumbing import load_checked_model

        model = load_checked_model(args.checkpoint)
        spec = check_memory_tables(model)
        census = census_from_model(
            model, source, selection, spec, batch_size=args.batch_size, tqdm_bar=False
        )
    else:
        census = census_from_graphs(
            source, selection, MotifMemorySpec(), batch_size=args.batch_size, tqdm_bar=False
        )
    census_s = time.perf_counter() - t0
    out = args.work / f"census_{kind}_{n}.npz"
    census.save(out)
    return {
        "structures": n,
        "select_s": select_s,
        "census_s": census_s,
        "structures_per_min": 60 * n / census_s,
        **census_summary(census),
        "reservoir_entries": {t: len(census.reservoirs[t].key) for t in census.reservoirs},
        "census_npz_mb": out.stat().st_size / 2**20,
        "import_rss_mb": import_mb,
        "peak_rss_mb": _rss_mb(),
        **{f"end_{k}": v for k, v in _status_mb().items()},
        "census": str(out),
    }


def run_child(kind: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", f"{kind}/{n}",
           "--data", str(args.data), "--work", str(args.work), "--checkpoint", str(args.checkpoint),
           "--batch-size", str(args.batch_size)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind}/{n} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_distributed(kind: str, n: int, args: argparse.Namespace, results: dict) -> dict[str, Any]:
    """2-process gloo census of the first ``n`` structures (whole shards), compared with the
    1-process one when ``results`` holds it."""
    from analysis.census import Census
    from analysis.data import StructureSource

    files = shard_files(args.data)
    per_shard = len(StructureSource.open(files[0]))
    if n % per_shard:
        raise ValueError(f"distributed sizes must be whole shards ({per_shard}), got {n}")
    files = files[: n // per_shard]
    out = args.work / f"census_{kind}_{n}_distributed.npz"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "analysis.distributed", "--data", *map(str, files), "--out", str(out),
           "--batch-size", str(args.batch_size)]  # fmt: skip
    if kind == "model":
        cmd += ["--checkpoint", str(args.checkpoint)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"distributed {kind} census failed:\n{proc.stderr[-3000:]}")
    two = Census.load(out)
    assert int(two.structures_per_family.sum()) == n
    single = results.get(f"{kind}/{n}")  # None: no 1-process census of this size to compare
    return {
        "structures": n,
        "processes": 2,
        "backend": "gloo",
        "wall_s": wall,
        "structures_per_min": 60 * n / wall,
        **census_summary(two),
        "single_process_census_s": single and single["census_s"],
        "speedup_vs_single": single and single["census_s"] / wall,
        "peak_rss_mb_largest_process": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        / 1024,
        "equals_single_process": single and bool(two.equals(Census.load(single["census"]))),
        "world_size": two.meta.get("world_size"),
        "census": str(out),
    }


def _save(path: Path, results: dict) -> None:
    from pamm.plumbing import atomic_write_json

    results["loadavg_now"] = os.getloadavg()
    atomic_write_json(path, results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="scale_data.py's folder")
    parser.add_argument("--json", type=Path, default=None, help="results (merged, resumable)")
    parser.add_argument("--sizes", default="10000,30000,100000", help="graph-only census sizes")
    parser.add_argument("--model-sizes", default="10000,30000,100000")
    parser.add_argument("--checkpoint", type=Path, default=REPO / "assets/checkpoints/gate.pt")
    parser.add_argument(
        "--distributed", default="graphs/100000,model/10000,model/100000",
        help="KIND/N censuses (whole shards) split over 2 torchrun ranks",
    )  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--work", type=Path, default=Path("/tmp/pamm-scale/census"))
    parser.add_argument("--force", action="store_true", help="redo finished measurements")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.child:
        kind, n = args.child.split("/")
        print(json.dumps(measure(kind, int(n), args)))
        return 0
    if not args.checkpoint.is_file() and args.model_sizes:
        parser.error(f"--checkpoint {args.checkpoint} does not exist")
    results: dict[str, Any] = {}
    if args.json is not None and args.json.is_file() and not args.force:
        results = json.loads(args.json.read_text())
    results.update({
        "data": str(args.data),
        "checkpoint": str(args.checkpoint),
        "batch_size": args.batch_size,
        "threads_per_process": 1,
        "cpus": os.cpu_count(),
    })  # fmt: skip
    todo = [("graphs", int(n)) for n in args.sizes.split(",") if n]
    todo += [("model", int(n)) for n in args.model_sizes.split(",") if n]
    for kind, n in todo:
        if f"{kind}/{n}" in results:
            continue
        load = os.getloadavg()
        results[f"{kind}/{n}"] = {**run_child(kind, n, args), "loadavg_before": load}
        print(f"{kind}/{n}: {json.dumps(results[f'{kind}/{n}'])}", flush=True)
        if args.json is not None:
            _save(args.json, results)
    for item in filter(None, args.distributed.split(",")):
        kind, n = item.split("/")
        name = f"distributed_{kind}/{n}"
        if name in results:
            continue
        load = os.getloadavg()
        results[name] = {**run_distributed(kind, int(n), args, results), "loadavg_before": load}
        print(f"{name}: {json.dumps(results[name])}", flush=True)
        if args.json is not None:
            _save(args.json, results)
    if args.json is None:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
