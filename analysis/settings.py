"""``AnalysisSettings``: every knob of ``run_analysis`` in one frozen, validated value.

Recorded in the run's manifest (``manifest["settings"]``); the census fingerprint uses
:meth:`AnalysisSettings.census_part`, the statistics fingerprint the rest.

>>> s = AnalysisSettings(max_per_family=40, probe_structures=24)
>>> AnalysisSettings.from_dict(s.to_dict()) == s
True
>>> AnalysisSettings(embedding="tsne")
Traceback (most recent call last):
...
ValueError: embedding='tsne' is not one of ('auto', 'umap', 'pca')
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from pamm.data.families import HELDOUT_FAMILIES

__all__ = ["EMBEDDINGS", "AnalysisSettings"]

EMBEDDINGS = ("auto", "umap", "pca")


@dataclass(frozen=True, kw_only=True)
class AnalysisSettings:
    """Settings of an analysis run.

    ``max_per_family``: structures per family analysed (None: all); ``batch_size``:
    structures per forward; ``reservoir``: example occurrences kept per motif;
    ``heldout``: families treated as held out; ``embedding`` / ``max_embedding_points``:
    the 2-D map of table rows; ``latent_structures``: structures of the GFRE/LFRE
    comparison (with a baseline); ``probe_structures`` > 0 stores the causal probes of
    that many structures, with ``probe_replace`` and ``probe_top_k``.
    """

    max_per_family: int | None = 100
    batch_size: int = 16
    reservoir: int = 8
    heldout: tuple[str, ...] = HELDOUT_FAMILIES
    embedding: str = "auto"
    max_embedding_points: int = 2000
    latent_structures: int = 64
    probe_structures: int = 0
    probe_replace: str = "zero"
    probe_top_k: int = 10

    def __post_init__(self) -> None:
        object.__setattr__(self, "heldout", tuple(self.heldout))
        if self.max_per_family is not None and self.max_per_family < 1:
            raise ValueError(f"max_per_family must be >= 1 or None, got {self.max_per_family}")
        for name in ("batch_size", "reservoir", "max_embedding_points", "latent_structures",
                     "probe_top_k"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.probe_structures < 0:
            raise ValueError(f"probe_structures must be >= 0, got {self.probe_structures}")
        if self.embedding not in EMBEDDINGS:
            raise ValueError(f"embedding={self.embedding!r} is not one of {EMBEDDINGS}")
        if self.probe_replace not in ("zero", "mean"):
            raise ValueError(f"probe_replace={self.probe_replace!r} is not 'zero' or 'mean'")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (``heldout`` as a list)."""
        return {**asdict(self), "heldout": list(self.heldout)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnalysisSettings:
        """Inverse of :meth:`to_dict`; other keys (e.g. a manifest's) are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def census_part(self) -> dict[str, Any]:
        """The settings the census depends on (its fingerprint)."""
        return {"max_per_family": self.max_per_family, "reservoir": self.reservoir}
