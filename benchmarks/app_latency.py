"""Dashboard latency through a real browser: cold start and warm page switches.

    python benchmarks/app_latency.py --json OUT [--runs-root DIR] [--run NAME] [--repeats 3]

Starts ``streamlit run`` headless, drives Debian chromium with Playwright and times
(a) cold start: server launch until the overview page has finished rendering,
(b) first visit of every page (its caches filled on the way),
(c) warm switches: clicking each page in the sidebar once everything is cached
(median of ``--repeats``). Targets on the demo: warm < 1 s, cold < 5 s. Prints JSON
(and writes it to ``--json``). The run must exist (``pamm demo --prepare`` builds the
demo's); the benchmark never computes an analysis.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.harness import (
    PAGES,
    chromium_path,
    launch_chromium,
    new_page,
    streamlit_server,
    wait_until_idle,
)

TARGET_WARM_S = 1.0
TARGET_COLD_S = 5.0


def measure(runs_root: Path, run: str, repeats: int) -> dict:
    """All timings of one server lifetime, in seconds."""
    from playwright.sync_api import sync_playwright

    env = {"PAMM_RUNS_ROOT": str(runs_root), "PAMM_RUN": run}
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = new_page(browser)
        t0 = time.perf_counter()
        with streamlit_server(env) as url:
            t_healthy = time.perf_counter() - t0
            page.goto(url)
            wait_until_idle(page, PAGES[""][1])
            cold = time.perf_counter() - t0
            first_visit = {}
            for path, (_, title) in PAGES.items():
                t = time.perf_counter()
                page.goto(f"{url}/{path}")
                wait_until_idle(page, title)
                first_visit[path or "overview"] = time.perf_counter() - t
            warm: dict[str, list[float]] = {p or "overview": [] for p in PAGES}
            order = list(PAGES.items())
            for _ in range(repeats):
                for path, (link, title) in order[1:] + order[:1]:
                    t = time.perf_counter()
                    page.get_by_role("link", name=link).first.click(force=True)
                    wait_until_idle(page, title)
                    warm[path or "overview"].append(time.perf_counter() - t)
        browser.close()
    warm_median = {k: statistics.median(v) for k, v in warm.items()}
    return {
        "server_healthy_s": round(t_healthy, 3),
        "cold_start_s": round(cold, 3),
        "first_visit_s": {k: round(v, 3) for k, v in first_visit.items()},
        "warm_switch_s": {k: round(v, 3) for k, v in warm_median.items()},
        "warm_switch_max_s": round(max(warm_median.values()), 3),
        "targets": {"warm_s": TARGET_WARM_S, "cold_s": TARGET_COLD_S},
        "meets_targets": cold < TARGET_COLD_S and max(warm_median.values()) < TARGET_WARM_S,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the JSON here too")
    parser.add_argument(
        "--runs-root",
        type=Path,
        default=Path(os.environ.get("PAMM_RUNS_ROOT", "runs")),
        help="folder of analysis runs (default $PAMM_RUNS_ROOT or ./runs)",
    )
    parser.add_argument("--run", default=os.environ.get("PAMM_RUN", "demo"), help="run name")
    parser.add_argument("--repeats", type=int, default=3, help="warm switches per page")
    args = parser.parse_args(argv)
    if chromium_path() is None:
        print("app_latency: no chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    run_dir = args.runs_root.resolve() / args.run
    if not (run_dir / "manifest.json").is_file():
        print(f"app_latency: no analysis run at {run_dir} (try `pamm demo --prepare`)",
              file=sys.stderr)  # fmt: skip
        return 2
    result = {
        "benchmark": "app_latency",
        "run": str(run_dir),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1m": os.getloadavg()[0],
        },
        **measure(args.runs_root.resolve(), args.run, args.repeats),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_suffix(args.json.suffix + ".tmp")
        tmp.write_text(text + "\n")
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
