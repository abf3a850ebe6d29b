"""Streaming a dataset into a census: batches, graphs, motif keys, gates (no grad).

Two drivers share one aggregation step (``add_graph``):

- ``census_from_model``: runs the PaMM backbone under ``pamm.capture.capture`` and
  records its own graph, motif keys and per-edge gate means;
- ``census_from_graphs``: no model, only fairchem's radius graph +
  ``pamm.keys.extract_motifs`` (counts without gates; the benchmark's key-only path).

Structures are selected deterministically (dataset order, at most ``max_per_family``
per family); with ``rank``/``world`` a process takes every ``world``-th selected
structure, so shard censuses merge into exactly the single-process census.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from analysis.census import FAMILY_NAMES, Census, CensusBuilder
from analysis.data import StructureSource
from pamm.blend import blend_lookups
from pamm.data.families import UNKNOWN_FAMILY
from pamm.keys import MotifKeys, extract_motifs
from pamm.plumbing import atoms_to_batch
from pamm.spec import MotifMemorySpec

__all__ = [
    "Selection",
    "add_graph",
    "batches",
    "census_from_graphs",
    "census_from_model",
    "select_structures",
]

Progress = Callable[[float, str], None]
_FAM_INDEX = {name: i for i, name in enumerate(FAMILY_NAMES)}


class Selection:
    """Chosen dataset indices ``[S]`` with their family indices ``[S]`` and sids."""

    def __init__(self, indices: np.ndarray, family: np.ndarray, sids: list[str]) -> None:
        self.indices = np.asarray(indices, np.int64)
        self.family = np.asarray(family, np.int64)
        self.sids = list(sids)

    def shard(self, rank: int, world: int) -> Selection:
        """Every ``world``-th structure starting at ``rank``."""
        sl = slice(rank, None, world)
        return Selection(self.indices[sl], self.family[sl], self.sids[sl])

    def per_family(self) -> dict[str, int]:
        counts = np.bincount(self.family, minlength=len(FAMILY_NAMES))
        return {FAMILY_NAMES[i]: int(c) for i, c in enumerate(counts) if c}

    def __len__(self) -> int:
        return len(self.indices)


def select_structures(source: StructureSource, max_per_family: int | None = None) -> Selection:
    """The first ``max_per_family`` structures of each family, in dataset order."""
    seen: dict[int, int] = {}
    idx, fam, sids = [], [], []
    for i in range(len(source)):
        atoms = source.get_atoms(i)
        f = _FAM_INDEX.get(source.family(atoms), _FAM_INDEX[UNKNOWN_FAMILY])
        if max_per_family is not None and seen.get(f, 0) >= max_per_family:
            continue
        seen[f] = seen.get(f, 0) + 1
        idx.append(i)
        fam.append(f)
        sids.append(source.sid(atoms, i))
    return Selection(np.array(idx, np.int64), np.array(fam, np.int64), sids)


def batches(
    source: StructureSource, selection: Selection, batch_size: int, cutoff: float
) -> Iterator[tuple[np.ndarray, Any]]:
    """Yield (positions in ``selection`` [B], fairchem batch) of at most ``batch_size``."""
    del cutoff  # the model builds the graph with its own cutoff
    for start in range(0, len(selection), batch_size):
        pos = np.arange(start, min(start + batch_size, len(selection)))
        atoms = [source.get_atoms(int(selection.indices[p])) for p in pos]
        yield pos, atoms_to_batch(atoms)


def add_graph(
    builder: CensusBuilder,
    keys: MotifKeys,
    edge_index: torch.Tensor,
    cell_offsets: torch.Tensor,
    batch: torch.Tensor,
    structure: np.ndarray,
    family: np.ndarray,
    gate_mean: torch.Tensor | None,
) -> None:
    """Aggregate one batched graph into ``builder``.

    ``edge_index`` [2, E] (j, i), ``cell_offsets`` [E, 3], ``batch`` [N] structure slot of
    each atom, ``structure`` / ``family`` [B] dataset and family index of each slot,
    ``gate_mean`` [E] or None. Smooth keys (``keys.weighted``) also add the census's
    weighted ``lookup_mass`` (two rows per edge and per triplet).
    """
    ei = edge_index.detach().cpu().numpy()  # [2, E]
    b = batch.detach().cpu().numpy()  # [N]
    natoms = np.bincount(b, minlength=len(structure))  # [B]
    first = np.cumsum(natoms) - natoms  # [B] first atom of each slot
    j, i = ei[0], ei[1]
    slot = b[i]  # [E]
    off = cell_offsets.detach().cpu().numpy().round().astype(np.int64)  # [E, 3]
    gate = None if gate_mean is None else gate_mean.detach().float().cpu().numpy()  # [E]
    builder.add(
        "pair",
        keys=keys.pair_key.cpu().numpy(),
        family=family[slot],
        gate=gate,
        structure=structure[slot],
        centre=i - first[slot],
        neighbour=j - first[slot],
        offset_j=off,
    )
    te = keys.triplet_edge.cpu().numpy()  # [T]
    tp = keys.triplet_partner.cpu().numpy()  # [T]
    ts = slot[te]
    builder.add(
        "triplet",
        keys=keys.triplet_key.cpu().numpy(),
        family=family[ts],
        gate=None if gate is None else gate[te],
        structure=structure[ts],
        centre=i[te] - first[ts],
        neighbour=j[te] - first[ts],
        partner=j[tp] - first[ts],
        offset_j=off[te],
        offset_k=off[tp],
    )
    if keys.weighted:  # smooth lookups: the weighted mass of every row read
        for table, blend_key, weight, fam in (
            ("pair", keys.pair_blend_key, keys.pair_blend_weight, family[slot]),
            ("triplet", keys.triplet_blend_key, keys.triplet_blend_weight, family[ts]),
        ):
            builder.add_lookup_mass(
                table,
                keys=blend_key.cpu().numpy().reshape(-1),  # [n * 2]
                family=np.repeat(fam, 2),
                weight=weight.detach().double().cpu().numpy().reshape(-1),
            )


def _report(progress: Progress | None, done: int, total: int, what: str) -> None:
    if progress is not None:
        progress(done / max(total, 1), f"{what}: {done}/{total} structures")


def census_from_graphs(
    source: StructureSource,
    selection: Selection,
    spec: MotifMemorySpec,
    *,
    batch_size: int = 32,
    reservoir: int = 8,
    max_neighbors: int = 300,
    progress: Progress | None = None,
    tqdm_bar: bool = True,
) -> Census:
    """Census of motif keys from fairchem's radius graph alone (no model, no gates)."""
    from fairchem.core.graph.compute import generate_graph
    from tqdm.auto import tqdm

    builder = CensusBuilder(reservoir=reservoir)
    builder.add_structures(selection.family)
    bar = tqdm(total=len(selection), desc="census (keys only)", disable=not tqdm_bar)
    done = 0
    for pos, batch in batches(source, selection, batch_size, spec.cutoff):
        with torch.no_grad():
            graph = generate_graph(
                batch, cutoff=spec.cutoff, max_neighbors=max_neighbors,
                enforce_max_neighbors_strictly=False, radius_pbc_version=2, pbc=batch["pbc"],
            )  # fmt: skip
            keys = extract_motifs(
                graph["edge_index"], graph["edge_distance"], graph["edge_distance_vec"],
                batch["atomic_numbers"], spec,
            )  # fmt: skip
            if spec.smooth:
                keys = blend_lookups(keys, graph["edge_distance"], graph["edge_distance_vec"], spec)
        add_graph(
            builder, keys, graph["edge_index"], graph["cell_offsets"], batch["batch"],
            selection.indices[pos], selection.family[pos], None,
        )  # fmt: skip
        done += len(pos)
        bar.update(len(pos))
        _report(progress, done, len(selection), "census")
    bar.close()
    return builder.finish({"source": "graphs", "n_structures": len(selection)})


