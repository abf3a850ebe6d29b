#!/usr/bin/env bash
# Regenerate the bundled demo dataset in assets/data (CHGNet labels, not DFT).
# Resumable: re-run the same command after an interruption. ~1 h on 2 busy CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
PY="${PYTHON:-.venv/bin/python}"
exec "$PY" -m pamm_lab generate --recipe omat-like --out assets/data --seed 0 \
    --n-structures 3700 --min-atoms 8 --max-atoms 24 --workers 2 "$@"
