"""Causal probes of the motif memory: ablation effects, attribution, reliance, gate vs effect.

Units: energies in meV/atom (ΔE_s / N_s), forces in meV/Å. For structure s and an
ablation A (``pamm.ablation``), the exact effect is ``ΔE_s = E_s(A) - E_s``; the force
effects are the mean per-atom ``|F_a(A) - F_a|`` and the change of the RMS force
``sqrt(mean_a |F_a|²)``.

First-order attribution of every occupied bucket at once: the looked-up rows r_n of each
lookup n (an edge for the pair table, a triplet for the triplet table) get the gradient
g_n = ∂T/∂r_n of a target T = Σ_s E_s / N_s (or Σ_s RMS-force_s) from one backward pass
per batch. Structures in a batch do not interact, so g_n is the gradient of n's own
structure. Replacing row (h, b) by ρ_h changes structure s by, to first order,

    ΔT_s(h, b) ≈ Σ_{n in s, bucket_h(n) = b} g_n[h] · (ρ_h - row_h[b])

which is exact when T is linear in the rows. ``attribution_agreement`` checks it against
exact ablation of the top-k buckets (Spearman rank correlation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch
from ase import Atoms
from ase.data import chemical_symbols
from scipy.stats import spearmanr

from pamm.ablation import Ablation, ablate, replacement_rows
from pamm.capture import capture, find_pamm_backbone

__all__ = [
    "ablation_effect",
    "attribution_agreement",
    "bucket_attribution",
    "bucket_effects",
    "gate_vs_effect",
    "memory_reliance",
    "predict_batch",
    "probe_run",
    "probe_structures",
    "reliance_summary",
]

Progress = Callable[[float, str], None]
MEV = 1000.0


def _collate(atoms_list: Sequence[Atoms], cutoff: float):
    from fairchem.core.datasets.atomic_data import AtomicData
    from fairchem.core.datasets.collaters.simple_collater import data_list_collater

    data = []
    for atoms in atoms_list:
        clean = atoms.copy()
        clean.calc = None
        data.append(AtomicData.from_ase(clean, task_name="omat", radius=cutoff))
    return data_list_collater(data, otf_graph=True)


def _chunks(n: int, size: int) -> list[range]:
    if size < 1:
        raise ValueError(f"batch_size must be >= 1, got {size}")
    return [range(i, min(i + size, n)) for i in range(0, n, size)]


def predict_batch(
    model: torch.nn.Module, atoms_list: Sequence[Atoms], *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(energy [S] eV, forces [N, 3] eV/Å) of one batch; ``seed`` fixes eSCN's roll angles."""
    backbone = find_pamm_backbone(model)
    torch.manual_seed(seed)
    efs = model(_collate(atoms_list, backbone.pamm_spec.cutoff))["efs"]
    energy = efs["energy"]["energy"].detach().double().cpu().numpy().reshape(-1)
    return energy, efs["forces"]["forces"].detach().double().cpu().numpy()


def _rms(forces: np.ndarray, splits: np.ndarray) -> np.ndarray:
    return np.array([np.sqrt((f**2).sum(1).mean()) for f in np.split(forces, splits)])


