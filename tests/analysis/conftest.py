"""Fixtures of the analysis tests: synthetic occurrences and censuses (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.census import FAMILY_NAMES, CensusBuilder
from pamm.keys import pack_pair_key, pack_triplet_key


@pytest.fixture(autouse=True)
def _seed() -> None:
    np.random.seed(0)


def synthetic_occurrences(n: int, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Random pair and triplet occurrences over a few elements, families and structures."""
    rng = np.random.default_rng(seed)
    z = np.array([1, 8, 14, 26])
    fam = rng.choice([0, 4, 8, len(FAMILY_NAMES) - 1], size=n)
    structure = rng.integers(0, 50, n)
    out = {
        "pair": {
            "keys": pack_pair_key(rng.choice(z, n), rng.choice(z, n), rng.integers(0, 60, n)),
            "family": fam,
            "gate": rng.random(n),
            "structure": structure,
            "centre": rng.integers(0, 20, n),
            "neighbour": rng.integers(0, 20, n),
            "offset_j": rng.integers(-1, 2, (n, 3)),
        },
        "triplet": {
            "keys": pack_triplet_key(
                rng.choice(z, n), rng.choice(z, n), rng.choice(z, n), rng.integers(0, 18, n)
            ),
            "family": fam,
            "gate": rng.random(n),
            "structure": structure,
            "centre": rng.integers(0, 20, n),
            "neighbour": rng.integers(0, 20, n),
            "partner": rng.integers(0, 20, n),
            "offset_j": rng.integers(-1, 2, (n, 3)),
            "offset_k": rng.integers(-1, 2, (n, 3)),
        },
    }
    return out


def build_census(occ, idx=None, *, reservoir=4, compact_every=2_000_000):
    """Census of the occurrences selected by ``idx`` (all by default)."""
    b = CensusBuilder(reservoir=reservoir, compact_every=compact_every)
    for table, cols in occ.items():
        sel = slice(None) if idx is None else idx
        b.add(table, **{k: None if v is None else v[sel] for k, v in cols.items()})
    return b.finish()


@pytest.fixture
def occurrences():
    return synthetic_occurrences(3000)


def tiny_checkpoint(path, pamm=None):
    """A tiny random-init PaMM checkpoint (memory randomised so gates vary), saved safely."""
    import torch
    from fairchem.core.units.mlip_unit.api.inference import MLIPInferenceCheckpoint

    from pamm.checkpoint import build_model, save_checkpoint
    from pamm.testing import TINY_BACKBONE, randomize_memory

    spec = pamm or {"mode": "pamm", "pair_buckets": 64, "triplet_buckets": 128}
    config = {
        "_target_": "fairchem.core.models.base.HydraModel",
        "backbone": {"model": "pamm.backbone.PaMMBackbone", **TINY_BACKBONE, "pamm": spec},
        "heads": {"efs": {"module": "fairchem.core.models.uma.escn_md.MLP_EFS_Head"}},
    }
    ckpt = MLIPInferenceCheckpoint(
        model_config=config, model_state_dict={}, ema_state_dict={}, tasks_config={}
    )
    model = build_model(ckpt, strict=False)
    randomize_memory(model)
    ckpt.model_state_dict = model.state_dict()
    ckpt.ema_state_dict = torch.optim.swa_utils.AveragedModel(model).state_dict()
    return save_checkpoint(ckpt, path), ckpt
