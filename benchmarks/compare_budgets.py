"""Two comparison tables side by side: what a shorter training budget costs in accuracy.

    python benchmarks/compare_budgets.py benchmarks/results/steps300/results.json \
        benchmarks/results/results.json [--json out.json]

Reads the ``results.json`` of ``benchmarks/compare.py table`` at each budget and prints a
Markdown table (stdout): per variant and split, the seed-mean ± std of the energy and force
MAE at every budget, and for every claim of the paper its verdict and interval at every
budget. ``--json`` also writes the same numbers. Nothing is recomputed: a table that was
aggregated from fewer seeds shows that seed count.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from benchmarks.compare_table import ORDER  # noqa: E402
from pamm.plumbing import atomic_write_json  # noqa: E402

SPLITS = ("test", "heldout", "heldout_chemistry")
METRICS = {"energy_mae_mev_per_atom": "E", "force_mae_mev_per_a": "F"}


def load(path: Path) -> dict[str, Any]:
    """One ``results.json``; a clear error if it is not one."""
    data = json.loads(Path(path).read_text())
    if data.get("schema") != "pamm-compare/1" or "variants" not in data:
        raise SystemExit(f"{path}: not a results.json of benchmarks/compare.py (pamm-compare/1)")
    return data


def errors_by_budget(tables: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows (variant, split, metric, steps, mean, std, seeds) of every table."""
    rows = []
    for table in tables:
        steps = table["budget"]["steps"]
        for variant, record in table["variants"].items():
            for split in SPLITS:
                overall = record["splits"].get(split, {}).get("overall", {})
                for metric in METRICS:
                    if metric in overall:
                        cell = overall[metric]
                        rows.append({"variant": variant, "split": split, "metric": metric,
                                     "steps": steps, "mean": cell["mean"], "std": cell["std"],
                                     "seeds": cell["n"]})  # fmt: skip
    return rows


def claims_by_budget(tables: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows (pair, claim, steps, delta, ci95, verdict) of every table's claims."""
    rows = []
    for table in tables:
        for pair, claims in table["claims"].items():
            for claim in claims:
                keep = {k: claim[k] for k in ("claim", "delta", "ci95", "verdict")}
                rows.append({"pair": pair, "steps": table["budget"]["steps"]} | keep)
    return rows


def _verdict_cell(row: dict[str, Any] | None) -> str:
    """``Δ [low, high] verdict`` of one claim at one budget, ``–`` if that table lacks it."""
    if row is None:
        return "–"
    low, high = row["ci95"]
    return f"{row['delta']:+.2f} [{low:+.2f}, {high:+.2f}] {row['verdict']}"


def markdown(errors: list[dict[str, Any]], claims: list[dict[str, Any]]) -> str:
    """The two tables as Markdown (budgets as columns)."""
    budgets = sorted({r["steps"] for r in errors})
    lines = ["| variant | split | " + " | ".join(f"{s} steps E / F" for s in budgets) + " |",
             "|---|---|" + "---|" * len(budgets)]  # fmt: skip
    keyed = {(r["variant"], r["split"], r["metric"], r["steps"]): r for r in errors}
    rank = {v: i for i, v in enumerate(ORDER)}
    pairs = dict.fromkeys((r["variant"], r["split"]) for r in errors)
    for variant, split in sorted(pairs, key=lambda p: (rank.get(p[0], len(rank)), p[0])):
        cells = []
        for steps in budgets:
            parts = [keyed.get((variant, split, m, steps)) for m in METRICS]
            text = " / ".join(f"{p['mean']:.1f} ± {p['std']:.1f}" if p else "–" for p in parts)
            cells.append(text + (f" ({parts[0]['seeds']})" if parts[0] else ""))
        lines.append(f"| {variant} | {split} | " + " | ".join(cells) + " |")
    lines += ["", "| pair | claim | " + " | ".join(f"{s} steps" for s in budgets) + " |",
              "|---|---|" + "---|" * len(budgets)]  # fmt: skip
    verdicts = {(r["pair"], r["claim"], r["steps"]): r for r in claims}
    for pair, claim in dict.fromkeys((r["pair"], r["claim"]) for r in claims):
        cells = [_verdict_cell(verdicts.get((pair, claim, steps))) for steps in budgets]
        lines.append(f"| {pair} | {claim} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, nargs="+", help="results.json of each budget")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    tables = [load(p) for p in args.results]
    out = {"sources": [str(p) for p in args.results], "errors": errors_by_budget(tables),
           "claims": claims_by_budget(tables)}  # fmt: skip
    print(markdown(out["errors"], out["claims"]), end="")
    if args.json:
        atomic_write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
