"""Fusion of the memory vector m into the edge features x (identity at initialisation).

- ``GateFusion``:   x' = x + g ⊙ (W_v m),                 g = σ(W_g [x; m] + b_g)
- ``AffineFusion``: x' = (1 + W_γ m) ⊙ x + g ⊙ (W_v m)

W_v and W_γ are zero-initialised, so x' == x at step 0 and a pretrained backbone keeps
its predictions. Both return ``(x', g)``; the gate g [E, edge_dim] is the exposed signal.

>>> fusion = GateFusion(edge_dim=8, memory_dim=4)
>>> x, m = torch.randn(5, 8), torch.randn(5, 4)
>>> x_new, g = fusion(x, m)
>>> bool(torch.equal(x_new, x)), tuple(g.shape)
(True, (5, 8))
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["AffineFusion", "GateFusion", "build_fusion"]


class GateFusion(nn.Module):
    """x' = x + g ⊙ (W_v m), g = σ(W_g [x; m] + b_g); W_v zero-init."""

    def __init__(self, *, edge_dim: int, memory_dim: int) -> None:
        super().__init__()
        self.edge_dim = edge_dim
        self.memory_dim = memory_dim
        self.gate = nn.Linear(edge_dim + memory_dim, edge_dim)  # W_g, b_g
        self.value = nn.Linear(memory_dim, edge_dim, bias=False)  # W_v
        nn.init.zeros_(self.value.weight)

    def gate_values(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """g = σ(W_g [x; m] + b_g), [E, edge_dim]."""
        return torch.sigmoid(self.gate(torch.cat((x, m), dim=1)))  # [E, edge_dim]

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [E, edge_dim], m [E, memory_dim] -> (x' [E, edge_dim], g [E, edge_dim])."""
        g = self.gate_values(x, m)  # [E, edge_dim]
        return torch.addcmul(x, g, self.value(m)), g  # fused: no [E, edge_dim] temporary


class AffineFusion(GateFusion):
    """x' = (1 + W_γ m) ⊙ x + g ⊙ (W_v m); W_γ and W_v zero-init."""

    def __init__(self, *, edge_dim: int, memory_dim: int) -> None:
        super().__init__(edge_dim=edge_dim, memory_dim=memory_dim)
        self.scale = nn.Linear(memory_dim, edge_dim, bias=False)  # W_γ
        nn.init.zeros_(self.scale.weight)

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [E, edge_dim], m [E, memory_dim] -> (x' [E, edge_dim], g [E, edge_dim])."""
        g = self.gate_values(x, m)  # [E, edge_dim]
        scaled = torch.addcmul(x, self.scale(m), x)  # (1 + W_γ m) ⊙ x
        return torch.addcmul(scaled, g, self.value(m)), g


def build_fusion(kind: str, *, edge_dim: int, memory_dim: int) -> GateFusion:
    """``"gate"`` -> GateFusion, ``"affine"`` -> AffineFusion."""
    if kind == "gate":
        return GateFusion(edge_dim=edge_dim, memory_dim=memory_dim)
    if kind == "affine":
        return AffineFusion(edge_dim=edge_dim, memory_dim=memory_dim)
    raise ValueError(f"unknown fusion {kind!r}; expected 'gate' or 'affine'")
