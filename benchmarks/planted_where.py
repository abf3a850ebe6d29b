"""Where does a model keep a planted term? Removal by groups of motif keys, net of the control.

    python benchmarks/planted_where.py --source runs/planted_flat/frozen1000.json \
        --json benchmarks/results/planted_where_frozen1000.json [--motif triplet] [--threads 1]

``--source`` is a ``planted_frozen.py`` JSON (or a ``planted.py`` one: then ``--run`` names
the planted run if it holds several and none is ``<variant>_r1``). Its planted run and its
control ``<variant>_r0`` are loaded; on the held-out structures (the source's eval set plus,
unless ``--eval-only``, every other test structure holding the motif) each named group of
motif keys is switched off (its rows read as zero, every head) in both models, and

    net_s(G) = [E_s − E_s(G off)]_planted run − [E_s − E_s(G off)]_control

is what the planted run keeps in G beyond what the control already kept there. Against the
planted term P_s (ε as trained) this gives per group ``share_of_planted`` = Σ net / Σ P and
``share_of_captured`` = Σ net / Σ (E_planted run − E_control), both over the structures
holding the motif, and ``elsewhere_mev_per_atom`` = mean |net| per atom on structures
without it. A structure holding the motif may hold the run's other planted motif too (a
zinc silicate: Zn–O–Zn and Si–O), and then what the run keeps for that one counts in these
sums; ``share_of_planted_alone`` / ``captured_fraction_alone`` are the same ratios over the
``n_alone`` structures whose other planted terms are exactly zero. For a memory-only
fine-tune (backbone and heads frozen) the group ``memory`` (the whole memory off) has net =
E_planted run − E_control exactly: a built-in check (``memory_identity_max_abs_ev``; for a
fully trained run the backbone changed too, and that field only says by how much the two
differ). The model is not linear: shares of disjoint groups need not add up to the whole.

Groups (motif (A, C, B): A and B the outer elements, C the centre; a pair motif (A, C)):
the planted keys (the recovery's ablation bins), the same elements in the other bins, the
keys that share the motif's atoms (for a triplet: the outer pair A–B, the bonds A–C / B–C,
other triplets at C with an A or B partner, triplets centred on A or B with a C partner),
the rest of each table, each whole table, and the whole memory.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import planted  # noqa: E402

from pamm.plumbing import atomic_write_json  # noqa: E402

#: predicate on the unpacked key (pair: zj, zi, b; triplet: zj, zi, zk, b) -> bool tensor
Predicate = Callable[..., torch.Tensor]


def _isin(x: torch.Tensor, values) -> torch.Tensor:
    return torch.isin(x, torch.as_tensor(sorted(values), dtype=x.dtype))


def key_groups(motif, ablation_bins) -> dict[str, tuple[str | None, Predicate | None]]:
    """Named groups ``name -> (table, predicate)``; ``(None, None)`` is the whole memory."""
    from ase.data import atomic_numbers

    z = [atomic_numbers[e] for e in motif.elements]
    bins = tuple(ablation_bins)
    every: Predicate = lambda *k: torch.ones_like(k[0], dtype=torch.bool)  # noqa: E731
    if motif.kind == "triplet":
        a, c, b = z
        outer = {a, b}

        def same(zj, zi, zk, _b):
            return (zi == c) & (((zj == a) & (zk == b)) | ((zj == b) & (zk == a)))

        def at_c(zj, zi, zk, bb):
            return (zi == c) & (_isin(zj, outer) | _isin(zk, outer)) & ~same(zj, zi, zk, bb)

        def at_outer(zj, zi, zk, _b):
            return _isin(zi, outer) & ((zj == c) | (zk == c))

        def outer_pair(zj, zi, _b):
            return ((zj == a) & (zi == b)) | ((zj == b) & (zi == a))

        def bonds(zj, zi, _b):
            return (_isin(zj, outer) & (zi == c)) | ((zj == c) & _isin(zi, outer))

        groups = {
            "planted keys": ("triplet", lambda *k: same(*k) & _isin(k[3], bins)),
            "motif, other angle bins": ("triplet", lambda *k: same(*k) & ~_isin(k[3], bins)),
            "triplets at the centre with an outer partner": ("triplet", at_c),
            "triplets centred on an outer atom with a centre partner": ("triplet", at_outer),
            "other triplets": (
                "triplet", lambda *k: ~(same(*k) | at_c(*k) | at_outer(*k)),
            ),
            "pair: outer pair": ("pair", outer_pair),
            "pair: bonds to the centre": ("pair", bonds),
            "other pairs": ("pair", lambda *k: ~(outer_pair(*k) | bonds(*k))),
        }  # fmt: skip
    else:
        a, c = z

        def same(zj, zi, _b):
            return ((zj == a) & (zi == c)) | ((zj == c) & (zi == a))

        def shares(zj, zi, bb):
            return (_isin(zj, {a, c}) | _isin(zi, {a, c})) & ~same(zj, zi, bb)

        def on_edge(zj, zi, zk, _b):
            return ((zi == c) & ((zj == a) | (zk == a))) | ((zi == a) & ((zj == c) | (zk == c)))

        groups = {
            "planted keys": ("pair", lambda *k: same(*k) & _isin(k[2], bins)),
            "motif, other distance bins": ("pair", lambda *k: same(*k) & ~_isin(k[2], bins)),
            "other pairs with a motif element": ("pair", shares),
            "other pairs": ("pair", lambda *k: ~(same(*k) | shares(*k))),
            "triplets on a motif edge": ("triplet", on_edge),
            "other triplets": ("triplet", lambda *k: ~on_edge(*k)),
        }
    return groups | {
        "pair table": ("pair", every),
        "triplet table": ("triplet", every),
        "memory": (None, None),
    }


@contextmanager
def keys_off(model: torch.nn.Module, table: str | None, predicate: Predicate | None) -> Iterator:
    """Rows of the keys of ``table`` where ``predicate`` holds read as zero (every head);
    ``table=None``: the whole memory off (``pamm.ablation``'s ``memory`` ablation)."""
    from pamm.ablation import Ablation, ablate
    from pamm.capture import find_pamm_backbone
    from pamm.keys import unpack_pair_key, unpack_triplet_key

    if table is None:
        with ablate(model, Ablation("memory")):
            yield
        return
    memory = find_pamm_backbone(model).motif_memory
    if getattr(memory, f"{table}_table") is None:
        raise ValueError(f"the model has no {table} table")
    unpack = unpack_pair_key if table == "pair" else unpack_triplet_key

    def edit(name: str, rows: torch.Tensor, bucket: torch.Tensor, key: torch.Tensor):
        if name != table:
            return rows
        off = predicate(*unpack(key))  # [N]
        return rows.masked_fill(off.unsqueeze(1), 0.0)  # [N, H*D]: every head

    if memory.row_edit is not None:
        raise RuntimeError("keys_off does not nest with other ablations")
    memory.row_edit = edit
    try:
        yield
    finally:
        memory.row_edit = None


def _held_out(config: dict, source: dict, motif, all_with_motif: bool) -> tuple[list, list]:
    """Frames and their test-split indices: the eval set, plus every test structure holding
    the motif when ``all_with_motif``."""
    from pamm.data.planted import planted_labels
    from pamm.evaluate import read_split

    test = read_split(Path(config["data"]) / "test")
    index = list(source["eval"]["index"])
    if all_with_motif:
        unit = motif.scaled(1.0)
        index += [
            i for i in range(len(test)) if i not in set(index) and planted_labels(test[i], unit)[0]
        ]
    return [test[i] for i in index], index


def other_planted(frames: list, others: list) -> np.ndarray:
    """[S] eV: the summed planted terms of ``others`` (motifs at their ε) per structure."""
    from pamm.data.planted import planted_labels

    return np.array([sum(planted_labels(a, m)[0] for m in others) for a in frames], float)


def _ratio(num: np.ndarray, den: np.ndarray, mask: np.ndarray) -> float | None:
    """Σ num / Σ den over ``mask``; None on an empty mask."""
    return float(num[mask].sum() / den[mask].sum()) if mask.any() else None


def read_source(source_path: Path, run_name: str | None, motif_name: str):
    """``(source, config, run_name, motifs)`` of a planted(_frozen).py JSON; ``run_name`` None:
    ``<variant>_r1``, else the source's only planted run of its variant."""
    source = json.loads(source_path.read_text())
    if source.get("schema", "").startswith("pamm-planted-frozen"):
        config = json.loads(Path(source["config"]["planted"]).read_text())["config"]
    else:
        config = source["config"]
    variant = config["variant"]
    control = f"{variant}_r0"
    planted_runs = sorted(
        k for k in source["runs"] if k.startswith(f"{variant}_r") and k != control
    )
    if run_name is None and f"{variant}_r1" in planted_runs:
        run_name = f"{variant}_r1"
    elif run_name is None and len(planted_runs) == 1:
        run_name = planted_runs[0]
    if run_name not in planted_runs or control not in source["runs"]:
        raise SystemExit(f"{source_path}: name the planted run with --run, one of"
                         f" {planted_runs} (and the control {control})")  # fmt: skip
    planted_here = source["runs"][run_name]["epsilon_ev"]  # a `--only` fine-tune plants one
    motifs = {k: m for k, m in planted.motifs_of(config).items() if k in planted_here}
    if motif_name not in motifs:
        raise SystemExit(f"no motif {motif_name!r}; {run_name} plants {sorted(motifs)}")
    return source, config, run_name, motifs


def source_arguments(parser: argparse.ArgumentParser) -> None:
    """The options ``planted_where.py`` and ``planted_profile.py`` share."""
    parser.add_argument("--source", type=Path, required=True, help="planted(_frozen).py JSON")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument(
        "--run", default=None, help="the planted run (default <variant>_r1, else the only one)"
    )
    parser.add_argument("--motif", default="triplet")
    parser.add_argument("--threads", type=int, default=0)


def decompose(source_path: Path, run_name: str | None, motif_name: str, all_with_motif: bool):
    """The result dict (module docstring) of ``run_name`` in ``source_path``."""
    from ase.data import chemical_symbols

    from analysis.ablation_effects import MEV, predict
    from analysis.recovery import planted_keys
    from pamm.capture import find_pamm_backbone
    from pamm.data.planted import planted_labels
    from pamm.plumbing import load_checked_model

    source, config, run_name, motifs = read_source(source_path, run_name, motif_name)
    variant, runs = config["variant"], source["runs"]
    motif = motifs[motif_name].scaled(runs[run_name]["epsilon_ev"][motif_name])
    frames, index = _held_out(config, source, motif, all_with_motif)
    p = np.array([planted_labels(a, motif)[0] for a in frames])  # [S] eV at ε
    has = p != 0.0
    others = [m.scaled(runs[run_name]["epsilon_ev"][k]) for k, m in motifs.items()
              if k != motif_name]  # fmt: skip
    other_p = other_planted(frames, others)
    alone = has & (other_p == 0.0)
    natoms = np.array([len(a) for a in frames], float)

    names = (run_name, f"{variant}_r0")
    models = {k: load_checked_model(Path(runs[k]["checkpoint"])) for k in names}
    spec = find_pamm_backbone(models[run_name]).motif_memory.spec
    groups = key_groups(motif, planted_keys(motif, spec).ablation_bins)
    _, rest = groups["other triplets"]
    for z in sorted({int(z) for a in frames for z in a.numbers}):
        groups[f"other triplets centred on {chemical_symbols[z]}"] = (
            "triplet", lambda *k, z=z: rest(*k) & (k[1] == z),
        )  # fmt: skip
    reference = {k: predict(m, frames).energy for k, m in models.items()}
    captured = reference[run_name] - reference[f"{variant}_r0"]  # [S] eV
    out_groups = {}
    for name, (table, predicate) in groups.items():
        removed = {}
        for k, model in models.items():
            with keys_off(model, table, predicate):
                removed[k] = reference[k] - predict(model, frames).energy  # [S] eV
        net = removed[run_name] - removed[f"{variant}_r0"]
        out_groups[name] = {
            "table": table or "memory",
            "share_of_planted": float(net[has].sum() / p[has].sum()),
            "share_of_captured": float(net[has].sum() / captured[has].sum()),
            "share_of_planted_alone": _ratio(net, p, alone),
            "removal_ratio_run": float(removed[run_name][has].sum() / p[has].sum()),
            "elsewhere_mev_per_atom": float(MEV * np.abs(net[~has] / natoms[~has]).mean())
            if (~has).any()
            else None,
            "net_ev": net.round(8).tolist(),
        }
        share, alone_share = (
            out_groups[name][k] for k in ("share_of_planted", "share_of_planted_alone")
        )
        alone_text = "" if alone_share is None else f"  alone {alone_share:+.3f}"
        print(f"planted_where: {name:58s} share of planted {share:+.3f}{alone_text}", flush=True)
    return {
        "schema": "pamm-planted-where/1",
        "config": {
            "source": str(source_path),
            "run": run_name,
            "motif": motif_name,
            "all_with_motif": all_with_motif,
            "overrides": source["config"].get("overrides"),
            "steps": source["config"].get("steps"),
        },
        "motif": motif.to_dict(),
        "n_structures": len(frames),
        "n_with_motif": int(has.sum()),
        "test_index": index,
        "planted_ev": p.round(8).tolist(),
        "captured_fraction": float(captured[has].sum() / p[has].sum()),
        "n_alone": int(alone.sum()),
        "captured_fraction_alone": _ratio(captured, p, alone),
        "other_planted_ev": other_p.round(8).tolist(),
        "memory_identity_max_abs_ev": float(
            np.abs(np.array(out_groups["memory"]["net_ev"]) - captured).max()
        ),
        "groups": out_groups,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source_arguments(parser)
    parser.add_argument("--eval-only", action="store_true",
                        help="only the source's eval set (default: add every test structure "
                             "holding the motif)")  # fmt: skip
    args = parser.parse_args(argv)
    planted.set_threads(args.threads)
    start = time.time()
    result = decompose(args.source, args.run, args.motif, not args.eval_only)
    result["wall_s"] = round(time.time() - start, 1)
    atomic_write_json(args.json, result, indent=1)
    summary = {
        k: [round(v[f], 4) if v[f] is not None else None
            for f in ("share_of_planted", "share_of_planted_alone")]
        for k, v in result["groups"].items()
    }  # fmt: skip
    print(json.dumps({k: result[k] for k in ("captured_fraction", "n_with_motif", "n_alone",
                                             "captured_fraction_alone")}
                     | {"shares [all, alone]": summary}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
