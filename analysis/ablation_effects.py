"""Exact ablation effects: predictions with and without an ablation, per structure.

Units: energies in meV/atom (ΔE_s / N_s), forces in meV/Å. For structure s and an
ablation A (``pamm.ablation``), the exact effect is ``ΔE_s = E_s(A) - E_s``; the force
effects are the mean per-atom ``|F_a(A) - F_a|`` and the change of the RMS force
``sqrt(mean_a |F_a|²)``. Both forward passes use the same seed (eSCN-MD draws random
roll angles), so an ablation that never fires gives exactly 0.

>>> batch_ranges(5, 2)
[range(0, 2), range(2, 4), range(4, 5)]
>>> rank_correlation(np.array([1.0, 2.0, 3.0]), np.array([10.0, 30.0, 20.0]))
0.5
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from ase import Atoms
from scipy.stats import spearmanr

from pamm.ablation import Ablation, ablate
from pamm.capture import find_pamm_backbone
from pamm.plumbing import atoms_to_batch

__all__ = [
    "MEV",
    "Predictions",
    "Progress",
    "ablation_effect",
    "batch_ranges",
    "head_outputs",
    "predict",
    "predict_batch",
    "rank_correlation",
]

#: ``progress(fraction in [0, 1], message)`` callback.
Progress = Callable[[float, str], None]

MEV = 1000.0


def batch_ranges(n: int, size: int) -> list[range]:
    """Consecutive index ranges of at most ``size`` covering ``range(n)``."""
    if size < 1:
        raise ValueError(f"batch_size must be >= 1, got {size}")
    return [range(i, min(i + size, n)) for i in range(0, n, size)]


def head_outputs(out: dict) -> dict:
    """The energy/forces outputs of a HydraModel forward, nested under the head or not.

    fairchem nests them under the head name (``out["efs"]["energy"]["energy"]``) unless
    the checkpoint passes head outputs through (``out["energy"]["energy"]``; trained
    ``fairchem -c`` checkpoints do).

    >>> head_outputs({"efs": {"energy": 1}}), head_outputs({"energy": 1, "forces": 2})
    ({'energy': 1}, {'energy': 1, 'forces': 2})
    """
    if "energy" in out:
        return out
    heads = [v for v in out.values() if isinstance(v, dict) and "energy" in v]
    if len(heads) != 1:
        raise ValueError(f"expected one energy head in the model outputs, got keys {list(out)}")
    return heads[0]


def predict_batch(
    model: torch.nn.Module, atoms_list: Sequence[Atoms], *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(energy [S] eV, forces [N, 3] eV/Å) of one batch; ``seed`` fixes eSCN's roll angles."""
    find_pamm_backbone(model)  # a clear error for a model without PaMM
    torch.manual_seed(seed)
    efs = head_outputs(model(atoms_to_batch(atoms_list)))
    energy = efs["energy"]["energy"].detach().double().cpu().numpy().reshape(-1)
    return energy, efs["forces"]["forces"].detach().double().cpu().numpy()


@dataclass(frozen=True)
class Predictions:
    """Unablated predictions of a structure list: ``energy`` [S] eV, ``forces`` [N, 3] eV/Å.

    ``forces`` stacks the structures' atoms in list order. Built by :func:`predict`; pass
    it as ``ablation_effect(..., reference=)`` to skip the unablated forward passes.
    """

    energy: np.ndarray
    forces: np.ndarray
    natoms: np.ndarray

    def take(self, indices: Sequence[int]) -> Predictions:
        """The predictions of ``indices`` (in that order)."""
        starts = np.concatenate([[0], np.cumsum(self.natoms)])
        idx = [int(i) for i in indices]
        forces = [self.forces[starts[i] : starts[i + 1]] for i in idx]
        return Predictions(
            self.energy[idx], np.concatenate(forces) if forces else self.forces[:0],
            self.natoms[idx],
        )  # fmt: skip


