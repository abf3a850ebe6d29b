"""Recovery of a planted motif: does the memory point at the term we planted?

A dataset planted with :mod:`pamm.data.planted` carries a known, local energy term tied to
one motif. For a model trained on it, :func:`motif_recovery` measures on held-out
structures where the motif's buckets rank among all occupied buckets of its table, and how
much of the planted energy their ablation removes.

**The planted motif's keys and buckets** (:func:`planted_keys`; Δ the bin width, Å or
degrees). A pair motif (Zj, Zi) is keyed in both edge directions, (Zj, Zi, b) and
(Zi, Zj, b); a triplet (Zj, Zi, Zk) as (Zj, Zi, Zk, b) and (Zk, Zi, Zj, b) (one key when
Zj = Zk). Two sets of bins:

* *core*: the bin holding the bump centre, ``floor(centre / Δ)``. Its keys' buckets (every
  head) are "the planted buckets" of the ranks. With the bump centred on a bin centre and
  half-width ½ Δ, every planted bond (angle) lies in that bin and, with smooth lookups,
  reads its row with weight ≥ ½.
* *ablation*: every bin overlapping the bump support widened by ``margin_bins`` bins on
  each side, [centre − w − mΔ, centre + w + mΔ] (default m = 1). Smooth lookups blend a
  bond in bin b with the row of b − 1 or b + 1, so the model can store the planted energy
  in any of the three rows; the removal ablates all of them (and so also what the model
  learned there for bonds off the bump: compare with an unplanted run).

**Metrics** (per structure s of the held-out set; ΔE in meV/atom as in
``analysis.attribution``):

* ``rank_attribution``: best rank of a planted bucket among the occupied buckets of the
  table by first-order mean |ΔE_s| over the structures where each fires (the ranking of
  ``bucket_effects``, i.e. of the lab's attribution page); ``rank_attribution_total``
  the same by Σ_s |ΔE_s| / S (use weighted by how often a bucket fires).
* ``rank_exact``: best rank of a planted bucket by exact mean |ΔE_s| (``pamm.ablation``)
  among the top ``top_n`` buckets by attribution plus the planted ones (a bucket outside
  that candidate set is not ablated: the rank is among the candidates).
* ``rank_gate``: best rank of a planted bucket by its mean gate (descending).
* ``removal_ratio``: Σ_s (E_s − E_s^ablated) / Σ_s P_s over the structures holding the motif,
  P_s the planted term, with every head's bucket of every ablation key replaced
  (``removal_ratio_keys``: the keys themselves ablated, so colliding keys stay untouched).
  None for a motif of strength 0 (the negative control); the removed energy is reported
  anyway.

>>> from pamm.data.planted import PlantedMotif
>>> from pamm.keys import unpack_pair_key
>>> from pamm.spec import MotifMemorySpec
>>> pk = planted_keys(PlantedMotif("pair", ("O", "Si"), 1.65, 0.05, 0.01), MotifMemorySpec())
>>> pk.table, pk.core_bins, pk.ablation_bins
('pair', (16,), (15, 16, 17))
>>> [unpack_pair_key(int(k)) for k in pk.core_keys]
[(8, 14, 16), (14, 8, 16)]
>>> tk = planted_keys(PlantedMotif("triplet", ("Ti", "O", "Ti"), 105.0, 5.0, 0.01),
...                   MotifMemorySpec())
>>> tk.table, tk.core_bins, tk.ablation_bins, len(tk.core_keys)
('triplet', (10,), (9, 10, 11), 1)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from ase import Atoms
from ase.data import atomic_numbers

from analysis.ablation_effects import MEV, Predictions, ablation_effect, predict
from analysis.attribution import bucket_attribution, bucket_effects
from pamm.ablation import Ablation
from pamm.capture import find_pamm_backbone
from pamm.data.planted import PlantedMotif, planted_labels
from pamm.keys import pack_pair_key, pack_triplet_key
from pamm.spec import MotifMemorySpec

__all__ = ["PlantedKeys", "Recovery", "motif_recovery", "planted_keys"]

_BUCKET = ["head", "bucket"]


@dataclass(frozen=True)
class PlantedKeys:
    """The packed keys of a planted motif in its table (module docstring)."""

    table: str
    core_bins: tuple[int, ...]
    ablation_bins: tuple[int, ...]
    core_keys: tuple[int, ...]
    ablation_keys: tuple[int, ...]


def _bin_range(lo: float, hi: float, width: float, n_bins: int) -> tuple[int, ...]:
    """Bins [b Δ, (b + 1) Δ) overlapping the open interval (lo, hi), clipped to [0, n)."""
    first = max(math.floor(lo / width + 1e-9), 0)
    last = min(math.ceil(hi / width - 1e-9) - 1, n_bins - 1)
    return tuple(range(first, last + 1))


def planted_keys(
    motif: PlantedMotif, spec: MotifMemorySpec, *, margin_bins: int = 1
) -> PlantedKeys:
    """Core and ablation keys of ``motif`` under the key rules of ``spec``."""
    if margin_bins < 0:
        raise ValueError(f"margin_bins must be >= 0, got {margin_bins}")
    z = [atomic_numbers[e] for e in motif.elements]
    if motif.kind == "pair":
        table, width, n_bins = "pair", spec.pair_bin_width, spec.n_pair_bins
        orders = sorted({(z[0], z[1]), (z[1], z[0])}, key=lambda o: o != (z[0], z[1]))

        def pack(b):
            return [int(pack_pair_key(zj, zi, b)) for zj, zi in orders]
    else:
        table, width, n_bins = "triplet", spec.angle_bin_deg, spec.n_angle_bins
        orders = sorted({(z[0], z[1], z[2]), (z[2], z[1], z[0])}, key=lambda o: o != tuple(z))

        def pack(b):
            return [int(pack_triplet_key(*o, b)) for o in orders]

    core = min(max(math.floor(motif.centre / width + 1e-9), 0), n_bins - 1)
    reach = motif.half_width + margin_bins * width
    ablation = _bin_range(motif.centre - reach, motif.centre + reach, width, n_bins)
    return PlantedKeys(
        table=table,
        core_bins=(core,),
        ablation_bins=ablation,
        core_keys=tuple(pack(core)),
        ablation_keys=tuple(k for b in ablation for k in pack(b)),
    )


def _buckets_of(memory: torch.nn.Module, table: str, keys: Sequence[int]) -> pd.DataFrame:
    """(head, bucket, key) of every head's bucket of ``keys``."""
    buckets = memory.hash(table, torch.tensor(list(keys), dtype=torch.int64)).numpy()  # [K, H]
    heads = buckets.shape[1]
    return pd.DataFrame(
        {
            "head": np.tile(np.arange(heads), len(keys)),
            "bucket": buckets.ravel(),
            "key": np.repeat(np.asarray(keys, dtype=np.int64), heads),
        }
    )


