"""Paired differences with bootstrap intervals, and verdicts on the paper's claims.

Every finished run of ``benchmarks/compare.py`` leaves its per-structure errors
(``OUT/runs/<variant>_s<seed>.errors.parquet``, one row per scored structure with its
split, sid and family). A *task* is one family sampled around one parent (the unit the
data were generated in; frames of one task are correlated), read from the sid.

:func:`paired_delta` compares variant A with variant B on one split and metric: per
(seed, task) the summed error of A minus that of B, then a two-level bootstrap (seeds
with replacement, then tasks with replacement) of the pooled mean Δ; the interval is the
2.5/97.5 percentile of ``n_boot`` resamples. :func:`verdict` reads a claim "A is better
than B" off the interval: ``reproduced`` when it lies wholly below 0, ``not reproduced``
when wholly above, ``inconclusive`` when it holds 0.

>>> verdict((-3.0, -2.0, -0.5)), verdict((1.0, 0.2, 2.0)), verdict((-1.0, -2.0, 0.3))
('reproduced', 'not reproduced', 'inconclusive')
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["CLAIMS", "METRIC_COLUMNS", "load_errors", "paired_delta", "task_of", "verdict"]

#: metric -> (summed error column, count column, scale to the table's unit)
METRIC_COLUMNS = {
    "energy_mae_mev_per_atom": ("energy_err_per_atom", None, 1000.0),
    "force_mae_mev_per_a": ("force_abs_sum", "force_n", 1000.0),
}

#: the paper's claims as (name, split, metric, better, worse) comparisons; ``{p}`` is the
#: lookup pair ("" for the conservative variants, "_hard" for the paper's reading)
CLAIMS = (
    ("gate beats baseline (E)", "test", "energy_mae_mev_per_atom", "gate{p}", "baseline"),
    ("gate beats baseline (F)", "test", "force_mae_mev_per_a", "gate{p}", "baseline"),
    ("affine beats baseline (E)", "test", "energy_mae_mev_per_atom", "affine{p}", "baseline"),
    ("affine beats baseline (F)", "test", "force_mae_mev_per_a", "affine{p}", "baseline"),
    ("gate best on energy", "test", "energy_mae_mev_per_atom", "gate{p}", "affine{p}"),
    ("affine best on forces", "test", "force_mae_mev_per_a", "affine{p}", "gate{p}"),
    ("gate beats pair_only (E)", "test", "energy_mae_mev_per_atom", "gate{p}", "pair_only"),
    ("gate beats triplet_only (E)", "test", "energy_mae_mev_per_atom", "gate{p}", "triplet_only"),
    ("gate beats random_bucket (E)", "test", "energy_mae_mev_per_atom", "gate{p}", "random_bucket"),
    ("gate beats mlp (E)", "test", "energy_mae_mev_per_atom", "gate{p}", "mlp"),
    ("held-out families: gate gains (E)", "heldout", "energy_mae_mev_per_atom", "gate{p}",
     "baseline"),
    ("held-out families: affine gains (F)", "heldout", "force_mae_mev_per_a", "affine{p}",
     "baseline"),
)  # fmt: skip

_TASK = re.compile(r"^(?P<parent>.+?)_[^_]+_(?P<family>[a-z]+-[A-Za-z0-9-]+)_\d+$")


def task_of(sid: str, family: str) -> str:
    """The task of a structure: ``parent|family`` from an oxide sid, else the sid's stem.

    >>> task_of("oxide0012_Mg4O4_rattled-300_2", "rattled-300")
    'oxide0012|rattled-300'
    >>> task_of("weird", "rattled-300")
    'weird|rattled-300'
    """
    match = _TASK.match(sid)
    parent = match["parent"] if match else sid.rsplit("_", 1)[0]
    return f"{parent}|{family}"


def load_errors(out: str | Path) -> pd.DataFrame:
    """All per-structure error rows of finished runs, with ``variant``, ``seed``, ``task``."""
    frames = []
    for path in sorted((Path(out) / "runs").glob("*.errors.parquet")):
        frames.append(pd.read_parquet(path))
    if not frames:
        return pd.DataFrame()
    rows = pd.concat(frames, ignore_index=True)
    rows["task"] = [task_of(s, f) for s, f in zip(rows["sid"], rows["family"], strict=True)]
    return rows


def _per_task(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Summed error and count per (seed, task)."""
    value, count, _ = METRIC_COLUMNS[metric]
    agg = rows.assign(_n=rows[count] if count else 1).groupby(["seed", "task"])
    return pd.DataFrame({"sum": agg[value].sum(), "n": agg["_n"].sum()})


def paired_delta(
    errors: pd.DataFrame,
    a: str,
    b: str,
    split: str,
    metric: str,
    *,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict | None:
    """Mean Δ = A − B (table units) with a 95 % two-level bootstrap interval; None if unpaired.

    Pairs only seeds both variants finished and structures both scored.
    """
    scale = METRIC_COLUMNS[metric][2]
    mine = errors[(errors["split"] == split) & errors["variant"].isin([a, b])]
    seeds = sorted(
        set(mine.loc[mine["variant"] == a, "seed"]) & set(mine.loc[mine["variant"] == b, "seed"])
    )
    if not seeds:
        return None
    mine = mine[mine["seed"].isin(seeds)]
    ta = _per_task(mine[mine["variant"] == a], metric)
    tb = _per_task(mine[mine["variant"] == b], metric)
    both = ta.join(tb, lsuffix="_a", rsuffix="_b", how="inner")
    if both.empty or not np.array_equal(both["n_a"].to_numpy(), both["n_b"].to_numpy()):
        raise ValueError(f"{a} and {b} did not score the same structures on {split}")
    diff = (both["sum_a"] - both["sum_b"]).to_numpy()  # [seed x task]
    count = both["n_a"].to_numpy().astype(float)
    seed_of = both.index.get_level_values("seed").to_numpy()
    groups = [np.flatnonzero(seed_of == s) for s in seeds]
    point = scale * diff.sum() / count.sum()
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    for k in range(n_boot):
        picked = rng.integers(len(groups), size=len(groups))
        idx = np.concatenate(
            [g[rng.integers(len(g), size=len(g))] for g in (groups[p] for p in picked)]
        )
        stats[k] = scale * diff[idx].sum() / count[idx].sum()
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return {
        "delta": float(point),
        "ci95": [float(lo), float(hi)],
        "seeds": seeds,
        "n_tasks": int(len(both) // len(seeds)),
    }


def verdict(stat: tuple[float, float, float]) -> str:
    """A claim "A better than B" from (Δ, lo, hi) of A − B (lower is better)."""
    _, lo, hi = stat
    if hi < 0:
        return "reproduced"
    if lo > 0:
        return "not reproduced"
    return "inconclusive"


def claim_verdicts(errors: pd.DataFrame, pair: str, n_boot: int = 2000) -> list[dict]:
    """Every claim of :data:`CLAIMS` for the lookup ``pair`` ("" or "_hard")."""
    out = []
    for name, split, metric, better, worse in CLAIMS:
        a, b = better.format(p=pair), worse.format(p=pair)
        stat = paired_delta(errors, a, b, split, metric, n_boot=n_boot) if len(errors) else None
        out.append(
            {
                "claim": name,
                "a": a,
                "b": b,
                "split": split,
                "metric": metric,
                **(stat or {}),
                "verdict": verdict((stat["delta"], *stat["ci95"])) if stat else "not run",
            }
        )
    return out
