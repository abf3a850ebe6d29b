"""Is a planted motif identifiable from this data by a linear read-out of the motif keys?

    python benchmarks/planted_linear.py --data assets/data \
        --json benchmarks/results/planted_linear.json [--checkpoint assets/checkpoints/gate.pt]

The trained memory-only fine-tunes (``planted_frozen.py``) find the planted Si–O pair in its
buckets but spread the planted Ti–O–Ti angle term over other triplet rows. This script asks
whether that is the network's doing or the data's, with the simplest model that has a
dedicated row per motif: the planted energy P_s of structure s (the term alone, ε = 1 eV)
fitted by a linear read-out Σ_key β_key · mass_s(key), where mass_s(key) is the summed
lookup weight of that key in s (the memory's own smooth lookup of the checkpoint's spec:
blend weights, and the envelope for triplets; keys, not hashed buckets, so collisions play
no part; the radius graph is ASE's, the backbone's own as its neighbour cap never binds on
the bundled data). Features of both tables are offered to every fit, fitted on the train split and
scored on the test split (parents never trained on):

- ``oracle``: only the planted motif's ablation keys (what the term needs, nothing else);
- ``gd_<n>``: gradient descent from β = 0 with step 1/λ_max, n steps (plain training's
  implicit bias: it approaches the minimum-norm solution);
- ``adam_<n>``: Adam from β = 0 (lr ``ADAM_LR``, full batch, mean squared error), n steps:
  the optimiser the networks train with, whose per-coefficient steps differ from GD's;
- ``lsqr_<n>``: n LSQR iterations from 0 (the Krylov path of least squares);
- ``lasso_<α>``: an L1 penalty (sklearn's ``Lasso``), which prefers few keys.

Each fit reports its test R², the removal ratio (Σ over test structures holding the motif
of the planted keys' contribution / Σ P_s; the ``removal_ratio`` of ``planted.py`` for this
linear model) and the best rank of a planted key among the keys occurring in test by mean
|contribution| over the structures where the key fires (the attribution page's order).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from planted import MOTIFS  # noqa: E402

from pamm.plumbing import atomic_write_json  # noqa: E402

SCHEMA = "pamm-planted-linear/1"
GD_STEPS = (100, 1000, 10000)
ADAM_STEPS = (100, 1000, 3000)
ADAM_LR = 1e-2  # per-coefficient step; the oracle coefficients are 0.01-1
LSQR_ITERS = (10, 50, 200)
LASSO_ALPHAS = (1e-4, 1e-3, 1e-2)


def key_masses(atoms_list, spec, progress: str = "") -> dict[str, tuple[np.ndarray, ...]]:
    """Summed lookup weight of every packed key per structure, per table:
    ``{"pair"|"triplet": (structure [n], key [n], mass [n])}`` (one entry per key present)."""
    import torch
    from ase.neighborlist import neighbor_list
    from tqdm import tqdm

    from pamm.blend import blend_lookups
    from pamm.keys import extract_motifs

    out = {"pair": ([], [], []), "triplet": ([], [], [])}
    for s, atoms in enumerate(tqdm(atoms_list, desc=progress, mininterval=5)):
        i, j, d, vec = neighbor_list("ijdD", atoms, spec.cutoff)
        edge_index = torch.as_tensor(np.stack([j, i]))  # fairchem's: row 1 is the centre
        d, vec = torch.as_tensor(d), torch.as_tensor(vec)
        keys = extract_motifs(edge_index, d, vec, torch.as_tensor(atoms.numbers), spec)
        keys = blend_lookups(keys, d, vec, spec)
        blends = {
            "pair": (keys.pair_blend_key, keys.pair_blend_weight),
            "triplet": (keys.triplet_blend_key, keys.triplet_blend_weight),
        }
        for table, (key, weight) in blends.items():
            uniq, inv = np.unique(key.reshape(-1).numpy(), return_inverse=True)
            mass = np.bincount(inv, weights=weight.reshape(-1).numpy(), minlength=len(uniq))
            rows, cols, vals = out[table]
            rows.append(np.full(len(uniq), s))
            cols.append(uniq)
            vals.append(mass)  # may be 0: a blend slot of weight 0 (as stored, read nothing)
    return {t: tuple(np.concatenate(v) for v in out[t]) for t in out}


def _to_matrix(coo: tuple, n: int, columns: dict[int, int]) -> sp.csr_matrix:
    rows, keys, vals = coo
    idx = np.array([columns.get(int(k), -1) for k in keys], dtype=np.int64)
    ok = idx >= 0  # keys never seen in training have no coefficient
    return sp.csr_matrix((vals[ok], (rows[ok], idx[ok])), shape=(n, len(columns)))


def design(train: dict, test: dict, n_train: int, n_test: int):
    """Feature matrices over the keys seen in training (pair keys, then triplet keys)."""
    names, blocks_tr, blocks_te = [], [], []
    for table in ("pair", "triplet"):
        keys = np.unique(train[table][1])
        columns = {int(k): c for c, k in enumerate(keys)}
        blocks_tr.append(_to_matrix(train[table], n_train, columns))
        blocks_te.append(_to_matrix(test[table], n_test, columns))
        names += [(table, int(k)) for k in keys]
    return sp.hstack(blocks_tr).tocsr(), sp.hstack(blocks_te).tocsr(), names


def score(beta: np.ndarray, x_test: sp.csr_matrix, p_test: np.ndarray, planted: list[int]):
    """Test R², removal ratio and best planted rank of a fitted read-out."""
    contrib = x_test.multiply(beta[None, :]).tocsc()  # [S, K] per-structure contributions
    pred = np.asarray(contrib.sum(1)).ravel()
    removed = np.asarray(contrib[:, planted].sum(1)).ravel()
    holds = p_test > 1e-9
    fires = np.asarray((x_test != 0).sum(0)).ravel()
    mean_abs = np.asarray(abs(contrib).sum(0)).ravel() / np.maximum(fires, 1)
    mean_abs[fires == 0] = -np.inf  # keys absent from test are not ranked
    order = np.argsort(-mean_abs, kind="stable")
    position = np.empty_like(order)
    position[order] = np.arange(1, len(order) + 1)
    residual, spread = ((pred - p_test) ** 2).sum(), ((p_test - p_test.mean()) ** 2).sum()
    return {
        "test_r2": float(1 - residual / spread) if spread > 0 else None,
        "removal_ratio": float(removed[holds].sum() / p_test[holds].sum()) if holds.any() else None,
        "rank": int(position[planted].min()),
        "n_ranked": int((fires > 0).sum()),
        "planted_beta": [float(b) for b in beta[planted]],
        "nonzero": int(np.count_nonzero(beta)),
    }


def fits(x: sp.csr_matrix, y: np.ndarray, planted: list[int]) -> dict[str, np.ndarray]:
    """Every read-out of the module docstring, fitted on (x, y)."""
    import warnings

    import torch
    from scipy.sparse.linalg import lsqr, svds
    from sklearn.linear_model import Lasso

    out = {}
    beta = np.zeros(x.shape[1])
    beta[planted] = np.linalg.lstsq(x[:, planted].toarray(), y, rcond=None)[0]
    out["oracle"] = beta
    step = 1.0 / svds(x, k=1, return_singular_vectors=False)[0] ** 2
    beta, done = np.zeros(x.shape[1]), 0
    for n in GD_STEPS:
        for _ in range(n - done):
            beta -= step * (x.T @ (x @ beta - y))
        done = n
        out[f"gd_{n}"] = beta.copy()
    beta, done = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True), 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: "sparse CSR support is in beta"
        xt, yt = torch.sparse_csr_tensor(x.indptr, x.indices, x.data, x.shape), torch.as_tensor(y)
    adam = torch.optim.Adam([beta], lr=ADAM_LR)
    for n in ADAM_STEPS:
        for _ in range(n - done):
            adam.zero_grad()
            loss = 0.5 * ((xt @ beta - yt) ** 2).sum() / len(y)
            loss.backward()
            adam.step()
        done = n
        out[f"adam_{n}"] = beta.detach().numpy().copy()
    for n in LSQR_ITERS:
        out[f"lsqr_{n}"] = lsqr(x, y, iter_lim=n)[0]
    for alpha in LASSO_ALPHAS:
        model = Lasso(alpha=alpha, fit_intercept=False, max_iter=5000, tol=1e-4)
        out[f"lasso_{alpha:g}"] = model.fit(x, y).coef_
    return out


def _shown(path: Path) -> str:
    """``path`` relative to the repository when inside it (results stay machine-neutral)."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "assets" / "data")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, default=ROOT / "assets/checkpoints/gate.pt")
    parser.add_argument("--limit", type=int, default=None, help="first N structures per split")
    parser.add_argument(
        "--triplet-envelope", default="flat", help="the triplet plant's envelope (flat|poly)"
    )
    parser.add_argument("--triplet-cutoff", type=float, default=3.0)
    parser.add_argument("--triplet-elements", default="Ti,O,Ti", help="Zj,Zi,Zk (Zi centre)")
    parser.add_argument("--triplet-centre", type=float, default=105.0, help="degrees")
    args = parser.parse_args(argv)
    import warnings

    from analysis.recovery import planted_keys
    from pamm.checkpoint import load_checkpoint, stored_spec
    from pamm.data.planted import PlantedMotif, planted_labels
    from pamm.evaluate import read_split

    start = time.perf_counter()
    spec = stored_spec(load_checkpoint(args.checkpoint).model_config)
    if spec is None or not spec.smooth:
        raise SystemExit(f"{args.checkpoint}: needs a PaMM checkpoint with smooth lookups")
    motifs = dict(MOTIFS)
    try:
        motifs["triplet"] = PlantedMotif.from_dict(
            motifs["triplet"].to_dict() | {"envelope": args.triplet_envelope,
                                           "cutoff": args.triplet_cutoff,
                                           "elements": args.triplet_elements.split(","),
                                           "centre": args.triplet_centre}
        )  # fmt: skip
    except ValueError as err:
        parser.error(f"the triplet plant: {err}")
    splits = {s: read_split(args.data / s, limit=args.limit) for s in ("train", "test")}
    masses = {s: key_masses(frames, spec, progress=f"keys {s}") for s, frames in splits.items()}
    x_tr, x_te, names = design(masses["train"], masses["test"], *map(len, splits.values()))
    column = {name: c for c, name in enumerate(names)}
    result = {
        "schema": SCHEMA,
        "config": {
            "data": _shown(args.data), "checkpoint": _shown(args.checkpoint), "limit": args.limit,
            "spec": spec.to_dict(), "motifs": {k: m.to_dict() for k, m in motifs.items()},
            "gd_steps": GD_STEPS, "adam_steps": ADAM_STEPS, "adam_lr": ADAM_LR,
            "lsqr_iters": LSQR_ITERS, "lasso_alphas": LASSO_ALPHAS,
        },
        "n_structures": {s: len(f) for s, f in splits.items()},
        "n_keys": {t: sum(1 for n in names if n[0] == t) for t in ("pair", "triplet")},
        "motifs": {},
    }  # fmt: skip
    for name, motif in motifs.items():
        wanted = planted_keys(motif, spec)
        present = [(wanted.table, k) for k in wanted.ablation_keys]
        planted = [column[n] for n in present if n in column]
        p = {s: np.array([planted_labels(a, motif)[0] for a in f]) for s, f in splits.items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Lasso's convergence notes at small alpha
            fitted = fits(x_tr, p["train"], planted)
        result["motifs"][name] = {
            "structures_holding": {s: int((v > 1e-9).sum()) for s, v in p.items()},
            "planted_columns": len(planted),
            "fits": {k: score(b, x_te, p["test"], planted) for k, b in fitted.items()},
        }
        for k, row in result["motifs"][name]["fits"].items():
            removal = row["removal_ratio"]
            print(f"{name:8s} {k:12s} R2 {row['test_r2'] or float('nan'):7.3f}  removal "
                  f"{'-' if removal is None else f'{100 * removal:.1f} %'}  rank {row['rank']} "
                  f"of {row['n_ranked']}")  # fmt: skip
    result["wall_s"] = round(time.perf_counter() - start, 1)
    atomic_write_json(args.json, result, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
