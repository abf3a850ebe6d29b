#!/usr/bin/env bash
# Generate (or resume) the oxide demo dataset (CHGNet labels, not DFT) in assets/data-oxides.
# Resumable in pieces: every finished relaxation and task is saved under .work/ at once;
# re-run the same command after an interruption. `--stop-after relax` etc. ends early.
# Budget: about 3 h on 2 quiet CPU cores (relaxations ~1 h, family tasks ~2 h).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
PY="${PYTHON:-.venv/bin/python}"
exec "$PY" -m pamm_lab generate --recipe oxides --out assets/data-oxides --seed 0 --workers 2 "$@"