def ablation_effect(
    model: torch.nn.Module,
    atoms_list: Sequence[Atoms],
    *ablations: Ablation,
    batch_size: int = 8,
    seed: int = 0,
    per_atom: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Exact effect of ``ablations`` on each structure (one row per structure).

    Columns: structure (index in ``atoms_list``), n_atoms, energy / energy_ablated (eV),
    d_energy (meV/atom), d_force (mean |ΔF_a|, meV/Å), d_force_rms (meV/Å). With
    ``per_atom`` also a frame of every atom (structure, atom, Z, forces before/after).
    """
    rows, atoms_rows = [], []
    for chunk in _chunks(len(atoms_list), batch_size):
        batch = [atoms_list[i] for i in chunk]
        e0, f0 = predict_batch(model, batch, seed=seed)
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


def _lookup_frame(table, rows, bucket, grad_e, grad_f, repl, structure, gate) -> pd.DataFrame:
    """Per (lookup, head) first-order contributions -> summed per (head, bucket, structure)."""
    n, heads = bucket.shape
    delta = (repl.unsqueeze(0) - rows.detach().reshape(n, heads, -1)).double()  # [N, H, D]
    parts = {"d_energy": grad_e}
    if grad_f is not None:
        parts["d_force_rms"] = grad_f
    data = {
        "head": np.repeat(np.arange(heads)[None], n, 0).ravel(),
        "bucket": bucket.cpu().numpy().ravel(),
        "structure": np.repeat(structure, heads),
        "n_lookups": 1,
        "gate_sum": np.repeat(gate, heads),
    }
    for name, g in parts.items():
        contrib = (g.reshape(n, heads, -1).double() * delta).sum(2)  # [N, H]
        data[name] = contrib.cpu().numpy().ravel()
    frame = pd.DataFrame(data).groupby(["head", "bucket", "structure"], as_index=False).sum()
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
) -> pd.DataFrame:
    """First-order effect of replacing each occupied bucket, per structure where it fires.

    One row per (table, head, bucket, structure): n_lookups, gate_sum (sum of the per-edge
    mean gate over the lookups), d_energy (meV/atom) and, with ``forces``, d_force_rms
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
    chunks = _chunks(len(atoms_list), batch_size)
    for c, chunk in enumerate(chunks):
        batch = [atoms_list[i] for i in chunk]
        natoms = torch.tensor([len(a) for a in batch], dtype=torch.float64)
        torch.manual_seed(seed)
        with capture(model) as cap, _record_rows(memory) as store, _force_graph(model):
            efs = model(_collate(batch, backbone.pamm_spec.cutoff))["efs"]
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
                )
            )
        if progress is not None:
            progress((c + 1) / len(chunks), f"attribution: batch {c + 1}/{len(chunks)}")
    return pd.concat(frames, ignore_index=True)


def bucket_effects(per_structure: pd.DataFrame) -> pd.DataFrame:
    """Per bucket: n_structures, n_lookups, gate_mean, mean (signed and absolute) effects."""
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


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


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
    each fires; returns (per-bucket frame, Spearman correlations first-order vs exact)."""
    effects = bucket_effects(per_structure).head(top_k)
    out = []
    for n, row in enumerate(effects.itertuples(index=False)):
        sel = per_structure[
            (per_structure["table"] == row.table)
            & (per_structure["head"] == row.head)
            & (per_structure["bucket"] == row.bucket)
        ]
        idx = sel["structure"].to_numpy()
        ab = Ablation(
            "bucket", table=row.table, head=int(row.head), bucket=int(row.bucket), replace=replace
        )
        exact = ablation_effect(
            model, [atoms_list[i] for i in idx], ab, batch_size=batch_size, seed=seed
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
        "spearman_energy": _spearman(frame["d_energy"], frame["exact_d_energy"]),
        "spearman_abs_energy": _spearman(frame["abs_d_energy"], frame["exact_abs_d_energy"]),
    }
    if "d_force_rms" in frame:
        corr["spearman_force_rms"] = _spearman(frame["d_force_rms"], frame["exact_d_force_rms"])
    return frame, corr


def gate_vs_effect(effects: pd.DataFrame, column: str = "abs_d_energy") -> pd.DataFrame:
    """Per table: Spearman correlation between a bucket's mean gate and its effect."""
    rows = []
    for table, grp in effects.groupby("table"):
        rows.append(
            {
                "table": table,
                "n_buckets": len(grp),
                "spearman": _spearman(grp["gate_mean"].to_numpy(), grp[column].to_numpy()),
            }
        )
    return pd.DataFrame(rows, columns=["table", "n_buckets", "spearman"])


