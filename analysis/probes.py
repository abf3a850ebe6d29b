"""Causal probes of the motif memory: ablation effects, attribution, reliance, gate vs effect.

One import point for the probes, implemented one concept per module:

- ``analysis.ablation_effects``: exact effect of an ablation per structure
  (``ablation_effect``), and unablated predictions shared by many ablations
  (``predict`` -> ``Predictions``, ``predict_batch``);
- ``analysis.attribution``: first-order attribution of every occupied bucket at once
  (``bucket_attribution``, ``bucket_effects``) and its check against exact ablation
  (``attribution_agreement``);
- ``analysis.reliance``: memory / table switched off per family and element
  (``memory_reliance``, ``reliance_summary``), ``gate_vs_effect``, and ``probe_run`` /
  ``probe_structures`` (everything the Interventions page shows);
- ``analysis.probe_artifacts``: the optional run-directory artifact of ``probe_run``
  (``write_probes``, ``load_probes``), written by ``pamm analyze --probes N``.

Units: energies in meV/atom (ΔE_s / N_s), forces in meV/Å. See docs/PROBES.md.

>>> from analysis.probes import bucket_attribution, probe_run
>>> bucket_attribution.__module__, probe_run.__module__
('analysis.attribution', 'analysis.reliance')
"""

from __future__ import annotations

from analysis.ablation_effects import Predictions, ablation_effect, predict, predict_batch
from analysis.attribution import attribution_agreement, bucket_attribution, bucket_effects
from analysis.reliance import (
    gate_vs_effect,
    memory_reliance,
    probe_run,
    probe_structures,
    reliance_summary,
)

__all__ = [
    "Predictions",
    "ablation_effect",
    "attribution_agreement",
    "bucket_attribution",
    "bucket_effects",
    "gate_vs_effect",
    "memory_reliance",
    "predict",
    "predict_batch",
    "probe_run",
    "probe_structures",
    "reliance_summary",
]
