"""Run the analysed checkpoint on one uploaded structure and tabulate what fires per edge.

One forward pass under ``pamm.capture``: energy, forces (and stress) from the model's
heads; per edge j→i its pair motif, bucket per head and mean gate; per triplet its
motif and buckets. Labels come from ``analysis.motif_labels``; nothing is re-hashed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from ase import Atoms

__all__ = ["Prediction", "predict_structure"]


@dataclass(frozen=True)
class Prediction:
    """Model outputs and per-edge / per-triplet memory usage of one structure."""

    energy: float
    forces: np.ndarray  # (N, 3) eV/Å
    stress: np.ndarray | None  # (9,) or None
    edges: pd.DataFrame  # one row per edge j -> i
    triplets: pd.DataFrame  # one row per ordered triplet (j, i, k)


def predict_structure(model: torch.nn.Module, atoms: Atoms) -> Prediction:
    """Energy/forces and the motifs, buckets and gates of every edge of ``atoms``."""
    from analysis import motif_labels
    from analysis.ablation_effects import head_outputs
    from pamm.capture import capture
    from pamm.plumbing import atoms_to_batch

    backbone = getattr(model, "backbone", model)
    spec = backbone.pamm_spec
    model.eval()
    with capture(model) as cap:
        out = model(atoms_to_batch([atoms]))
    efs = head_outputs(out)  # nested under "efs", or flat for fairchem-trained checkpoints
    energy = float(efs["energy"]["energy"].detach().reshape(-1)[0])
    forces = efs["forces"]["forces"].detach().cpu().numpy()  # (N, 3)
    stress = efs["stress"]["stress"].detach().cpu().numpy().reshape(-1) if "stress" in efs else None
    rec = cap.records[-1]
    keys = rec.keys
    ei = rec.edge_index.detach().cpu().numpy()  # (2, E)
    edges = motif_labels("pair", keys.pair_key.cpu().numpy(), spec)[["key", "label"]]
    edges.insert(0, "i", ei[1])
    edges.insert(0, "j", ei[0])
    edges["distance"] = rec.edge_distance.detach().cpu().numpy()
    offsets = rec.cell_offsets.detach().cpu().numpy().round().astype(int)  # (E, 3)
    edges["offset"] = [tuple(o) for o in offsets]
    if rec.pair_bucket is not None:
        for h, col in enumerate(rec.pair_bucket.cpu().numpy().T):
            edges[f"bucket_{h}"] = col
    if rec.gate_mean is not None:
        edges["gate_mean"] = rec.gate_mean.detach().float().cpu().numpy()
    te = keys.triplet_edge.cpu().numpy()  # (T,)
    tp = keys.triplet_partner.cpu().numpy()  # (T,)
    edges["triplets"] = np.bincount(te, minlength=len(edges))
    triplets = motif_labels("triplet", keys.triplet_key.cpu().numpy(), spec)[["key", "label"]]
    triplets.insert(0, "k", ei[0][tp])
    triplets.insert(0, "i", ei[1][te])
    triplets.insert(0, "j", ei[0][te])
    triplets.insert(0, "edge", te)
    if rec.triplet_bucket is not None:
        for h, col in enumerate(rec.triplet_bucket.cpu().numpy().T):
            triplets[f"bucket_{h}"] = col
    return Prediction(energy, forces, stress, edges, triplets)