def _best_rank(scores: pd.DataFrame, column: str, targets: pd.DataFrame) -> int | None:
    """1 + the number of buckets scoring strictly more than the best target (None: absent)."""
    hit = scores.merge(targets[_BUCKET].drop_duplicates(), on=_BUCKET)
    if not len(hit):
        return None
    return int((scores[column] > hit[column].max()).sum()) + 1


@dataclass(frozen=True)
class Recovery:
    """What :func:`motif_recovery` found.

    ``metrics``: JSON-able dict (module docstring); ``buckets``: the exact-ablation
    candidates (head, bucket, planted, attribution and exact scores, ranks);
    ``structures``: per structure (structure, n_atoms, planted_ev, has_motif, energy (eV,
    unablated), removed_ev, removed_keys_ev).
    """

    metrics: dict
    buckets: pd.DataFrame
    structures: pd.DataFrame


def motif_recovery(
    model: torch.nn.Module,
    atoms_list: Sequence[Atoms],
    motif: PlantedMotif,
    *,
    top_n: int = 20,
    replace: str = "zero",
    margin_bins: int = 1,
    batch_size: int = 8,
    seed: int = 0,
    per_structure: pd.DataFrame | None = None,
    reference: Predictions | None = None,
) -> Recovery:
    """Recovery metrics of the planted ``motif`` in ``model`` on ``atoms_list`` (held out).

    ``per_structure`` (``bucket_attribution(model, atoms_list, replace=replace,
    forces=False)``) and ``reference`` (``predict(model, atoms_list, batch_size=, seed=)``)
    are computed when not given; pass them to share them between motifs.
    """
    if top_n < 1:
        raise ValueError(f"top_n must be >= 1, got {top_n}")
    backbone = find_pamm_backbone(model)
    memory = backbone.motif_memory
    if memory is None or memory.mlp is not None:
        raise ValueError("motif recovery needs hashed tables (mode not baseline/mlp)")
    keys = planted_keys(motif, memory.spec, margin_bins=margin_bins)
    if getattr(memory, f"{keys.table}_table") is None:
        raise ValueError(f"the model (mode={memory.spec.mode!r}) has no {keys.table} table")
    if per_structure is None:
        per_structure = bucket_attribution(
            model, atoms_list, replace=replace, forces=False, batch_size=batch_size, seed=seed
        )
    if reference is None:
        reference = predict(model, atoms_list, batch_size=batch_size, seed=seed)
    n = len(atoms_list)
    rows = per_structure[per_structure["table"] == keys.table]
    effects = bucket_effects(rows).drop(columns="table")  # sorted by abs_d_energy
    total = rows.assign(a=rows["d_energy"].abs()).groupby(_BUCKET, as_index=False)["a"].sum()
    effects = effects.merge(total.rename(columns={"a": "abs_d_energy_total"}), on=_BUCKET)
    effects["abs_d_energy_total"] /= max(n, 1)
    core = _buckets_of(memory, keys.table, keys.core_keys)

    # exact ablation of the top-N by attribution plus the planted buckets
    planted = effects.merge(core[_BUCKET].drop_duplicates(), on=_BUCKET)
    candidates = pd.concat([effects.head(top_n), planted]).drop_duplicates(_BUCKET)
    where = rows.groupby(_BUCKET)["structure"].unique()
    exact = []
    for head, bucket in candidates[_BUCKET].itertuples(index=False, name=None):
        idx = np.sort(where.loc[(head, bucket)]).astype(int)
        ab = Ablation(
            "bucket", table=keys.table, head=int(head), bucket=int(bucket), replace=replace
        )
        out = ablation_effect(
            model, [atoms_list[i] for i in idx], ab, batch_size=batch_size, seed=seed,
            reference=reference.take(idx),
        )  # fmt: skip
        exact.append(out["d_energy"].abs().mean())
    core_set = set(core[_BUCKET].itertuples(index=False, name=None))
    candidates = candidates.assign(
        exact_abs_d_energy=exact,
        planted=[b in core_set for b in candidates[_BUCKET].itertuples(index=False, name=None)],
    )

    # removal: every head's bucket of every ablation key at once, and the keys themselves
    unit = motif.scaled(1.0)
    planted_ev = np.array([planted_labels(a, motif)[0] for a in atoms_list])  # [S] eV
    has = np.array([planted_labels(a, unit)[0] != 0.0 for a in atoms_list], dtype=bool)  # [S]
    abl = _buckets_of(memory, keys.table, keys.ablation_keys)[_BUCKET].drop_duplicates()
    by_bucket = [
        Ablation("bucket", table=keys.table, head=int(h), bucket=int(b), replace=replace)
        for h, b in abl.itertuples(index=False, name=None)
    ]
    by_key = [
        Ablation("motif", table=keys.table, key=k, replace=replace) for k in keys.ablation_keys
    ]
    removed = {}
    for name, ablations in (("removed_ev", by_bucket), ("removed_keys_ev", by_key)):
        eff = ablation_effect(
            model, atoms_list, *ablations, batch_size=batch_size, seed=seed, reference=reference
        )
        removed[name] = (eff["energy"] - eff["energy_ablated"]).to_numpy()  # [S] eV
    structures = pd.DataFrame(
        {
            "structure": np.arange(n),
            "n_atoms": reference.natoms,
            "planted_ev": planted_ev,
            "has_motif": has,
            "energy": reference.energy,
            **removed,
        }
    )
    planted_sum = float(planted_ev[has].sum())
    removed_sum = {k: float(v[has].sum()) for k, v in removed.items()}
    off = ~has
    metrics = {
        "motif": motif.to_dict(),
        "table": keys.table,
        "core_bins": list(keys.core_bins),
        "ablation_bins": list(keys.ablation_bins),
        "planted_buckets": core.to_dict("records"),
        "n_structures": n,
        "n_with_motif": int(has.sum()),
        "n_occupied_buckets": len(effects),
        "planted_occupied": bool(len(planted)),
        "rank_attribution": _best_rank(effects, "abs_d_energy", core),
        "rank_attribution_total": _best_rank(effects, "abs_d_energy_total", core),
        "rank_exact": _best_rank(candidates, "exact_abs_d_energy", core),
        "n_exact_candidates": len(candidates),
        "rank_gate": _best_rank(effects, "gate_mean", core),
        "planted_energy_ev": planted_sum,
        "planted_mev_per_atom": float(
            MEV * planted_ev[has].sum() / max(structures.loc[has, "n_atoms"].sum(), 1)
        ),
        "removed_energy_ev": removed_sum["removed_ev"],
        "removed_energy_keys_ev": removed_sum["removed_keys_ev"],
        "removal_ratio": removed_sum["removed_ev"] / planted_sum if planted_sum else None,
        "removal_ratio_keys": removed_sum["removed_keys_ev"] / planted_sum if planted_sum else None,
        "removed_elsewhere_mev_per_atom": float(
            MEV * np.abs(removed["removed_ev"][off] / reference.natoms[off]).mean()
        )
        if off.any()
        else 0.0,
        "replace": replace,
        "top_n": top_n,
        "margin_bins": margin_bins,
    }
    return Recovery(metrics, candidates.reset_index(drop=True), structures)
