"""The planted motif's profile (first-order contribution per bin) in a planted run and its control.

    python benchmarks/planted_profile.py --source runs/planted_zn_tc3/frozen2000.json \
        --json benchmarks/results/planted_profile_zn_tc3_frozen_2000.json [--motif triplet]

``--source`` is a ``planted_frozen.py`` or ``planted.py`` JSON (as for ``planted_where.py``).
On the test structures holding the motif, ``analysis.profiles.motif_profile`` of the planted
run (``--run``; default ``<variant>_r1``, else the only one) and of the control
``<variant>_r0``: per distance or angle bin of the motif's elements the lookup mass and the
memory's first-order contribution (meV/atom per structure). The planted bump should stand
out as a peak in the run and not in the control — the "Motif profiles" page's reading, as
numbers.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

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

    source, config, run_name, motifs = planted_where.read_source(source_path, run_name, motif_name)
    variant = config["variant"]
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
    planted_where.source_arguments(parser)
    args = parser.parse_args(argv)
    planted.set_threads(args.threads)
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
