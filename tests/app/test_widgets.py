"""Presentation helpers of the pages: the per-process figure cache and the viewer URL."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from app import widgets
from app.harness import APP_DIR
from app.viewer import STATIC_DIR


@pytest.fixture(autouse=True)
def _empty_store():
    widgets.FIGURES.clear()
    yield
    widgets.FIGURES.clear()


def test_cached_figure_builds_once_per_key():
    calls = []

    def build(n):
        def _build():
            calls.append(n)
            return go.Figure(go.Scatter(x=[0, n], y=[0, n]))

        return _build

    first = widgets.cached_figure(("map", "stamp-a", n := 1), build(n))
    again = widgets.cached_figure(("map", "stamp-a", 1), build(99))
    other = widgets.cached_figure(("map", "stamp-b", 1), build(2))
    assert again is first and other is not first
    assert calls == [1, 2]
    assert list(other.data[0].x) == [0, 2]


def test_cached_figure_drops_the_least_recently_used(monkeypatch):
    monkeypatch.setattr(widgets.FIGURES, "size", 2)
    built = []

    def get(key):
        return widgets.cached_figure((key,), lambda: built.append(key) or go.Figure())

    get("a"), get("b"), get("a"), get("c")  # "b" is now the least recently used
    get("a")
    get("b")
    assert built == ["a", "b", "c", "b"]
    assert len(widgets.FIGURES) == 2


def test_concurrent_requests_compute_a_key_once():
    import threading
    import time

    cache, calls = widgets.ProcessCache(4), []

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return object()

    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(("k",), slow)))
               for _ in range(4)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and all(g is got[0] for g in got)


def test_viewer_url_follows_static_serving(monkeypatch):
    monkeypatch.setattr(widgets.st, "get_option", lambda name: name == "server.enableStaticServing")
    assert widgets.viewer_script_url() == widgets.STATIC_3DMOL_URL
    # streamlit serves <entry file's folder>/static/NAME at app/static/NAME
    served = STATIC_DIR / widgets.STATIC_3DMOL_URL.removeprefix("app/static/")
    assert served.is_file() and served.parent == APP_DIR / "static"
    monkeypatch.setattr(widgets.st, "get_option", lambda name: False)
    assert widgets.viewer_script_url() is None
