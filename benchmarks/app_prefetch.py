"""What the background imports (``app.prefetch``) buy a user: first visit of a 3D page.

    python benchmarks/app_prefetch.py --json OUT [--dwell 20] [--page motifs]

For ``PAMM_PREFETCH`` on and off, each on a fresh server with a fresh browser: open the
overview, stay ``--dwell`` seconds (a user reading it), then click ``--page`` and time
its first visit until shown (as ``benchmarks/app_latency.py``). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.harness import (
    PAGES,
    launch_chromium,
    new_page,
    streamlit_server,
    wait_until_idle,
    wait_until_settled,
)
from pamm.plumbing import atomic_write_json


def first_visit_after_dwell(env: dict[str, str], dwell: float, path: str) -> float:
    """Seconds from clicking ``path`` until shown, ``dwell`` s after the overview settled."""
    from playwright.sync_api import sync_playwright

    link, title = PAGES[path]
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = new_page(browser, timeout=600)
        with streamlit_server(env) as url:
            page.goto(url)
            wait_until_idle(page, PAGES[""][1], timeout=600)
            wait_until_settled(page, timeout=600)
            time.sleep(dwell)
            start = time.perf_counter()
            page.get_by_role("link", name=link).first.click(force=True)
            ago = wait_until_idle(page, title, timeout=600)
            seconds = time.perf_counter() - start - ago
        browser.close()
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the JSON here (atomically)")
    parser.add_argument("--runs-root", default="runs", help="holds the run (default ./runs)")
    parser.add_argument("--run", default="demo")
    parser.add_argument("--dwell", type=float, default=20.0, help="seconds on the overview")
    parser.add_argument("--page", default="motifs", choices=[p for p in PAGES if p])
    args = parser.parse_args(argv)
    root = Path(args.runs_root).resolve()
    if not (root / args.run / "manifest.json").is_file():
        parser.error(f"no run {args.run!r} under {root} (`pamm demo --prepare` builds the demo)")
    base = {"PAMM_RUNS_ROOT": str(root), "PAMM_RUN": args.run}
    load_before = [round(x, 2) for x in os.getloadavg()]
    visits = {
        state: round(
            first_visit_after_dwell({**base, "PAMM_PREFETCH": flag}, args.dwell, args.page), 3
        )
        for state, flag in (("prefetch_on", "1"), ("prefetch_off", "0"))
    }
    result = {
        "benchmark": "app_prefetch",
        "page": args.page,
        "dwell_s": args.dwell,
        "first_visit_s": visits,
        "cpus": os.cpu_count(),
        "load_avg_before": load_before,
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result, indent=2))
    if args.json:
        atomic_write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
