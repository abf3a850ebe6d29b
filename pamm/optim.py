"""The optimiser of ``pamm/configs``: AdamW with the motif tables in a group of their own.

Table rows are sparse parameters (an embedding: a step touches only the rows its batch
hit), so they get their own learning rate, ``lr * table_lr_factor``, and no weight decay
(decoupled decay would shrink every row each step, hit or not). Everything else is plain
AdamW.

fairchem's ``MLIPTrainEvalUnit`` calls the hydra partial with ``params=``::

    optimizer_fn:
      _target_: pamm.optim.adamw
      _partial_: true
      lr: ${lr}
      weight_decay: ${weight_decay}
      table_lr_factor: ${table_lr_factor}
      table_row_l1: ${table_row_l1}

``table_row_l1`` (λ, default 0 = off) adds a group-L1 penalty λ Σ ‖row‖ over the rows of
every head, applied as its proximal step after each update: row ← row · max(0, 1 − lr λ /
‖row‖) with the table group's current lr. It prefers few non-zero rows (a lasso over
motifs); unlike decay it also shrinks rows a batch did not hit, so rows nothing uses go to
exactly zero. The shrink acts in plain coordinates after Adam's normalised step, so a used
row's fixed point is not the exact lasso optimum (it shrinks less). Tried for the planted
triplet check: it moves the planted rows up the ranking but does not gather the planted
term in them (docs/PLANTED.md).

>>> from pamm.memory import MotifMemory
>>> from pamm.spec import MotifMemorySpec
>>> mem = MotifMemory(MotifMemorySpec(pair_buckets=8, triplet_buckets=8), edge_dim=4)
>>> opt = adamw(params=[*mem.parameters(), torch.nn.Parameter(torch.zeros(2))],
...             lr=1e-3, weight_decay=0.01, table_lr_factor=10.0)
>>> [(len(g["params"]), g["lr"], g["weight_decay"]) for g in opt.param_groups]
[(1, 0.001, 0.01), (2, 0.01, 0.0)]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

__all__ = ["TABLE_ATTR", "TableAdamW", "adamw", "mark_table"]

#: attribute set on the table parameters (:func:`mark_table`)
TABLE_ATTR = "_pamm_table"


def mark_table(param: torch.nn.Parameter) -> torch.nn.Parameter:
    """Mark ``param`` as a motif table (its own optimiser group); returns it."""
    setattr(param, TABLE_ATTR, True)
    return param


class TableAdamW(torch.optim.AdamW):
    """AdamW with the proximal group-L1 step of a group's ``row_l1`` (module docstring).

    A group's parameters are tables [H, M, D]: a row is the last dimension.
    """

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = super().step(closure)
        for group in self.param_groups:
            strength = group.get("row_l1", 0.0)
            if strength > 0:
                for table in group["params"]:
                    norm = table.norm(dim=-1, keepdim=True)  # [H, M, 1]
                    table.mul_((1.0 - group["lr"] * strength / norm.clamp_min(1e-30)).clamp_min(0))
        return loss


def adamw(
    params: Iterable[Any],
    *,
    lr: float,
    weight_decay: float = 0.0,
    table_lr_factor: float = 1.0,
    table_row_l1: float = 0.0,
    **kwargs: Any,
) -> torch.optim.AdamW:
    """AdamW; marked table parameters go to a group with ``lr * table_lr_factor``, no decay,
    and the proximal group-L1 step of strength ``table_row_l1`` (0 = off).

    ``params``: tensors, or groups (dicts with ``"params"``, as fairchem passes when a
    model lists parameters without weight decay); each group is split the same way.
    """
    if not table_lr_factor > 0:
        raise ValueError(f"table_lr_factor must be > 0, got {table_lr_factor}")
    if not table_row_l1 >= 0:
        raise ValueError(f"table_row_l1 must be >= 0, got {table_row_l1}")
    items = list(params)
    groups = items if items and isinstance(items[0], dict) else [{"params": items}]
    out, tables = [], []
    for group in groups:
        plain = [p for p in group["params"] if not getattr(p, TABLE_ATTR, False)]
        tables += [p for p in group["params"] if getattr(p, TABLE_ATTR, False)]
        if plain:
            out.append({**group, "params": plain})
    if tables:
        group = {"params": tables, "lr": lr * table_lr_factor, "weight_decay": 0.0}
        out.append(group | ({"row_l1": table_row_l1} if table_row_l1 > 0 else {}))
    return TableAdamW(out, lr=lr, weight_decay=weight_decay, **kwargs)
