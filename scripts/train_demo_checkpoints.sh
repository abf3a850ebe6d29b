#!/usr/bin/env bash
# Train the three bundled demo checkpoints (baseline, PaMM gate, PaMM affine) on assets/data
# with one identical budget -- they are the seed-0 runs of benchmarks/compare.py -- then copy
# them to assets/checkpoints/ with their metrics JSON and card (README.md).
#   STEPS=200 scripts/train_demo_checkpoints.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
STEPS=${STEPS:-200}
OUT=${OUT:-benchmarks/results}
WORK=${WORK:-/tmp/pamm_compare}
"$PY" benchmarks/compare.py run --data assets/data --out "$OUT" --work "$WORK" \
    --steps "$STEPS" --batch-size 8 --lr 1e-3 --eval-limit 400 \
    --variants baseline,gate,affine --seeds 0
"$PY" benchmarks/compare.py export-demo --out "$OUT" --data assets/data --dest assets/checkpoints
