"""Background imports of the dashboard (app.prefetch) and the heap freeze after them."""

from __future__ import annotations

import gc
import sys

import pytest

from app import prefetch


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_prefetch_imports_what_it_can_then_freezes(unfrozen):
    sys.modules.pop("colorsys", None)
    done = prefetch.prefetch_imports(["colorsys", "pamm_no_such_module"])
    assert done == ["colorsys"]  # the missing module is skipped, not raised
    assert "colorsys" in sys.modules
    assert gc.get_freeze_count() > 0


def test_prefetch_runs_once_in_a_thread_and_can_be_waited_for(unfrozen, monkeypatch):
    monkeypatch.setenv(prefetch.ENV_PREFETCH, "1")
    monkeypatch.setattr(prefetch, "PREFETCH_MODULES", ("wave",))
    monkeypatch.setattr(prefetch, "PREFETCH_DELAY_S", 0.2)
    sys.modules.pop("wave", None)
    prefetch.start_prefetch.clear()
    try:
        thread = prefetch.start_prefetch()
        assert thread is not None and thread.daemon
        assert prefetch.start_prefetch() is thread  # once per process
        prefetch.wait_for_prefetch()
        assert not thread.is_alive() and "wave" in sys.modules
    finally:
        prefetch.start_prefetch.clear()


@pytest.mark.parametrize("value", ["0", "off", "False"])
def test_prefetch_can_be_switched_off(monkeypatch, value):
    monkeypatch.setenv(prefetch.ENV_PREFETCH, value)
    prefetch.start_prefetch.clear()
    try:
        assert prefetch.start_prefetch() is None
        prefetch.wait_for_prefetch()  # returns at once
    finally:
        prefetch.start_prefetch.clear()
