"""PaMM (Periodic Motif Memory) on fairchem's eSCN-MD: the training core.

Light to import: every public name loads on first use (PEP 562), so ``import pamm``
(or ``pamm.plumbing``, which the dashboard imports on every page) pulls in neither
torch nor fairchem; ``from pamm import X`` works as usual.

>>> import pamm
>>> pamm.MotifMemorySpec().n_angle_bins
18
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "AffineFusion",
    "GateFusion",
    "MotifKeys",
    "MotifMemory",
    "MotifMemorySpec",
    "PaMMBackbone",
    "PaMMMoeBackbone",
    "attach_pamm",
    "blend_lookups",
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
    "MotifKeys": "pamm.keys",
    "MotifMemorySpec": "pamm.spec",
    "extract_motifs": "pamm.keys",
    "blend_lookups": "pamm.blend",
    "hash_numpy": "pamm.hashing",
    "hash_params": "pamm.hashing",
    "hash_torch": "pamm.hashing",
    "pack_pair_key": "pamm.keys",
    "pack_triplet_key": "pamm.keys",
    "unpack_pair_key": "pamm.keys",
    "unpack_triplet_key": "pamm.keys",
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
    """Import the submodule holding ``name`` on first access and cache the value."""
    if name not in _LAZY:
        raise AttributeError(f"module 'pamm' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