def memory_reliance(
    model: torch.nn.Module,
    atoms_list: Sequence[Atoms],
    families: Sequence[str],
    *,
    batch_size: int = 8,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Effect of switching off the whole memory, only the pair, only the triplet table.

    Returns (per-structure frame with family and d_energy/d_force per part, per-atom frame
    of the whole-memory-off force change with element). Summarise with ``reliance_summary``.
    """
    memory = find_pamm_backbone(model).motif_memory
    parts = {"memory": Ablation("memory")}
    for table in ("pair", "triplet"):
        if getattr(memory, f"{table}_table", None) is not None:
            parts[table] = Ablation("table", table=table)
    frame, atoms_frame = ablation_effect(
        model, atoms_list, parts["memory"], per_atom=True, batch_size=batch_size, seed=seed
    )
    frame = frame[["structure", "n_atoms", "d_energy", "d_force"]]
    for name, ab in parts.items():
        if name != "memory":
            eff = ablation_effect(model, atoms_list, ab, batch_size=batch_size, seed=seed)
            frame = frame.assign(
                **{
                    f"d_energy_{name}": eff["d_energy"].to_numpy(),
                    f"d_force_{name}": eff["d_force"].to_numpy(),
                }
            )
    frame.insert(1, "family", list(families))
    atoms_frame["element"] = [chemical_symbols[z] for z in atoms_frame["Z"]]
    return frame, atoms_frame


def reliance_summary(
    per_structure: pd.DataFrame, per_atom: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """Mean |ΔE| (meV/atom) and |ΔF| (meV/Å) per family (all parts) and per element."""
    cols = [c for c in per_structure if c.startswith(("d_energy", "d_force"))]
    fam = per_structure[["family", *cols]].assign(**{c: per_structure[c].abs() for c in cols})
    fam = fam.groupby("family").agg(["mean"]).droplevel(1, axis=1)
    fam.insert(0, "n_structures", per_structure.groupby("family").size())
    elem = per_atom.groupby("element").agg(n_atoms=("atom", "size"), d_force=("d_force", "mean"))
    return {"family": fam.reset_index(), "element": elem.reset_index()}


def probe_structures(dataset: dict, limit: int) -> tuple[list[Atoms], list[str], list[int]]:
    """Up to ``limit`` structures of a manifest's ``dataset`` entry, evenly spaced over it.

    Returns (atoms, families, dataset indices), indices as in ``examples.parquet``.
    """
    from analysis.data import StructureSource

    paths = dataset.get("paths") or []
    if not paths:
        raise FileNotFoundError("the manifest's dataset names no paths (in-memory dataset)")
    source = StructureSource.open(paths)
    idx = np.unique(np.linspace(0, len(source) - 1, min(limit, len(source))).round().astype(int))
    atoms = [source.get_atoms(int(i)) for i in idx]
    return atoms, [source.family(a) for a in atoms], [int(i) for i in idx]


def probe_run(
    model: torch.nn.Module,
    atoms_list: Sequence[Atoms],
    families: Sequence[str],
    *,
    replace: str = "zero",
    top_k: int = 10,
    batch_size: int = 8,
    progress: Progress | None = None,
) -> dict:
    """All probes of one model on ``atoms_list`` (what the Interventions page shows).

    Keys: ``attribution`` (per bucket × structure), ``effects`` (per bucket),
    ``agreement`` (top-k first-order vs exact) and ``spearman`` (dict), ``gate_vs_effect``,
    ``reliance`` / ``reliance_atoms`` (memory/pair/triplet off) and their ``summary``.
    """

    def stage(lo: float, hi: float, name: str) -> Progress | None:
        if progress is None:
            return None
        return lambda f, msg: progress(lo + (hi - lo) * f, f"{name}: {msg}")

    per = bucket_attribution(
        model,
        atoms_list,
        replace=replace,
        batch_size=batch_size,
        progress=stage(0.0, 0.4, "attribution"),
    )
    effects = bucket_effects(per)
    agreement, corr = attribution_agreement(
        model,
        atoms_list,
        per,
        top_k=top_k,
        replace=replace,
        batch_size=batch_size,
        progress=stage(0.4, 0.85, "exact"),
    )
    if progress is not None:
        progress(0.85, "reliance: memory, pair and triplet off")
    reliance, reliance_atoms = memory_reliance(model, atoms_list, families, batch_size=batch_size)
    if progress is not None:
        progress(1.0, "done")
    return {
        "attribution": per,
        "effects": effects,
        "agreement": agreement,
        "spearman": corr,
        "gate_vs_effect": gate_vs_effect(effects),
        "reliance": reliance,
        "reliance_atoms": reliance_atoms,
        "summary": reliance_summary(reliance, reliance_atoms),
    }
