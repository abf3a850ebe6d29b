"""PaMM (Periodic Motif Memory) on fairchem's eSCN-MD: the training core.

Light to import: the spec, key packing and hashing are loaded eagerly (numpy/torch
only); the fairchem-dependent parts (backbones, capture, checkpoints) load on first use.

>>> import pamm
>>> pamm.MotifMemorySpec().n_angle_bins
18
"""

from __future__ import annotations

import importlib
from typing import Any

from pamm.hashing import hash_numpy, hash_params, hash_torch
from pamm.keys import (
    MotifKeys,
    extract_motifs,
    pack_pair_key,
    pack_triplet_key,
    unpack_pair_key,
    unpack_triplet_key,
)
from pamm.spec import MotifMemorySpec

__all__ = [
    "AffineFusion",
    "GateFusion",
    "MotifKeys",
    "MotifMemory",
    "MotifMemorySpec",
    "PaMMBackbone",
    "PaMMMoeBackbone",
    "attach_pamm",
    "capture",
    "extract_motifs",
    "hash_numpy",
    "hash_params",
    "hash_torch",
    "load_pamm_model",
    "pack_pair_key",
    "pack_triplet_key",
    "table_contents",
    "unpack_pair_key",
    "unpack_triplet_key",
]

#: lazily imported names -> their module
_LAZY = {
    "AffineFusion": "pamm.fusion",
    "GateFusion": "pamm.fusion",
    "MotifMemory": "pamm.memory",
    "PaMMBackbone": "pamm.backbone",
    "PaMMMoeBackbone": "pamm.backbone",
    "attach_pamm": "pamm.checkpoint",
    "load_pamm_model": "pamm.checkpoint",
    "capture": "pamm.capture",
    "table_contents": "pamm.capture",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pamm' has no attribute {name!r}")
