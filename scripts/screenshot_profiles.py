"""Screenshot the Motif profiles page of an analysis run (the picture in docs/PROBES.md).

    pamm demo --prepare                       # the demo run, with its stored probes
    python scripts/screenshot_profiles.py --runs-root runs --run demo \\
        --elements "O around Si" --out docs/img/motif_profiles.png

Serves the dashboard headless on the run (``app.harness``), opens "Motif profiles" in
Debian's chromium, picks ``--table`` and types ``--elements`` into the elements box (the
label the page shows, e.g. "O around Si" or "O–Si–O"), waits until everything is drawn
and writes a PNG of the viewport, reduced to a 256-colour palette (well under 300 kB).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.harness import (  # noqa: E402
    launch_chromium,
    new_page,
    streamlit_server,
    wait_until_idle,
    wait_until_settled,
)

TITLE = "Motif profiles"


def screenshot(
    runs_root: Path, run: str, out: Path, *, table: str = "pair", elements: str | None = None
) -> int:
    """Write the page's screenshot to ``out``; returns its size in bytes."""
    from PIL import Image
    from playwright.sync_api import sync_playwright

    env = {"PAMM_RUNS_ROOT": str(runs_root.resolve()), "PAMM_RUN": run}
    with streamlit_server(env) as url, sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = new_page(browser)
        page.set_viewport_size({"width": 1300, "height": 1000})
        page.goto(f"{url}/profiles")
        wait_until_idle(page, TITLE)
        if table != "pair":
            page.get_by_text(table, exact=True).first.click()
            wait_until_idle(page, TITLE)
        if elements:
            box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Elements").first
            box.click()
            page.keyboard.type(elements)
            page.keyboard.press("Enter")
            wait_until_idle(page, TITLE)
            page.get_by_role("heading", name=elements).first.wait_for()
        page.locator(".js-plotly-plot .barlayer").first.wait_for(state="attached")
        wait_until_settled(page)
        page.mouse.move(0, 0)  # no hover label in the picture
        png = page.screenshot(animations="disabled")
        browser.close()
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out, optimize=True)
    return out.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-root", type=Path, default=Path(os.environ.get(
        "PAMM_RUNS_ROOT", "runs")))  # fmt: skip
    parser.add_argument("--run", default="demo")
    parser.add_argument("--table", choices=("pair", "triplet"), default="pair")
    parser.add_argument("--elements", default=None, help='e.g. "O around Si" (default: first)')
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "motif_profiles.png")
    args = parser.parse_args(argv)
    size = screenshot(args.runs_root, args.run, args.out, table=args.table, elements=args.elements)
    print(f"{args.out}: {size / 1024:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
