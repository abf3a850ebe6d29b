"""Comparing latent features: global and local feature reconstruction errors (GFRE/LFRE).

Following the feature-space reconstruction measures (Goscinski et al., "The role of
feature space in atomistic learning", 2021) used to compare uMLIP latents: with
standardised features ``X`` [n, a] and ``Y`` [n, b] of the *same* atoms, split into
train and test halves,

- GFRE(X -> Y) = ||Y_test - X_test W||_F / sqrt(n_test), W from ridge regression on the
  train half (0 when Y is a linear function of X, ~1 when X carries nothing of Y);
- LFRE(X -> Y): the same, but W is fitted per test point on its ``k`` nearest train
  neighbours in X (local linear maps), averaged over test points.

Asymmetry matters: GFRE(base -> pamm) small and GFRE(pamm -> base) larger means the PaMM
features contain the baseline's plus something more.

>>> x = np.random.default_rng(0).normal(size=(200, 5))
>>> round(gfre(x, x), 6)
0.0
>>> bool(gfre(x[:, :1], x) > 0.5)
True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["gfre", "latent_comparison", "lfre", "node_features", "standardise"]


def standardise(x: np.ndarray) -> np.ndarray:
    """Centre columns and scale so the mean squared row norm is 1 (rows = samples)."""
    x = np.asarray(x, np.float64)
    x = x - x.mean(axis=0, keepdims=True)
    scale = np.sqrt((x**2).sum(axis=1).mean())
    return x / scale if scale > 0 else x


def _split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    half = n // 2
    return perm[:half], perm[half:]


def _ridge(x: np.ndarray, y: np.ndarray, reg: float) -> np.ndarray:
    """W [a, b] minimising ||y - x W||^2 + reg * ||W||^2 (reg relative to the spectrum)."""
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    lam = reg * (s.max() ** 2 if len(s) else 0.0)
    keep = s > 1e-12 * (s.max() if len(s) else 1.0)
    u, s, vt = u[:, keep], s[keep], vt[keep]
    return vt.T @ ((s / (s**2 + lam))[:, None] * (u.T @ y))


def _check(x: np.ndarray, y: np.ndarray) -> None:
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"features must be [n, a] and [n, b] on the same n atoms; got {x.shape} and {y.shape}"
        )
    if x.shape[0] < 4:
        raise ValueError(f"need at least 4 samples to split train/test, got {x.shape[0]}")


def gfre(x: np.ndarray, y: np.ndarray, *, reg: float = 1e-8, seed: int = 0) -> float:
    """Global feature reconstruction error of ``y`` from ``x`` (see module docstring)."""
    x, y = np.asarray(x), np.asarray(y)
    _check(x, y)
    x, y = standardise(x), standardise(y)
    train, test = _split(len(x), seed)
    w = _ridge(x[train], y[train], reg)  # [a, b]
    resid = y[test] - x[test] @ w  # [n_test, b]
    return float(np.sqrt((resid**2).sum() / len(test)))


def lfre(
    x: np.ndarray, y: np.ndarray, *, k: int = 20, reg: float = 1e-6, seed: int = 0,
    max_points: int = 500,
) -> float:  # fmt: skip
    """Local feature reconstruction error of ``y`` from ``x`` (k-NN local linear maps)."""
    x, y = np.asarray(x), np.asarray(y)
    _check(x, y)
    x, y = standardise(x), standardise(y)
    train, test = _split(len(x), seed)
    test = test[:max_points]
    k = min(k, len(train))
    xt, yt = x[train], y[train]
    errs = []
    for t in test:
        d = ((xt - x[t]) ** 2).sum(axis=1)
        nn = np.argpartition(d, k - 1)[:k]
        xm, ym = xt[nn].mean(axis=0), yt[nn].mean(axis=0)
        w = _ridge(xt[nn] - xm, yt[nn] - ym, reg)
        pred = ym + (x[t] - xm) @ w
        errs.append(((y[t] - pred) ** 2).sum())
    return float(np.sqrt(np.mean(errs)))


def latent_comparison(baseline: np.ndarray, pamm: np.ndarray, *, seed: int = 0) -> dict[str, float]:
    """GFRE and LFRE in both directions between baseline and PaMM features (same atoms)."""
    return {
        "gfre_baseline_to_pamm": gfre(baseline, pamm, seed=seed),
        "gfre_pamm_to_baseline": gfre(pamm, baseline, seed=seed),
        "lfre_baseline_to_pamm": lfre(baseline, pamm, seed=seed),
        "lfre_pamm_to_baseline": lfre(pamm, baseline, seed=seed),
        "n_atoms": int(np.asarray(baseline).shape[0]),
    }


def node_features(model: torch.nn.Module, batches_iter: Iterable[Any]) -> np.ndarray:
    """Invariant (L = 0) node embeddings ``[N_atoms, C]`` of a backbone over batches.

    ``batches_iter`` yields fairchem batches (e.g. ``analysis.runner.batches``'s second
    element); the same batches give the same atoms for two models.
    """
    import torch

    backbone = getattr(model, "backbone", model)
    backbone.eval()
    feats = []
    for batch in batches_iter:
        with torch.no_grad():
            emb = backbone(batch)["node_embedding"]  # [N, (lmax+1)^2, C]
        feats.append(emb[:, 0, :].detach().cpu().numpy())
    return np.concatenate(feats) if feats else np.zeros((0, 0))
