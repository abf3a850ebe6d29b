"""Shared test fixtures: a fixed seed for every test, and tiny PaMM models/batches."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    """Seed python, numpy and torch so every test is reproducible on its own."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def tiny_batch():
    """A batch of two small random periodic crystals (AtomicData, otf graph)."""
    from pamm.testing import random_crystal
    from pamm.testing import tiny_batch as build

    rng = np.random.default_rng(1)
    return build([random_crystal(rng, n_atoms=4), random_crystal(rng, n_atoms=3)])
