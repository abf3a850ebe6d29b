"""The docstring examples of the app's helper modules run (pytest's doctest run covers
only ``pamm/`` and ``analysis/``)."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["app.figures", "app.viewer", "app.widgets"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{module} has no examples"
    assert result.failed == 0
