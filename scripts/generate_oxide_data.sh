#!/usr/bin/env bash
# Regenerate the bundled oxide demo dataset (CHGNet labels, not DFT) in one command:
# the first run (239-parent recipe) in $OUT.first, its extension (`pamm generate --extend`)
# in $OUT (default assets/data-oxides, beside the bundled assets/data), then the card's
# statistics. Both runs start from the bundled candidate list (assets/data/candidates.json.gz:
# pyxtal's random crystals do not come back the same when drawn anew); FRESH_CANDIDATES=1
# draws them anew instead. LABELS=calculator labels with CHGNet's own ASE calculator, as the
# bundled data was made (bit-identical on its CPU type; slower), instead of the default
# one-backward path (the same model; float32-noise differences that relaxations amplify).
# Resumable in pieces: every finished relaxation and task is saved under .work/ at once;
# re-run the same command after an interruption (finished steps are skipped).
# $OUT.times.log gets a "step kind epoch date" line around each step
# (`python benchmarks/regeneration.py --times` reads it).
# Budget (2026-12-05, 2 workers, one BLAS thread each): see assets/data/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
PY="${PYTHON:-.venv/bin/python}"
OUT="${OUT:-assets/data-oxides}"
FIRST="$OUT.first"
LOG="$OUT.times.log"
mark() { echo "$1 $2 $(date +%s) $(date -u)" >> "$LOG"; }
step=""
trap '[[ -z "$step" ]] || mark "$step" stopped' EXIT  # an interrupted piece keeps its time

if [[ "${FRESH_CANDIDATES:-0}" != 1 && ! -e "$FIRST/candidates.json.gz" && ! -e "$FIRST/.work" ]]; then
  mkdir -p "$FIRST" "$OUT/.work"
  "$PY" - "$FIRST" "$OUT" <<'EOF'
import gzip, json, sys
cands = json.loads(gzip.decompress(open("assets/data/candidates.json.gz", "rb").read()))
base = len(cands) - json.loads(open("assets/data/dataset.json").read())["extension"]["n_candidates"]
first, out = sys.argv[1:]
open(f"{first}/candidates.json.gz", "wb").write(gzip.compress(json.dumps(cands[:base]).encode()))
open(f"{out}/.work/candidates.json", "w").write(json.dumps(cands[base:]))
EOF
fi
if [[ ! -e "$FIRST/dataset.json" ]]; then
  step=first && mark first start
  "$PY" -m pamm_lab generate --recipe oxides --out "$FIRST" --seed 0 --workers 2 \
    --labels "${LABELS:-one-backward}"
  mark first end && step=""
fi
if [[ ! -e "$OUT/dataset.json" ]]; then
  step=extension && mark extension start
  "$PY" -m pamm_lab generate --extend "$FIRST" --out "$OUT" --workers 2
  mark extension end && step=""
fi
step=card && mark card start
"$PY" -m pamm.data.card "$OUT"
mark card end && step=""
