"""scripts/smoke_pages.py waits for what the app really shows and visits every page."""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

import smoke_pages  # noqa: E402


def test_first_start_wait_matches_the_app_text() -> None:
    # the smoke check waits for this text to go away; if the app reworded it, the wait
    # would end at once and the pages would be checked while the analysis still runs
    loaders = (REPO / "app" / "loaders.py").read_text()
    assert smoke_pages.FIRST_START_TEXT in re.sub(r'"\s+"', "", loaders)


def test_every_page_of_the_app_is_visited() -> None:
    entry = (REPO / "app" / "streamlit_app.py").read_text()
    titles = re.findall(r'st\.Page\("views/(\w+)\.py", title="([^"]+)"', entry)
    assert len(titles) == len(smoke_pages.PAGES) >= 9  # the nine pages, Motif profiles too
    headings = set(smoke_pages.PAGES.values())
    for view, title in titles:
        assert title in headings or view == "overview", (view, title)