def census_from_model(
    model: torch.nn.Module,
    source: StructureSource,
    selection: Selection,
    spec: MotifMemorySpec,
    *,
    batch_size: int = 16,
    reservoir: int = 8,
    device: str = "cpu",
    progress: Progress | None = None,
    tqdm_bar: bool = True,
    on_batch: Callable[[Any, Any], None] | None = None,
) -> Census:
    """Census from the model's own graph, keys and gates (``pamm.capture``; no grad).

    ``on_batch(batch, record)`` is called after each forward (e.g. to collect node
    embeddings for the latent comparison).
    """
    from tqdm.auto import tqdm

    from pamm.capture import capture

    backbone = getattr(model, "backbone", model)
    builder = CensusBuilder(reservoir=reservoir)
    builder.add_structures(selection.family)
    bar = tqdm(total=len(selection), desc="census", disable=not tqdm_bar)
    done = 0
    backbone.eval()
    for pos, batch in batches(source, selection, batch_size, spec.cutoff):
        batch = batch.to(device)
        with torch.no_grad(), capture(backbone) as cap:
            emb = backbone(batch)
        rec = cap.records[-1]
        add_graph(
            builder, rec.keys, rec.edge_index, rec.cell_offsets, rec.batch,
            selection.indices[pos], selection.family[pos], rec.gate_mean,
        )  # fmt: skip
        if on_batch is not None:
            on_batch(batch, emb)
        done += len(pos)
        bar.update(len(pos))
        _report(progress, done, len(selection), "census")
    bar.close()
    return builder.finish({"source": "model", "n_structures": len(selection)})


def structure_sids(selection: Selection) -> dict[int, str]:
    """Dataset index -> sid of the selected structures."""
    return dict(zip(selection.indices.tolist(), selection.sids, strict=True))
