"""``pamm.bag``: fused weighted bag sums against a plain reference, to second order."""

from __future__ import annotations

import pytest
import torch

from pamm.bag import Bags, bag_dot, bag_scatter, bag_sum


def _layout(seed: int, rows: int = 12, bags: int = 6, slots: int = 30):
    g = torch.Generator().manual_seed(seed)
    index = torch.randint(0, rows, (slots,), generator=g)
    bag = torch.sort(torch.randint(0, bags - 1, (slots,), generator=g)).values
    bag += bag >= bags // 2  # bag bags // 2 stays empty
    return index, bag, Bags.of(index, bag, bags), g


def _reference_sum(table, weight, index, bag, n_bags):
    rows = table.index_select(0, index) * weight.unsqueeze(1)
    return table.new_zeros(n_bags, table.shape[1]).index_add(0, bag, rows)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bag_sum_matches_the_gather_and_its_gradients(seed):
    index, bag, bags, g = _layout(seed)
    table = torch.randn(12, 5, generator=g, dtype=torch.float64, requires_grad=True)
    weight = torch.rand(index.shape[0], generator=g, dtype=torch.float64, requires_grad=True)
    probe = torch.randn(6, 5, generator=g, dtype=torch.float64)
    assert 0 in torch.bincount(bag, minlength=6)  # an empty bag is exercised

    def loss(fn):
        out = fn(table, weight)
        (dw,) = torch.autograd.grad((out * probe).sum(), weight, create_graph=True)
        total = (out * probe).sum() + (dw * dw).sum()  # first and second order, as in training
        return [out, dw, *torch.autograd.grad(total, (table, weight))]

    fused = loss(lambda t, w: bag_sum(t, w, bags))
    plain = loss(lambda t, w: _reference_sum(t, w, index, bag, 6))
    for a, b in zip(fused, plain, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_the_three_functions_pass_gradcheck_and_gradgradcheck():
    _, _, bags, g = _layout(5, rows=7, bags=4, slots=11)
    table = torch.randn(7, 3, generator=g, dtype=torch.float64, requires_grad=True)
    weight = torch.rand(11, generator=g, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    cases = [
        (lambda t, w: bag_sum(t, w, bags), (table, weight)),
        (lambda gr, t: bag_dot(gr, t, bags), (grad, table)),
        (lambda gr, w: bag_scatter(gr, w, bags, 7), (grad, weight)),
    ]
    for fn, inputs in cases:
        assert torch.autograd.gradcheck(fn, inputs)
        assert torch.autograd.gradgradcheck(fn, inputs)


def test_scatter_and_dot_equal_their_definitions():
    index, bag, bags, g = _layout(9)
    grad = torch.randn(6, 4, generator=g, dtype=torch.float64)
    table = torch.randn(12, 4, generator=g, dtype=torch.float64)
    weight = torch.rand(index.shape[0], generator=g, dtype=torch.float64)
    scattered = torch.zeros(12, 4, dtype=torch.float64)
    for s in range(index.shape[0]):
        scattered[index[s]] += weight[s] * grad[bag[s]]
    torch.testing.assert_close(bag_scatter(grad, weight, bags, 12), scattered)
    dots = torch.stack([grad[bag[s]] @ table[index[s]] for s in range(index.shape[0])])
    torch.testing.assert_close(bag_dot(grad, table, bags), dots)


def test_empty_layout_gives_empty_and_zero_results():
    empty = torch.zeros(0, dtype=torch.long)
    bags = Bags.of(empty, empty, 3)
    table = torch.randn(4, 2, requires_grad=True)
    out = bag_sum(table, torch.zeros(0), bags)
    assert out.shape == (3, 2) and not out.any()
    out.sum().backward()
    assert table.grad is not None and not table.grad.any()