def predict(
    model: torch.nn.Module, atoms_list: Sequence[Atoms], *, batch_size: int = 8, seed: int = 0
) -> Predictions:
    """Unablated predictions of ``atoms_list``, in batches of ``batch_size``.

    With the ``batch_size`` and ``seed`` of a later ``ablation_effect`` on the same list the
    batches are identical, so effects equal the paired computation bitwise (an ablation
    that never fires still gives exactly 0). Other batchings draw other eSCN roll angles:
    effects then carry float noise of ~1e-5 meV/atom.
    """
    energy, forces = [], []
    for chunk in batch_ranges(len(atoms_list), batch_size):
        e, f = predict_batch(model, [atoms_list[i] for i in chunk], seed=seed)
        energy.append(e)
        forces.append(f)
    natoms = np.array([len(a) for a in atoms_list], dtype=np.int64)
    if not energy:
        return Predictions(np.zeros(0), np.zeros((0, 3)), natoms)
    return Predictions(np.concatenate(energy), np.concatenate(forces), natoms)


def _rms(forces: np.ndarray, splits: np.ndarray) -> np.ndarray:
    return np.array([np.sqrt((f**2).sum(1).mean()) for f in np.split(forces, splits)])


def _check_reference(reference: Predictions | None, atoms_list: Sequence[Atoms]) -> None:
    if reference is not None and not np.array_equal(reference.natoms, [len(a) for a in atoms_list]):
        raise ValueError(
            f"reference holds {len(reference.natoms)} structures with other atom counts than "
            f"atoms_list ({len(atoms_list)} structures): build it with predict(model, atoms_list)"
        )


def ablation_effect(
    model: torch.nn.Module,
    atoms_list: Sequence[Atoms],
    *ablations: Ablation,
    batch_size: int = 8,
    seed: int = 0,
    per_atom: bool = False,
    reference: Predictions | None = None,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Exact effect of ``ablations`` on each structure (one row per structure).

    Columns: structure (index in ``atoms_list``), n_atoms, energy / energy_ablated (eV),
    d_energy (meV/atom), d_force (mean |ΔF_a|, meV/Å), d_force_rms (meV/Å). With
    ``per_atom`` also a frame of every atom (structure, atom, Z, forces before/after).
    ``reference`` (from :func:`predict` on ``atoms_list``) replaces the unablated passes,
    halving the cost when several ablations probe the same structures.
    """
    _check_reference(reference, atoms_list)
    rows, atoms_rows = [], []
    for chunk in batch_ranges(len(atoms_list), batch_size):
        batch = [atoms_list[i] for i in chunk]
        if reference is None:
            e0, f0 = predict_batch(model, batch, seed=seed)
        else:
            ref = reference.take(chunk)
            e0, f0 = ref.energy, ref.forces
        with ablate(model, *ablations):
            e1, f1 = predict_batch(model, batch, seed=seed)
        natoms = np.array([len(a) for a in batch])
        splits = np.cumsum(natoms)[:-1]
        d_atom = np.linalg.norm(f1 - f0, axis=1) * MEV  # [N]
        d_rms = (_rms(f1, splits) - _rms(f0, splits)) * MEV
        for s, (idx, d) in enumerate(zip(chunk, np.split(d_atom, splits), strict=True)):
            rows.append(
                (
                    idx,
                    natoms[s],
                    e0[s],
                    e1[s],
                    (e1[s] - e0[s]) / natoms[s] * MEV,
                    d.mean(),
                    d_rms[s],
                )
            )
        if per_atom:
            starts = np.concatenate([[0], np.cumsum(natoms)])
            for s, idx in enumerate(chunk):
                sl = slice(starts[s], starts[s + 1])
                atoms_rows.append(
                    pd.DataFrame(
                        {
                            "structure": idx,
                            "atom": np.arange(natoms[s]),
                            "Z": batch[s].numbers,
                            "fx": f0[sl, 0],
                            "fy": f0[sl, 1],
                            "fz": f0[sl, 2],
                            "dfx": f1[sl, 0] - f0[sl, 0],
                            "dfy": f1[sl, 1] - f0[sl, 1],
                            "dfz": f1[sl, 2] - f0[sl, 2],
                            "d_force": d_atom[sl],
                        }
                    )
                )
    cols = [
        "structure",
        "n_atoms",
        "energy",
        "energy_ablated",
        "d_energy",
        "d_force",
        "d_force_rms",
    ]
    frame = pd.DataFrame(rows, columns=cols)
    if per_atom:
        return frame, pd.concat(atoms_rows, ignore_index=True) if atoms_rows else pd.DataFrame()
    return frame


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation; NaN for fewer than 3 points or a constant input."""
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)
