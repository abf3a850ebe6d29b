# Two entry points (see README): `make demo` and `make test`. Both set up everything.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: demo test lint browser venv

venv: $(VENV)/.installed

# torch first, pinned, so that no resolver pulls a CUDA build (fairchem-core needs ~=2.13.0).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e ".[dev]"
	touch $@

# The main job: the dashboard on the bundled demo (analysis run computed on first start).
demo: venv
	$(VENV)/bin/pamm demo

# Debian's chromium for the browser tests (skipped with a reason where it cannot be had).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "chromium could not be installed: browser tests will be skipped"; \
	  else echo "no root/apt: browser tests will be skipped"; fi; }

lint: venv
	$(VENV)/bin/ruff check pamm pamm_lab analysis app tests benchmarks examples

test: venv browser
	$(VENV)/bin/ruff check pamm pamm_lab analysis app tests benchmarks examples
	$(PY) -m pytest -q
