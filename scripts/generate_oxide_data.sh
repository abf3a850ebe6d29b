#!/usr/bin/env bash
# Generate (or resume) the oxide demo dataset (CHGNet labels, not DFT) in OUT (default
# assets/data-oxides, a new folder beside the bundled assets/data; copy
# assets/data/candidates.json.gz into OUT first to start from the bundled candidate list).
# Resumable in pieces: every finished relaxation and task is saved under .work/ at once;
# re-run the same command after an interruption. `--stop-after relax` etc. ends early.
# Budget (the bundled run, dataset.json "cpu_seconds"): 5.2 CPU-hours of relaxations and
# 4.1 of family tasks, about 4.7 h on 2 quiet cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
PY="${PYTHON:-.venv/bin/python}"
exec "$PY" -m pamm_lab generate --recipe oxides --out "${OUT:-assets/data-oxides}" --seed 0 --workers 2 "$@"
