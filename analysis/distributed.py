"""Census over many processes with ``torch.distributed`` (gloo on CPU, nccl on GPU).

Each rank takes every ``world``-th selected structure, builds its shard census, and the
shards are gathered (``all_gather_object``) and merged exactly, so the result equals the
single-process census bit for bit. Launch with torchrun::

    torchrun --nproc_per_node 2 -m analysis.distributed --data assets/data \\
        --out census.npz [--checkpoint model.pt] [--max-per-family 100]

Rank 0 writes the merged census (``analysis.census.Census.save``) with its identity
(checkpoint sha256, dataset fingerprint, spec, census settings: ``meta["identity"]``), so
that ``pamm analyze ... --census census.npz`` builds the run from it instead of computing
the census again, and refuses it for any other checkpoint, dataset or settings. Across
nodes, give torchrun ``--nnodes``/``--node-rank``/``--rdzv-endpoint`` (docs/SCALE.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from analysis.census import Census, merge
from analysis.data import StructureSource
from analysis.pipeline import census_identity
from analysis.runner import Selection, census_from_graphs, census_from_model, select_structures
from analysis.settings import AnalysisSettings
from pamm.spec import MotifMemorySpec

__all__ = ["distributed_census", "main"]


def distributed_census(
    source: StructureSource,
    selection: Selection,
    spec: MotifMemorySpec,
    model: torch.nn.Module | None = None,
    **kwargs: Any,
) -> Census:
    """This rank's shard census, gathered from all ranks and merged (same on every rank).

    Without an initialised process group it is the plain single-process census.
    """
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    shard = selection.shard(rank, world)
    kwargs.setdefault("tqdm_bar", rank == 0)
    if model is not None and spec.uses_memory:
        local = census_from_model(model, source, shard, spec, **kwargs)
    else:
        local = census_from_graphs(source, shard, spec, **kwargs)
    if world == 1:
        return local
    gathered: list[Census | None] = [None] * world
    dist.all_gather_object(gathered, local)
    merged = merge([c for c in gathered if c is not None])
    merged.meta["n_structures"] = len(selection)
    merged.meta["world_size"] = world
    return merged


def main(argv: list[str] | None = None) -> int:
    """torchrun entry point (see module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m analysis.distributed")
    parser.add_argument("--data", nargs="+", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--max-per-family", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--reservoir", type=int, default=8)
    args = parser.parse_args(argv)
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    try:
        model, sha = None, None
        spec = MotifMemorySpec()
        if args.checkpoint is not None:
            from pamm.checkpoint import check_memory_tables
            from pamm.plumbing import load_checked_model, sha256_file

            model = load_checked_model(args.checkpoint)
            spec = check_memory_tables(model)
            sha = sha256_file(args.checkpoint)
        source = StructureSource.open(args.data)
        selection = select_structures(source, args.max_per_family or None)
        census = distributed_census(
            source, selection, spec, model, batch_size=args.batch_size, reservoir=args.reservoir
        )
        if dist.get_rank() == 0:
            settings = AnalysisSettings(
                max_per_family=args.max_per_family or None, reservoir=args.reservoir
            )
            census.meta["identity"] = census_identity(sha, source.fingerprint(), spec, settings)
            census.save(args.out)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
