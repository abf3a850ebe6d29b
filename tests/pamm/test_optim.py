"""The optimiser's table group: its learning rate, no decay, and the proximal row-L1 step."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
import torch

from pamm.optim import TableAdamW, adamw, mark_table
from pamm.train import training_overrides
from tests.pamm.test_train_cli import compose


def _table(rows: list[list[float]]) -> torch.nn.Parameter:
    return mark_table(torch.nn.Parameter(torch.tensor([rows], dtype=torch.float64)))  # [1, M, D]


def test_row_l1_is_the_group_soft_threshold_of_each_row() -> None:
    """With a zero gradient AdamW leaves a table alone; the proximal step then scales each
    row by max(0, 1 - lr λ / ‖row‖): rows shorter than lr λ become exactly zero."""
    table = _table([[3.0, 4.0], [0.03, 0.04], [0.0, 0.0]])  # norms 5, 0.05, 0
    before = table.detach().clone()
    opt = adamw([table], lr=0.1, table_lr_factor=2.0, table_row_l1=0.5)  # lr λ = 0.1
    table.grad = torch.zeros_like(table)
    opt.step()
    assert torch.allclose(table[0, 0], before[0, 0] * (1 - 0.1 / 5.0), rtol=0, atol=1e-15)
    assert torch.equal(table[0, 1:], torch.zeros(2, 2, dtype=torch.float64))


def test_row_l1_zeroes_unused_rows_and_keeps_the_fitted_one() -> None:
    """A loss on row 0 only: with λ > 0 the untouched rows go to exactly zero while row 0
    still fits its target (slightly shorter); with λ = 0 the untouched rows stay as they were.

    (Under Adam the fixed point is not the lasso optimum target · (1 − λ/‖target‖): the
    shrink of lr λ per step meets Adam's normalised steps, not the gradient's metric.)"""
    target = torch.tensor([1.0, -2.0], dtype=torch.float64)
    results = {}
    for strength in (0.0, 0.1):
        torch.manual_seed(0)
        table = _table((0.5 * torch.randn(3, 2)).tolist())
        start = table.detach().clone()
        opt = adamw([table], lr=0.05, table_row_l1=strength)
        for _ in range(400):
            opt.zero_grad()
            loss = 0.5 * ((table[0, 0] - target) ** 2).sum()
            loss.backward()
            opt.step()
        results[strength] = (table.detach(), start)
    plain, start = results[0.0]
    assert torch.equal(plain[0, 1:], start[0, 1:])
    assert torch.allclose(plain[0, 0], target, atol=1e-3)
    sparse, _ = results[0.1]
    assert torch.equal(sparse[0, 1:], torch.zeros(2, 2, dtype=torch.float64))
    assert torch.allclose(sparse[0, 0], target, atol=0.05)
    assert sparse[0, 0].norm() < plain[0, 0].norm()


def test_groups_and_validation() -> None:
    table, plain = _table([[1.0]]), torch.nn.Parameter(torch.zeros(2))
    opt = adamw([plain, table], lr=1e-3, weight_decay=0.01, table_lr_factor=10, table_row_l1=0.2)
    assert isinstance(opt, TableAdamW)
    (g_plain, g_table) = opt.param_groups
    assert g_plain["weight_decay"] == 0.01 and "row_l1" not in g_plain
    assert (g_table["lr"], g_table["weight_decay"], g_table["row_l1"]) == (1e-2, 0.0, 0.2)
    assert "row_l1" not in adamw([table], lr=1e-3).param_groups[0]  # off by default
    with pytest.raises(ValueError, match="table_row_l1 must be >= 0"):
        adamw([table], lr=1e-3, table_row_l1=-1.0)
    with pytest.raises(ValueError, match="table_lr_factor must be > 0"):
        adamw([table], lr=1e-3, table_lr_factor=0.0)


def test_the_config_passes_table_row_l1_to_the_optimiser(tmp_path: Path) -> None:
    overrides = training_overrides(data_dir=tmp_path, run_dir=tmp_path / "runs", steps=10)
    table = _table([[1.0]])
    for extra, expected in (([], None), (["table_row_l1=0.3"], 0.3)):
        unit = compose("gate", [*overrides, *extra]).runner.train_eval_unit
        opt = hydra.utils.instantiate(unit.optimizer_fn)(params=[table])
        assert opt.param_groups[-1].get("row_l1") == expected
