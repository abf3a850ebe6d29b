"""``compare.py export-demo``: the seed-0 checkpoints and their card into assets/checkpoints.

Split from ``benchmarks/compare.py`` (which dispatches to :func:`cmd_export_demo`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from benchmarks.compare import DEMO_CHECK_STRUCTURES, DEMO_VARIANTS, _write_json, run_name
from pamm.evaluate import load_predictor
from pamm.plumbing import atomic_write, atomic_write_text

__all__ = ["cmd_export_demo"]


def cmd_export_demo(args: argparse.Namespace) -> int:
    """Copy the seed-``--seed`` checkpoints of ``--variants`` + metrics into ``--dest``."""
    from pamm.evaluate import read_split, structure_errors, summarize

    args.dest.mkdir(parents=True, exist_ok=True)
    for variant in args.variants if not args.card_only else ():
        record = json.loads(
            (args.out / "runs" / f"{run_name(variant, args.seed)}.json").read_text()
        )
        ckpt = args.dest / f"{variant}.pt"
        with Path(record["checkpoint"]).open("rb") as src:
            atomic_write(ckpt, lambda fh, src=src: shutil.copyfileobj(src, fh))
        predictor = load_predictor(ckpt)
        first = read_split(args.data / "test", limit=DEMO_CHECK_STRUCTURES)
        check = summarize(structure_errors(predictor, first, batch_size=8))
        metrics = {
            "schema": "pamm-demo-checkpoint/1",
            "variant": variant,
            "checkpoint": ckpt.name,
            "sha256": hashlib.sha256(ckpt.read_bytes()).hexdigest(),
            "size_bytes": ckpt.stat().st_size,
            "trained": {k: record[k] for k in ("config", "seed", "steps", "batch_size", "lr")},
            "overrides": record["overrides"],
            "params_total": record["params_total"],
            "params_memory": record["params_memory"],
            "wall_s_per_step": record["wall_s_per_step"],
            "trained_by": record.get("trained_by", ""),
            "init_from": record.get("init_from", ""),
            "train_only": record.get("train_only", ""),
            "eval_limit": record["eval_limit"],
            "metrics": record["metrics"],
            f"test_first{DEMO_CHECK_STRUCTURES}": check,
        }
        _write_json(args.dest / f"{variant}.metrics.json", metrics)
        print(f"compare: {ckpt} ({ckpt.stat().st_size / 1e6:.1f} MB)")
    # the card lists every bundled checkpoint, also those not exported this time
    found = [args.dest / f"{v}.metrics.json" for v in DEMO_VARIANTS]
    cards = [json.loads(p.read_text()) for p in found if p.is_file()]
    card = args.dest / "README.md"
    atomic_write_text(card, _demo_card(cards, args))
    return 0


CARD_SPLITS = ("test", "heldout", "heldout_chemistry")


def _floor_lines(data: Path) -> list[str]:
    """Composition-only and ridge energy MAE per split from ``DATA/statistics.json``."""
    stats_path = data / "statistics.json"
    if not stats_path.is_file():
        return []
    splits = json.loads(stats_path.read_text())["splits"]
    cells = [
        f"{split} {splits[split]['composition_mae_meV']:.0f} / {splits[split]['ridge_mae_meV']:.0f}"
        for split in CARD_SPLITS
        if split in splits
    ]
    return [
        "",
        "The floor any model must beat (energy MAE, meV/atom, composition-only / ridge on",
        f"element-pair distance histograms; `{data.name}/statistics.json`): {'; '.join(cells)}.",
    ]


def _steps_cell(card: dict[str, Any]) -> str:
    """Training steps; ``N (fine-tuned)`` for a checkpoint trained on from another one."""
    steps = card["trained"]["steps"]
    return f"{steps} (fine-tuned)" if card.get("init_from") else str(steps)


def _finetune_lines(cards: list[dict[str, Any]]) -> list[str]:
    """One sentence per fine-tuned checkpoint: what it started from, steps and learning rate."""
    lines = [
        f"- `{c['checkpoint']}`: fine-tuned from {c['init_from']} with a zero-initialised "
        f"memory attached (`pamm attach`: at step 0 exactly its predictions), then "
        f"{c['trained']['steps']} steps at lr {c['trained']['lr']:g}"
        + (
            f" with only the {c['train_only']} trainable (`--train-only {c['train_only']}`:"
            " backbone and heads frozen at the start checkpoint's weights)."
            if c.get("train_only")
            else "."
        )
        for c in cards
        if c.get("init_from")
    ]
    if any(c.get("init_from") and not c.get("train_only") for c in cards):
        lines.append(
            "  The checkpoints they started from were not trained for the same extra steps, so"
            " the gain over their rows is not the memory's alone."
        )
    if any(c.get("train_only") == "memory" for c in cards):
        lines.append(
            "  With the backbone frozen, what such a checkpoint gains over its start is the"
            " memory's: the motif memory and its fusion are the only weights that moved."
        )
    return ["", *lines] if lines else []


def _demo_card(cards: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """The Markdown card of the bundled checkpoints (config, budget, metrics, reproduce)."""
    t = cards[0]["trained"]
    trained_by = sorted({c.get("trained_by") or "benchmarks/compare.py run" for c in cards})
    lines = [
        "# Demo checkpoints (PaMM Lab)",
        "",
        "Tiny eSCN-MD models trained on the bundled CHGNet-labelled oxide data (`assets/data`,",
        "card `assets/data/README.md`): the plain baseline and PaMM with gate-only and",
        "affine-equipped fusion, smooth (conservative) lookups. Their labels are CHGNet's, not",
        "DFT. Each file is a fairchem inference checkpoint (`fairchem -c` output, EMA weights):",
        "",
        "```python",
        "from fairchem.core import FAIRChemCalculator",
        "from pamm.evaluate import load_predictor   # load_predict_unit(compile=False) on CPU",
        'unit = load_predictor("assets/checkpoints/gate.pt")',
        'atoms.calc = FAIRChemCalculator(unit, task_name="omat")',
        "```",
        "",
        "For the dashboard and notebooks, `pamm.checkpoint.load_pamm_model(path)` gives the bare",
        "`HydraModel` with the same EMA weights and outputs in eV / eV/Å (normaliser and element",
        "references applied by `pamm.units`), equal to the calculator's.",
        "",
        "Config: `pamm/configs/<variant>.yaml` (sphere/hidden/edge channels 32, 2 layers,",
        "lmax 2, cutoff 6 Å, PaMM tables 2x4096 pair + 2x16384 triplet rows x 16 dims),",
        f"seed {t['seed']}.",
        f"Budget: the steps below x {t['batch_size']} structures, AdamW (lr {t['lr']:g} unless"
        " stated) with warm-up + cosine,",
        "EMA decay 1 - 10/steps, energy refs fitted on train (`pamm.train.fit_references`).",
        "Same seed, so the same data order and (paired initialisation) the same backbone and",
        "head weights at step 0.",
        "",
        "| checkpoint | MB | params (memory) | steps | split | E meV/atom | F meV/Å | S meV/Å³ "
        "| n |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cards:
        for split in CARD_SPLITS:
            o = c["metrics"].get(split, {}).get("overall")
            if o is None:
                continue
            lines.append(
                f"| {c['checkpoint']} | {c['size_bytes'] / 1e6:.1f} | {c['params_total']:,} "
                f"({c['params_memory']:,}) | {_steps_cell(c)} | {split} | "
                f"{o['energy_mae_mev_per_atom']:.1f} | "
                f"{o['force_mae_mev_per_a']:.0f} | {o['stress_mae_mev_per_a3']:.2f} | "
                f"{o['n_structures']} |"
            )
    lines += _finetune_lines(cards)
    lines += _floor_lines(args.data)
    lines += [
        "",
        "One seed each: differences between these rows are not a comparison of the variants",
        "(that is the comparison table: several seeds, paired intervals, 175 steps;",
        "`benchmarks/results/oxides319/results.md` on the bundled 319-parent data,",
        "`benchmarks/results/results.md` on its 239-parent version).",
    ]
    lines += [
        "",
        "Splits are by parent crystal: `test` = unseen parents of the training families,",
        "`heldout` = unseen parents sampled by families never trained on",
        "(aimd-from-PBE-3000-nvt/npt), `heldout_chemistry` = the Mg–Ti oxides, never trained",
        "on. Per-family numbers and the first-"
        f"{DEMO_CHECK_STRUCTURES}-test-structures check (re-scored by",
        "`tests/assets/test_checkpoints.py`) are in `<variant>.metrics.json`.",
        "",
        "Reproduce: `scripts/train_demo_checkpoints.sh` (trained by: "
        + "; ".join(f"`{cmd}`" for cmd in trained_by)
        + ").",
        "",
    ]
    return "\n".join(lines)
