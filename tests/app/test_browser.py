"""The dashboard in a real headless chromium: every page, a map click, the 3Dmol canvas,
the motif profile chart.

Needs Debian's ``chromium``; skipped with a reason where there is none, and FAILS
instead when ``PAMM_REQUIRE_BROWSER=1`` (CI). Screenshots land in ``test-artifacts/``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from app.harness import PAGES, new_page, streamlit_server, wait_until_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "app"


@pytest.fixture(scope="module")
def browser_page(browser):
    return new_page(browser)


@pytest.fixture(scope="module")
def server(runs_root, browser_page):
    env = {f"PAMM_{v}_ROOT": str(runs_root.parent) for v in ("DATA", "CHECKPOINT")}
    env |= {"PAMM_RUNS_ROOT": str(runs_root), "PAMM_RUN": "testrun"}
    with streamlit_server(env) as url:
        yield url


def _shot(page, name: str) -> None:
    """Save a screenshot artifact (best effort: a loaded machine may be too slow)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), animations="disabled", timeout=60_000)
    except PlaywrightTimeout:
        warnings.warn(f"screenshot {name} timed out", stacklevel=2)


def test_every_page_renders_in_chromium(server, browser_page):
    page = browser_page
    for path, (_, title) in PAGES.items():
        page.goto(f"{server}/{path}")
        wait_until_idle(page, title)
        _shot(page, path or "overview")
        assert page.locator('[data-testid="stException"]').count() == 0, path
    # warm switch through the sidebar keeps working
    page.get_by_role("link", name="Motif browser").first.click(force=True)
    wait_until_idle(page, "Motif browser")
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=60_000)


def test_map_click_selects_and_3dmol_draws(server, browser_page):
    page = browser_page
    page.goto(f"{server}/embedding")
    wait_until_idle(page, "Embedding map")
    assert page.locator("iframe").count() == 0
    point = page.locator(".js-plotly-plot .scatterlayer .point").first
    point.wait_for()
    box = point.bounding_box()  # plotly listens on its drag layer: click the spot
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.get_by_text("selected bucket(s)").first.wait_for(timeout=60_000)
    wait_until_idle(page, "Embedding map")
    # the harness turns static serving on: the viewer loads 3Dmol.js from the app's route
    assert "src='app/static/3Dmol-min.js'" in page.locator("iframe").first.get_attribute("srcdoc")
    frame = page.frame_locator("iframe").first
    canvas = frame.locator("canvas").first
    canvas.wait_for(timeout=30_000)
    box = canvas.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 100
    # headless chromium with --disable-gpu renders WebGL in software: no antialiasing
    viewer_frame = next(f for f in page.frames if f.url.startswith("about:srcdoc"))
    assert viewer_frame.evaluate("pammAntialias()") is False
    page.wait_for_timeout(500)
    _shot(page, "embedding-selected")


#: bars of a plotly chart that are drawn (bars of empty bins are zero-height paths)
_DRAWN_BARS_JS = """(chart) => Array.from(chart.querySelectorAll('.barlayer .point path'))
  .filter((p) => p.getBBox().height > 0.5).length"""


def test_profile_page_draws_the_profile_chart(server, browser_page):
    page = browser_page
    page.goto(f"{server}/profiles")
    wait_until_idle(page, "Motif profiles")
    assert page.locator('[data-testid="stException"]').count() == 0
    chart = page.locator(".js-plotly-plot").first
    chart.locator(".barlayer").first.wait_for(state="attached", timeout=60_000)
    assert chart.locator(".subplot").count() == 2  # contribution over occurrences
    page.wait_for_function(
        f"() => ({_DRAWN_BARS_JS})(document.querySelector('.js-plotly-plot')) > 1",
        timeout=60_000,
    )
    # the heading names the elements "neighbour around centre" (key order (Zj, Zi))
    heading = page.locator("h3").filter(has_text=" around ").first.inner_text()
    assert heading.count(" around ") == 1
    _shot(page, "profiles-chart")
