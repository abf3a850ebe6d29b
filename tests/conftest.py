"""Shared test fixtures: a fixed seed for every test, tiny PaMM models, batches, datasets.

Helpers shared by several test modules live here as fixtures (test modules never import
each other).
"""

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


#: families of the tiny dataset
TINY_FAMILIES = ("rattled-300", "rattled-relax", "aimd-from-PBE-3000-nvt")


def _tiny_dataset(path, n=12, seed=0):
    """``n`` random 4-atom crystals in three families, written as extxyz to ``path``."""
    from ase.io import write

    from pamm.testing import random_crystal

    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n):
        atoms = random_crystal(rng, n_atoms=4)
        atoms.info["family"] = TINY_FAMILIES[k % len(TINY_FAMILIES)]
        atoms.info["sid"] = f"tiny-{k}"
        frames.append(atoms)
    write(path, frames, format="extxyz")
    return path


def _memory_model(mode="pamm"):
    """A tiny PaMM model of ``mode`` with randomised memory rows (so gates vary)."""
    from pamm.testing import randomize_memory, tiny_model

    model = tiny_model({"mode": mode, "pair_buckets": 64, "triplet_buckets": 128})
    if mode != "baseline":
        randomize_memory(model, seed=1)
    return model


@pytest.fixture(scope="session")
def tiny_dataset():
    """``tiny_dataset(path, n=12, seed=0)`` writes a small extxyz dataset, returns ``path``."""
    return _tiny_dataset


@pytest.fixture(scope="session")
def memory_model():
    """``memory_model(mode="pamm")``: a tiny model with randomised memory."""
    return _memory_model
