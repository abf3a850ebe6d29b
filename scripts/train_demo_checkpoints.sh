#!/usr/bin/env bash
# Train the bundled demo checkpoints on assets/data and copy them, with their metrics JSON and
# card (README.md), to assets/checkpoints/. Each model is a learning-curve run
# (benchmarks/learning_curve.py: checkpoints every 500 steps, scored on val/test), adopted as
# the seed-0 run record of benchmarks/compare.py and exported from there.
#   STEPS=3000 VARIANTS="baseline gate affine" scripts/train_demo_checkpoints.sh
# The bundled ones (2026-12-05, on the 319-parent data; one learning-curve file each,
# benchmarks/results/learning_curve_oxides319_*.json):
#   STEPS=3000 VARIANTS=baseline THREADS=2 scripts/train_demo_checkpoints.sh       # 65 min
#   INIT=assets/checkpoints/baseline.pt TRAIN_ONLY=memory VARIANTS=gate STEPS=1000 \
#       EXTRA='table_lr_factor=10' THREADS=1 scripts/train_demo_checkpoints.sh     # 31 min
#   STEPS=1000 VARIANTS=affine THREADS=1 scripts/train_demo_checkpoints.sh        # 28 min
# (gate and affine side by side, one thread each).
# Fine-tuning instead (INIT=a trained baseline checkpoint): gate/affine start from INIT with a
# zero-initialised memory attached (`pamm attach`, exactly INIT's predictions at step 0) and
# train STEPS more steps at LR (`--init`; the card says what they started from):
#   INIT=assets/checkpoints/baseline.pt STEPS=1000 VARIANTS="gate affine" LR=3e-4 \
#       scripts/train_demo_checkpoints.sh
# TRAIN_ONLY=memory (with INIT) trains only the motif memory and its fusion, the backbone and
# heads frozen at INIT's weights (`pamm train --train-only memory`).
# Other fairchem overrides go in EXTRA (e.g. EXTRA="optim.weight_decay=0").
# Resumable: a finished training run is reused. One variant at a time uses both cores
# (THREADS=2); two side by side at THREADS=1 each finish sooner together.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
STEPS=${STEPS:-3000}
VARIANTS=${VARIANTS:-"baseline gate affine"}
THREADS=${THREADS:-2}
INIT=${INIT:-}
TRAIN_ONLY=${TRAIN_ONLY:-}
[[ -z "$TRAIN_ONLY" || -n "$INIT" ]] || { echo "TRAIN_ONLY needs INIT" >&2; exit 2; }
LR=${LR:-1e-3}
WORK=${WORK:-/tmp/pamm_demo${INIT:+_finetune}${TRAIN_ONLY:+_$TRAIN_ONLY}}  # no reuse across kinds
OUT=${OUT:-benchmarks/results/demo}
EVERY=${EVERY:-500}
read -r -a EXTRA_ARGS <<< "${EXTRA:-}"
for v in $VARIANTS; do
    init_args=()
    init_from=()
    curve="benchmarks/results/learning_curve_oxides319_${v}.json"
    if [[ -n "$INIT" && "$v" != baseline ]]; then
        mkdir -p "$WORK/$v"
        [[ -f "$WORK/$v/init.pt" ]] || "$PY" -m pamm_lab.cli attach "$INIT" "$WORK/$v/init.pt" --fusion "$v"
        init_args=(--init "$WORK/$v/init.pt" ${TRAIN_ONLY:+--train-only "$TRAIN_ONLY"})
        init_from=(--init-from "$INIT" ${TRAIN_ONLY:+--train-only "$TRAIN_ONLY"})  # recorded
        curve="benchmarks/results/learning_curve_oxides319_${v}_finetune${TRAIN_ONLY:+_$TRAIN_ONLY}.json"
    fi
    OMP_NUM_THREADS=$THREADS "$PY" benchmarks/learning_curve.py --data assets/data --variant "$v" \
        --steps "$STEPS" --every "$EVERY" --eval-limit 300 --json "$curve" --work "$WORK/$v" \
        "${init_args[@]}" "lr=$LR" "${EXTRA_ARGS[@]}"
    OMP_NUM_THREADS=$THREADS "$PY" benchmarks/compare.py adopt --data assets/data --out "$OUT" \
        --variant "$v" --steps "$STEPS" --lr "$LR" "${init_from[@]}" \
        --checkpoint "$WORK/$v/${v}_s0/lc/checkpoints/final/inference_ckpt.pt" \
        --trained-by "INIT=$INIT${TRAIN_ONLY:+ TRAIN_ONLY=$TRAIN_ONLY} VARIANTS=$v STEPS=$STEPS LR=$LR EXTRA='${EXTRA:-}' THREADS=$THREADS scripts/train_demo_checkpoints.sh"
done
"$PY" benchmarks/compare.py export-demo --out "$OUT" --data assets/data \
    --dest assets/checkpoints --variants "$(echo "$VARIANTS" | tr ' ' ,)"
