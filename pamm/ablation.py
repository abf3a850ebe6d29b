"""Ablation of the motif memory at inference: switch parts off inside a ``with`` block.

An ``Ablation`` names what to switch off:

- ``bucket``: one row ``(table, head, bucket)``; every lookup of that row (any key) sees
  the replacement instead, in that head only;
- ``motif``: one motif key of ``table``; every lookup *of that key* (all heads) sees the
  replacement, other keys hashed to the same rows are untouched;
- ``table``: every lookup of ``table`` (all heads);
- ``memory``: the fusion returns x unchanged (x' = x, the plain backbone).

The replacement is ``"zero"`` (a zero row) or ``"mean"`` (the mean of that head's rows of
the table, all M rows). No weights are copied or written: ``ablate`` sets the memory's
documented ``row_edit`` attribute (``pamm.memory.MotifMemory``) and, for ``memory``, a
forward hook on the fusion; both are removed on exit, also after an exception. A row no
lookup uses changes nothing, bitwise. A triplet replacement enters the per-edge mean
over partners (hard lookups) or the weighted sum (smooth lookups, ``pamm.blend``) like the
row it replaces; smooth lookups pass both rows read per edge / triplet through ``row_edit``.

>>> from pamm.testing import tiny_model
>>> model = tiny_model({"pair_buckets": 64, "triplet_buckets": 128})
>>> with ablate(model, Ablation("bucket", table="pair", head=0, bucket=3)):
...     model.backbone.motif_memory.row_edit is not None
True
>>> model.backbone.motif_memory.row_edit is None
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from pamm.capture import find_pamm_backbone

__all__ = ["KINDS", "REPLACEMENTS", "Ablation", "ablate", "replacement_rows"]

KINDS = ("bucket", "motif", "table", "memory")
REPLACEMENTS = ("zero", "mean")
TABLES = ("pair", "triplet")

RowEdit = Callable[[str, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Ablation:
    """What to switch off (see the module docstring); validated on construction.

    >>> Ablation("motif", table="triplet", key=123, replace="mean").kind
    'motif'
    """

    kind: str
    table: str | None = None
    head: int | None = None
    bucket: int | None = None
    key: int | None = None
    replace: str = "zero"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"ablation kind {self.kind!r} is not one of {KINDS}")
        if self.replace not in REPLACEMENTS:
            raise ValueError(f"ablation replace={self.replace!r} is not one of {REPLACEMENTS}")
        if self.kind == "memory":
            if self.replace != "zero":
                raise ValueError("a 'memory' ablation is the identity fusion: use replace='zero'")
            return
        if self.table not in TABLES:
            raise ValueError(f"ablation table={self.table!r} must be one of {TABLES}")
        if self.kind == "bucket" and (self.head is None or self.bucket is None):
            raise ValueError("a 'bucket' ablation needs head and bucket")
        if self.kind == "motif" and self.key is None:
            raise ValueError("a 'motif' ablation needs key (the packed motif key)")

    def check(self, memory: torch.nn.Module) -> None:
        """Raise ValueError if the ablation does not fit ``memory`` (table, head, bucket)."""
        if self.kind == "memory":
            return
        table = getattr(memory, f"{self.table}_table", None)
        if table is None:
            raise ValueError(f"the memory (mode={memory.spec.mode!r}) has no {self.table} table")
        heads, rows, _ = table.shape
        if self.kind == "bucket" and not (0 <= self.head < heads and 0 <= self.bucket < rows):
            raise ValueError(
                f"bucket ablation ({self.table}, head={self.head}, bucket={self.bucket}) is "
                f"outside the table [{heads} heads, {rows} rows]"
            )


@torch.no_grad()
def replacement_rows(table: torch.Tensor, replace: str) -> torch.Tensor:
    """Replacement row per head [H, D] of ``table`` [H, M, D]: zeros or the mean row."""
    if replace == "zero":
        return table.new_zeros(table.shape[0], table.shape[2])  # [H, D]
    return table.detach().mean(dim=1)  # [H, D]


def _row_edit(ablations: list[Ablation], memory: torch.nn.Module) -> RowEdit:
    """The ``row_edit`` callback applying the row-level ablations."""

    def edit(table: str, rows: torch.Tensor, bucket: torch.Tensor, key: torch.Tensor):
        n, heads = bucket.shape
        out = rows.reshape(n, heads, -1)  # [N, H, D]
        for ab in ablations:
            if ab.table != table:
                continue
            repl = replacement_rows(getattr(memory, f"{table}_table"), ab.replace)  # [H, D]
            repl = repl.to(out.dtype)
            if ab.kind == "bucket":
                mask = torch.zeros_like(bucket, dtype=torch.bool)  # [N, H]
                mask[:, ab.head] = bucket[:, ab.head] == ab.bucket
            elif ab.kind == "motif":
                mask = (key == ab.key).unsqueeze(1).expand(n, heads)  # [N, H]
            else:  # table
                mask = torch.ones_like(bucket, dtype=torch.bool)  # [N, H]
            out = torch.where(mask.unsqueeze(2), repl.unsqueeze(0), out)  # [N, H, D]
        return out.reshape(rows.shape)

    return edit


@contextmanager
def ablate(model: torch.nn.Module, *ablations: Ablation) -> Iterator[list[Ablation]]:
    """Switch ``ablations`` off in ``model`` (HydraModel or PaMM backbone) inside the block.

    Nests: an inner block adds to an outer one's ablations; each exit restores the state
    it found. Yields the list of active ablations of this block.
    """
    backbone = find_pamm_backbone(model)
    memory, fusion = backbone.motif_memory, backbone.motif_fusion
    if memory is None:
        raise ValueError("this PaMM backbone has mode='baseline': there is nothing to ablate")
    for ab in ablations:
        if not isinstance(ab, Ablation):
            raise TypeError(f"ablate() takes Ablation objects, got {type(ab).__name__}")
        ab.check(memory)
    row_level = [ab for ab in ablations if ab.kind != "memory"]
    previous = memory.row_edit
    handle = None
    try:
        if row_level:
            edit = _row_edit(row_level, memory)
            if previous is None:
                memory.row_edit = edit
            else:  # nested: apply the outer edit first

                def chained(table, rows, bucket, key):
                    return edit(table, previous(table, rows, bucket, key), bucket, key)

                memory.row_edit = chained
        if any(ab.kind == "memory" for ab in ablations):
            handle = fusion.register_forward_hook(lambda _mod, args, out: (args[0], out[1]))
        yield list(ablations)
    finally:
        memory.row_edit = previous
        if handle is not None:
            handle.remove()
