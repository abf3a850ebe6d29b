"""First-order attribution of every occupied bucket at once, checked against exact ablation.

The looked-up rows r_n of each lookup n (an edge for the pair table, a triplet for the
triplet table) get the gradient g_n = ∂T/∂r_n of a target T = Σ_s E_s / N_s (or
Σ_s RMS-force_s) from one backward pass per batch. Structures in a batch do not
interact, so g_n is the gradient of n's own structure. Replacing row (h, b) by ρ_h
changes structure s by, to first order,

    ΔT_s(h, b) ≈ Σ_{n in s, bucket_h(n) = b} g_n[h] · (ρ_h - row_h[b])

which is exact when T is linear in the rows. ``attribution_agreement`` checks it against
exact ablation of the top-k buckets (Spearman rank correlation). Units as in
``analysis.ablation_effects`` (meV/atom, meV/Å).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch
from ase import Atoms

from analysis.ablation_effects import (
    MEV,
    Progress,
    ablation_effect,
    batch_ranges,
    head_outputs,
    predict,
    rank_correlation,
)
from pamm.ablation import Ablation, replacement_rows
from pamm.capture import capture, find_pamm_backbone
from pamm.plumbing import atoms_to_batch

__all__ = ["attribution_agreement", "bucket_attribution", "bucket_effects", "per_bucket"]


@contextmanager
def _record_rows(memory: torch.nn.Module):
    """Record the looked-up rows of each table (the tensors the forward then uses)."""
    if memory.row_edit is not None:
        raise RuntimeError("attribution needs a model without active ablations")
    store: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def record(table, rows, bucket, key):
        store[table] = (rows, bucket)
        return rows

    memory.row_edit = record
    try:
        yield store
    finally:
        memory.row_edit = None


@contextmanager
def _force_graph(model: torch.nn.Module):
    """Let the heads build a differentiable force graph (fairchem: ``create_graph=training``)."""
    heads = list(getattr(model, "output_heads", {}).values())  # HydraModel heads only
    states = [h.training for h in heads]
    try:
        for h in heads:
            h.train()
        yield
    finally:
        for h, state in zip(heads, states, strict=True):
            h.train(state)


def _lookup_frame(
    table, rows, bucket, grad_e, grad_f, repl, structure, gate, key=None, weight=None
) -> pd.DataFrame:
    """Per (lookup, head) first-order contributions -> summed per (head, bucket, structure),
    and per key too when ``key`` is given.

    ``key`` [N]: the motif key each lookup read (smooth lookups: the slot's blend key);
    ``weight`` [N]: the lookups' weights (smooth lookups; n_lookups then sums weighted mass).
    """
    n, heads = bucket.shape
    delta = (repl.unsqueeze(0) - rows.detach().reshape(n, heads, -1)).double()  # [N, H, D]
    parts = {"d_energy": grad_e}
    if grad_f is not None:
        parts["d_force_rms"] = grad_f
    data = {
        "head": np.repeat(np.arange(heads)[None], n, 0).ravel(),
        "bucket": bucket.cpu().numpy().ravel(),
        "structure": np.repeat(structure, heads),
        "n_lookups": 1 if weight is None else np.repeat(weight, heads),
        "gate_sum": np.repeat(gate if weight is None else gate * weight, heads),
    }
    for name, g in parts.items():
        contrib = (g.reshape(n, heads, -1).double() * delta).sum(2)  # [N, H]
        data[name] = contrib.cpu().numpy().ravel()
    frame = pd.DataFrame(data)
    if weight is not None:  # a row read with weight 0 has no effect: not a use
        frame = frame[frame["n_lookups"] > 0]
    if key is not None:
        frame["key"] = np.repeat(key, heads)[frame.index]
    by = ["head", "bucket", "structure"] + ([] if key is None else ["key"])
    frame = frame.groupby(by, as_index=False).sum()
    frame.insert(0, "table", table)
    return frame


def bucket_attribution(
    model: torch.nn.Module,
    atoms_list: Sequence[Atoms],
    *,
    replace: str = "zero",
    forces: bool = True,
    batch_size: int = 8,
    seed: int = 0,
    progress: Progress | None = None,
    by_key: bool = False,
) -> pd.DataFrame:
    """First-order effect of replacing each occupied bucket, per structure where it fires.

    One row per (table, head, bucket, structure) (``by_key``: per motif key too, the input of
    ``analysis.profiles``): n_lookups, gate_sum (sum of the per-edge
    mean gate over the lookups; with smooth lookups both are weighted by the lookup
    weights, i.e. masses), d_energy (meV/atom) and, with ``forces``, d_force_rms
    (meV/Å; needs a second, double backward). Aggregate with ``bucket_effects``.
    """
    backbone = find_pamm_backbone(model)
    memory = backbone.motif_memory
    if memory is None or memory.mlp is not None:
        raise ValueError("bucket attribution needs hashed tables (mode not baseline/mlp)")
    repls = {
        t: replacement_rows(getattr(memory, f"{t}_table"), replace)
        for t in ("pair", "triplet")
        if getattr(memory, f"{t}_table") is not None
    }
    frames = []
    chunks = batch_ranges(len(atoms_list), batch_size)
    for c, chunk in enumerate(chunks):
        batch = [atoms_list[i] for i in chunk]
        natoms = torch.tensor([len(a) for a in batch], dtype=torch.float64)
        torch.manual_seed(seed)
        with capture(model) as cap, _record_rows(memory) as store, _force_graph(model):
            efs = head_outputs(model(atoms_to_batch(batch)))
        rec = cap.records[-1]
        tables = list(store)
        looked = [store[t][0] for t in tables]
        energy = efs["energy"]["energy"].reshape(-1).double()  # [S]
        natoms = natoms.to(energy.device)
        target_e = (energy / natoms).sum() * MEV
        grads_e = torch.autograd.grad(target_e, looked, retain_graph=forces)
        grads_f = [None] * len(tables)
        if forces:
            f = efs["forces"]["forces"].double()  # [N, 3]
            per = natoms.new_zeros(len(batch)).index_add(0, rec.batch.to(f.device), (f**2).sum(1))
            target_f = (per / natoms).sqrt().sum() * MEV
            grads_f = torch.autograd.grad(target_f, looked, allow_unused=True)
            grads_f = [
                torch.zeros_like(x) if g is None else g
                for g, x in zip(grads_f, looked, strict=True)
            ]
        centre_structure = rec.batch[rec.edge_index[1]].numpy() + chunk.start  # [E]
        for t, ge, gf in zip(tables, grads_e, grads_f, strict=True):
            rows, bucket = store[t]
            edge = np.arange(len(centre_structure)) if t == "pair" else rec.keys.triplet_edge
            edge = np.asarray(edge)
            weight = None
            key = getattr(rec.keys, f"{t}_key").numpy()
            if rec.weighted:  # smooth: two rows per edge / triplet, in (item, slot) order
                edge = np.repeat(edge, 2)
                weight = getattr(rec, f"{t}_weight").double().numpy().reshape(-1)
                key = getattr(rec.keys, f"{t}_blend_key").numpy().reshape(-1)
            frames.append(
                _lookup_frame(
                    t,
                    rows,
                    bucket,
                    ge,
                    gf,
                    repls[t],
                    centre_structure[edge],
                    rec.gate_mean.numpy()[edge],
                    key if by_key else None,
                    weight,
                )
            )
        if progress is not None:
            progress((c + 1) / len(chunks), f"attribution: batch {c + 1}/{len(chunks)}")
    return pd.concat(frames, ignore_index=True)


#: the rows of ``bucket_attribution`` without ``by_key``
_BUCKET_ROW = ["table", "head", "bucket", "structure"]


def per_bucket(per_structure: pd.DataFrame) -> pd.DataFrame:
    """``bucket_attribution`` rows summed over ``key``: one per (table, head, bucket,
    structure), as without ``by_key`` (the effects are sums over lookups, so they add);
    rows without a ``key`` column are returned as they are."""
    if "key" not in per_structure:
        return per_structure
    cols = [c for c in ("n_lookups", "gate_sum", "d_energy", "d_force_rms") if c in per_structure]
    return per_structure.groupby(_BUCKET_ROW, as_index=False)[cols].sum()


def bucket_effects(per_structure: pd.DataFrame) -> pd.DataFrame:
    """Per bucket: n_structures, n_lookups, gate_mean, mean (signed and absolute) effects.

    Takes ``bucket_attribution`` rows with or without ``by_key`` (summed over keys first).
    """
    per_structure = per_bucket(per_structure)
    frame = per_structure.assign(
        abs_d_energy=per_structure["d_energy"].abs(),
        **(
            {"abs_d_force_rms": per_structure["d_force_rms"].abs()}
            if "d_force_rms" in per_structure
            else {}
        ),
    )
    agg = {
        "structure": "nunique",
        "n_lookups": "sum",
        "gate_sum": "sum",
        "d_energy": "mean",
        "abs_d_energy": "mean",
    }
    if "d_force_rms" in frame:
        agg |= {"d_force_rms": "mean", "abs_d_force_rms": "mean"}
    out = frame.groupby(["table", "head", "bucket"], as_index=False).agg(agg)
    out["gate_mean"] = out.pop("gate_sum") / out["n_lookups"]
    out = out.rename(columns={"structure": "n_structures"})
    return out.sort_values("abs_d_energy", ascending=False, ignore_index=True)


def attribution_agreement(
    model: torch.nn.Module,
    atoms_list: Sequence[Atoms],
    per_structure: pd.DataFrame,
    *,
    top_k: int = 20,
    replace: str = "zero",
    batch_size: int = 8,
    seed: int = 0,
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Exact ablation of the top-k buckets (by first-order |ΔE|) on the structures where
    each fires; returns (per-bucket frame, Spearman correlations first-order vs exact).

    The unablated predictions of every structure involved are computed once (``predict``)
    and shared by all k ablations, so each bucket costs one forward pass per batch of the
    structures where it fires (effects carry float noise of ~1e-5 meV/atom, see ``predict``).
    """
    effects = bucket_effects(per_structure).head(top_k)
    where = per_structure.groupby(["table", "head", "bucket"])["structure"]
    fires = {
        name: np.unique(where.get_group(name).to_numpy())
        for name in effects[["table", "head", "bucket"]].itertuples(index=False, name=None)
    }
    involved = np.unique(np.concatenate([[], *fires.values()])).astype(np.int64)
    position = {int(s): n for n, s in enumerate(involved)}
    if progress is not None:
        progress(0.0, f"unablated predictions of {len(involved)} structures")
    reference = predict(model, [atoms_list[i] for i in involved], batch_size=batch_size, seed=seed)
    out = []
    for n, row in enumerate(effects.itertuples(index=False)):
        idx = fires[(row.table, row.head, row.bucket)]
        ab = Ablation(
            "bucket", table=row.table, head=int(row.head), bucket=int(row.bucket), replace=replace
        )
        exact = ablation_effect(
            model,
            [atoms_list[i] for i in idx],
            ab,
            batch_size=batch_size,
            seed=seed,
            reference=reference.take([position[int(i)] for i in idx]),
        )
        out.append(
            {
                **row._asdict(),
                "exact_d_energy": exact["d_energy"].mean(),
                "exact_abs_d_energy": exact["d_energy"].abs().mean(),
                "exact_d_force": exact["d_force"].mean(),
                "exact_d_force_rms": exact["d_force_rms"].mean(),
            }
        )
        if progress is not None:
            progress((n + 1) / len(effects), f"exact ablation {n + 1}/{len(effects)}")
    frame = pd.DataFrame(out)
    corr = {
        "spearman_energy": rank_correlation(frame["d_energy"], frame["exact_d_energy"]),
        "spearman_abs_energy": rank_correlation(frame["abs_d_energy"], frame["exact_abs_d_energy"]),
    }
    if "d_force_rms" in frame:
        corr["spearman_force_rms"] = rank_correlation(
            frame["d_force_rms"], frame["exact_d_force_rms"]
        )
    return frame, corr
