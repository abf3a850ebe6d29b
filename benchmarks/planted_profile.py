"""The planted motif's profile (first-order contribution per bin) in a planted run and its control.

    python benchmarks/planted_profile.py --source runs/planted_zn_tc3/frozen2000.json \
        --json benchmarks/results/planted_profile_zn_tc3_frozen_2000.json [--motif triplet]

``--source`` is a ``planted_frozen.py`` or ``planted.py`` JSON (as for ``planted_where.py``).
On the test structures holding the motif, ``analysis.profiles.motif_profile`` of the planted
run (``--run``; default the source's only run besides the control) and of the control
``<variant>_r0``: per distance or angle bin of the motif's elements the lookup mass and the
memory's first-order contribution (meV/atom per structure). The planted bump should stand
out as a peak in the run and not in the control — the "Motif profiles" page's reading, as
numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import planted  # noqa: E402
import planted_where  # noqa: E402

from pamm.plumbing import atomic_write_json  # noqa: E402


def profiles(source_path: Path, run_name: str | None, motif_name: str) -> dict:
    """``{"config", "motif", "n_structures", "profiles": {run: rows}}`` (module docstring)."""
    from analysis.attribution import bucket_attribution
    from analysis.profiles import motif_profile
    from pamm.capture import find_pamm_backbone
    from pamm.data.planted import planted_labels
    from pamm.plumbing import load_checked_model

    source = json.loads(source_path.read_text())
    if source.get("schema", "").startswith("pamm-planted-frozen"):
        config = json.loads(Path(source["config"]["planted"]).read_text())["config"]
    else:
        config = source["config"]
    variant = config["variant"]
    planted_runs = sorted(k for k in source["runs"] if k != f"{variant}_r0")
    if run_name is None and len(planted_runs) == 1:
        run_name = planted_runs[0]
    if run_name not in planted_runs or f"{variant}_r0" not in source["runs"]:
        raise SystemExit(f"{source_path}: name the planted run with --run, one of {planted_runs}"
                         f" (and the source needs its control {variant}_r0)")  # fmt: skip
    motifs = planted.motifs_of(config)
    if motif_name not in motifs:
        raise SystemExit(f"no motif {motif_name!r}; the source plants {sorted(motifs)}")
    motif = motifs[motif_name]
    frames, _ = planted_where._held_out(config, source, motif, True)
    frames = [a for a in frames if planted_labels(a, motif)[0] != 0.0]
    out = {}
    for name in (run_name, f"{variant}_r0"):
        model = load_checked_model(Path(source["runs"][name]["checkpoint"]))
        spec = find_pamm_backbone(model).motif_memory.spec
        per = bucket_attribution(model, frames, by_key=True, forces=False)
        rows = motif_profile(per, motif.kind, tuple(motif.elements), spec)
        out[name] = rows.round(6).to_dict(orient="list")
    return {
        "schema": "pamm-planted-profile/1",
        "config": {"source": str(source_path), "run": run_name, "motif": motif_name},
        "motif": motif.to_dict(),
        "n_structures": len(frames),
        "profiles": out,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="planted(_frozen).py JSON")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--run", default=None, help="the planted run (default: the only one)")
    parser.add_argument("--motif", default="triplet")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
        torch.set_num_threads(args.threads)
    start = time.time()
    result = profiles(args.source, args.run, args.motif)
    result["wall_s"] = round(time.time() - start, 1)
    atomic_write_json(args.json, result, indent=1)
    for name, rows in result["profiles"].items():
        print(f"planted_profile: {name}")
        for lo, hi, n, c in zip(
            rows["lo"], rows["hi"], rows["n_lookups"], rows["contribution_mev"], strict=True
        ):
            if n > 0:
                print(f"  {lo:7.2f}–{hi:7.2f}  lookups {n:9.2f}  contribution {c:+9.2f} meV/atom")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
