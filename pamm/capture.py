"""Inspection API: record what the motif memory did in each forward; read the tables.

Usage (model: a HydraModel or the PaMM backbone)::

    with capture(model) as cap:
        out = model(batch)
    rec = cap.records[-1]        # one BatchCapture per forward
    rec.pair_bucket              # [E, H] bucket ids of each edge's pair motif

Recording only reads tensors (detached copies moved to CPU), so the model's outputs
are unchanged. A forward without motifs (a batch with no edges at all) records E = 0.

With smooth lookups (``spec.lookup == "smooth"``) every edge and triplet reads two rows
with weights; the record then also holds them, so callers can count weighted mass::

    rec.pair_lookup_bucket [E, 2, H], rec.pair_weight [E, 2]         (rows sum to 1)
    rec.triplet_lookup_bucket [T, 2, H], rec.triplet_weight [T, 2]   (rows sum to the
        triplet's envelope mass μ in [0, 1]; m_trip(e) = Σ weight·row / (1 + Σ μ), or
        Σ weight·row with ``triplet_reduce="sum"``)
    rec.keys.pair_blend_key [E, 2], rec.keys.triplet_blend_key [T, 2]

``pair_bucket`` / ``triplet_bucket`` stay the buckets of each edge's / triplet's own key
(the bin it lies in), as with hard lookups, where the four fields above are None.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from pamm.keys import MotifKeys

__all__ = ["BatchCapture", "Capture", "capture", "find_pamm_backbone", "table_contents"]


@dataclass
class BatchCapture:
    """Everything the memory saw and did in one forward (CPU tensors)."""

    edge_index: torch.Tensor  # [2, E] (row 0 neighbour j, row 1 centre i)
    cell_offsets: torch.Tensor  # [E, 3] integer image offsets of j
    edge_distance: torch.Tensor  # [E]
    atomic_numbers: torch.Tensor  # [N]
    batch: torch.Tensor  # [N] structure index per atom
    keys: MotifKeys
    pair_bucket: torch.Tensor | None  # [E, H] (None for the mlp / triplet_only modes)
    triplet_bucket: torch.Tensor | None  # [T, H] (None for the mlp / pair_only modes)
    gate: torch.Tensor | None  # [E, edge_dim], only with keep_full_gate=True
    gate_mean: torch.Tensor  # [E] per-edge mean of the gate
    # smooth lookups only (None with hard lookups), see the module docstring
    pair_lookup_bucket: torch.Tensor | None = None  # [E, 2, H]
    pair_weight: torch.Tensor | None = None  # [E, 2]
    triplet_lookup_bucket: torch.Tensor | None = None  # [T, 2, H]
    triplet_weight: torch.Tensor | None = None  # [T, 2]

    @property
    def weighted(self) -> bool:
        """True when the lookups were smooth (weights recorded)."""
        return self.keys.weighted


@dataclass
class Capture:
    """The records of a ``capture`` block, one per forward."""

    records: list[BatchCapture] = field(default_factory=list)


def find_pamm_backbone(model: torch.nn.Module) -> torch.nn.Module:
    """The PaMM backbone of a HydraModel (``model.backbone``) or the backbone itself."""
    inner = getattr(model, "module", model)  # e.g. AveragedModel(HydraModel)
    for candidate in (model, getattr(model, "backbone", None), getattr(inner, "backbone", None)):
        if candidate is not None and hasattr(candidate, "_pamm_sinks"):
            return candidate
    raise ValueError(f"{type(model).__name__} has no PaMM backbone (pamm.backbone.PaMMBackbone)")


def _empty_keys() -> MotifKeys:
    e = torch.zeros(0, dtype=torch.long)
    return MotifKeys(e, e, e, e, e, e)


def _cpu(x: torch.Tensor | None) -> torch.Tensor | None:
    return None if x is None else x.detach().cpu()


def _empty_smooth(spec: Any) -> dict[str, torch.Tensor | None]:
    """The smooth-lookup fields of a record without edges."""
    bucket = torch.zeros(0, 2, spec.heads, dtype=torch.long)
    return {
        "pair_lookup_bucket": bucket if spec.uses_pair else None,
        "pair_weight": torch.zeros(0, 2) if spec.uses_pair else None,
        "triplet_lookup_bucket": bucket.clone() if spec.uses_triplet else None,
        "triplet_weight": torch.zeros(0, 2) if spec.uses_triplet else None,
    }


def _buckets(bb: Any, keys: MotifKeys, lookup: Any) -> dict[str, torch.Tensor | None]:
    """Bucket (and, for smooth lookups, weight) fields of a record (CPU tensors)."""
    if not keys.weighted:
        return {
            "pair_bucket": _cpu(lookup.pair_bucket),
            "triplet_bucket": _cpu(lookup.triplet_bucket),
        }
    memory, out = bb.motif_memory, {}
    for table, key, weight in (
        ("pair", keys.pair_key, keys.pair_blend_weight),
        ("triplet", keys.triplet_key, keys.triplet_blend_weight),
    ):
        blended = getattr(lookup, f"{table}_bucket")  # [*, 2, H] or None
        own = None
        if blended is not None:  # the own key's buckets (random_bucket: its random row)
            own = blended[:, 0] if bb.pamm_spec.mode == "random_bucket" else memory.hash(table, key)
        out[f"{table}_bucket"] = _cpu(own)
        out[f"{table}_lookup_bucket"] = _cpu(blended)
        out[f"{table}_weight"] = None if blended is None else _cpu(weight)
    return out


@contextmanager
def capture(model: torch.nn.Module, keep_full_gate: bool = False) -> Iterator[Capture]:
    """Record a ``BatchCapture`` for every forward of ``model`` inside the block."""
    backbone = find_pamm_backbone(model)
    if backbone.motif_memory is None:
        raise ValueError("this PaMM backbone has mode='baseline': there is no memory to capture")
    cap = Capture()

    def sink(bb: Any, graph: dict, data: Any, keys: MotifKeys | None, lookup: Any, gate) -> None:
        from pamm.backbone import _cell_offsets

        z, batch = _cpu(data["atomic_numbers_full"]), _cpu(data["batch_full"])
        if keys is None:  # fairchem padded an edge-less batch: no motifs
            spec = bb.pamm_spec
            no_buckets = torch.zeros(0, spec.heads, dtype=torch.long)
            smooth = _empty_smooth(spec) if spec.smooth else {}
            cap.records.append(
                BatchCapture(
                    edge_index=torch.zeros(2, 0, dtype=torch.long),
                    cell_offsets=torch.zeros(0, 3, dtype=torch.long),
                    edge_distance=torch.zeros(0),
                    atomic_numbers=z,
                    batch=batch,
                    keys=_empty_keys(),
                    pair_bucket=no_buckets if spec.uses_pair else None,
                    triplet_bucket=no_buckets.clone() if spec.uses_triplet else None,
                    gate=torch.zeros(0, bb.edge_channels_list[0]) if keep_full_gate else None,
                    gate_mean=torch.zeros(0),
                    **smooth,
                )
            )
            return
        edge_index = graph["edge_index"]
        offsets = _cell_offsets(graph, data)
        if offsets is None:
            offsets = torch.zeros(edge_index.shape[1], 3, dtype=torch.long)
        cap.records.append(
            BatchCapture(
                edge_index=_cpu(edge_index),
                cell_offsets=_cpu(offsets).long(),
                edge_distance=_cpu(graph["edge_distance"]),
                atomic_numbers=z,
                batch=batch,
                keys=keys.to("cpu"),
                gate=_cpu(gate) if keep_full_gate else None,
                gate_mean=_cpu(gate.mean(dim=1)),
                **_buckets(bb, keys, lookup),
            )
        )

    backbone._pamm_sinks.append(sink)
    try:
        yield cap
    finally:
        backbone._pamm_sinks.remove(sink)


@torch.no_grad()
def table_contents(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """CPU copies of the tables: {"pair": [H, M_pair, D], "triplet": [H, M_trip, D]}.

    Only the tables the mode has (none for ``mlp``, one for ``pair_only``/``triplet_only``).
    """
    memory = find_pamm_backbone(model).motif_memory
    if memory is None:
        raise ValueError("this PaMM backbone has mode='baseline': there are no tables")
    out = {}
    if memory.pair_table is not None:
        out["pair"] = memory.pair_table.detach().cpu().clone()
    if memory.triplet_table is not None:
        out["triplet"] = memory.triplet_table.detach().cpu().clone()
    return out
