"""Walk a running PaMM Lab dashboard in headless chromium: every page, then one upload.

    python scripts/smoke_pages.py --url http://127.0.0.1:8501 [--screenshots DIR]

Used by ``scripts/container_smoke.sh`` against the image's own CMD, and usable against
any deployment. The first view waits for the demo's first-start analysis (on a fresh
runs volume it is computed then). Each page must show its heading with no exception element
(``stException``) and no error box (``stAlert`` of kind error); "Try a structure" then
gets a rutile TiO2 CIF uploaded and must show its prediction. Prints one JSON line per
phase with its time and exits non-zero on the first failure. Chromium is Debian's
(``/usr/bin/chromium`` or ``$PAMM_CHROMIUM``): nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.harness import PAGES as HARNESS_PAGES  # noqa: E402
from app.harness import launch_chromium, new_page, wait_until_idle  # noqa: E402

#: url path -> heading: the browser test's pages (app.harness.PAGES) and Interventions
PAGES = {path: heading for path, (_, heading) in HARNESS_PAGES.items()} | {
    "interventions": "Interventions"
}
FIRST_START_TEXT = "First start: the demo analysis run is being computed"  # app/loaders.py
ERROR_BOX = '[data-testid="stAlert"] [data-testid="stAlertContentError"]'


def _say(phase: str, start: float, **extra) -> None:
    print(json.dumps({"phase": phase, "seconds": round(time.time() - start, 2), **extra}),
          flush=True)  # fmt: skip


def _rutile_cif() -> Path:
    from pymatgen.core import Lattice, Structure

    rutile = Structure.from_spacegroup(
        "P4_2/mnm", Lattice.tetragonal(4.594, 2.959), ["Ti", "O"], [[0, 0, 0], [0.305, 0.305, 0]]
    )
    path = Path(tempfile.mkdtemp()) / "rutile.cif"
    rutile.to(filename=str(path))
    return path


def check_pages(url: str, screenshots: Path | None, timeout: float, first_start: float) -> None:
    """Open every page and upload one structure; raise AssertionError on a problem."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = new_page(browser, timeout=timeout)
        start = time.time()  # a fresh /runs: the first view starts the demo's analysis
        page.goto(url)
        page.get_by_role("heading", name=PAGES[""]).first.wait_for(timeout=timeout * 1000)
        page.wait_for_function(  # the page reruns every second until the run is there
            f"() => !document.body.innerText.includes({FIRST_START_TEXT!r})",
            timeout=first_start * 1000,
            polling=1000,
        )
        wait_until_idle(page, PAGES[""], timeout=timeout)
        _say("first start (demo analysis run ready)", start)
        for path, title in PAGES.items():
            start = time.time()
            page.goto(f"{url}/{path}")
            wait_until_idle(page, title, timeout=timeout)
            if screenshots:
                page.screenshot(path=str(screenshots / f"{path or 'overview'}.png"))
            exceptions = page.locator('[data-testid="stException"]').count()
            errors = page.locator(ERROR_BOX).all_inner_texts()
            _say(f"page {path or 'overview'}", start, exceptions=exceptions, errors=errors)
            assert exceptions == 0 and not errors, (
                f"page {title!r}: {exceptions} exceptions, {errors}"
            )
        start = time.time()
        page.goto(f"{url}/try_structure")
        wait_until_idle(page, "Try a structure", timeout=timeout)
        page.locator('input[type="file"]').set_input_files(str(_rutile_cif()))
        page.get_by_text("Energy per atom (eV)").first.wait_for(timeout=timeout * 1000)
        wait_until_idle(page, "Try a structure", timeout=timeout)
        errors = page.locator(ERROR_BOX).all_inner_texts()
        if screenshots:
            page.screenshot(path=str(screenshots / "upload.png"))
        _say("upload rutile.cif", start, errors=errors)
        assert page.locator('[data-testid="stException"]').count() == 0 and not errors, errors
        browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8501")
    parser.add_argument("--screenshots", type=Path, default=None)
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per page")
    parser.add_argument(
        "--first-start-timeout",
        type=float,
        default=900.0,
        help="seconds to wait for the demo's first-start analysis",
    )
    args = parser.parse_args(argv)
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    try:
        check_pages(args.url.rstrip("/"), args.screenshots, args.timeout, args.first_start_timeout)
    except AssertionError as err:
        print(f"smoke_pages: FAILED: {err}", file=sys.stderr)
        return 1
    print("smoke_pages: every page and the upload passed", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
