#!/usr/bin/env bash
# Smoke-check a built PaMM Lab image with `buildah run` (no Docker engine, no `podman run`):
# imports, CLI help, `pamm analyze` on 5 bundled structures (as the image's non-root user,
# writing under its /runs volume), and the dashboard's health endpoint.
#
#   scripts/container_smoke.sh localhost/pamm-lab:dev
set -euo pipefail

IMAGE_TAG="${1:-localhost/pamm-lab:dev}"
PORT="${SMOKE_PORT:-18501}"  # not 8501: the host may already serve a dashboard there

log() { printf '[container_smoke %(%H:%M:%S)T] %s\n' -1 "$*"; }

ctr="$(buildah from --pull-never "$IMAGE_TAG")"
trap 'buildah rm "$ctr" >/dev/null' EXIT
brun() { buildah run --isolation chroot "$ctr" -- "$@"; }

log "1/5 user, imports and versions"
brun bash -c 'test "$(id -u)" != 0 && echo "running as uid $(id -u)"'
brun python -c "
import torch, fairchem.core, pamm, analysis, app, streamlit
from pamm.settings import configured_roots
print('torch', torch.__version__, '| cuda', torch.cuda.is_available(), '| fairchem', fairchem.core.__version__)
print(configured_roots())
"

log "2/5 CLI help"
brun pamm --help >/dev/null
brun pamm analyze --help >/dev/null
brun pamm demo --help >/dev/null

log "3/5 pamm analyze on 5 bundled structures"
brun python -c "
from ase.io import write
from app.first_start import demo_inputs
from pamm.data.readers import read_structures
checkpoint, data = demo_inputs()
write('/tmp/five.extxyz', read_structures(data, limit=5), format='extxyz')
open('/tmp/checkpoint_path', 'w').write(str(checkpoint))
print('checkpoint', checkpoint)
"
brun bash -c 'pamm analyze --checkpoint "$(cat /tmp/checkpoint_path)" --data /tmp/five.extxyz --out /runs/smoke'

log "4/5 the run directory loads and validates"
brun python -c "
import analysis
run = analysis.load_run('/runs/smoke')
print('run loaded:', type(run).__name__)
"

log "5/5 dashboard health endpoint (the HEALTHCHECK probe) on port $PORT"
brun bash -c "
pamm demo --address 127.0.0.1 --port $PORT >/tmp/demo.log 2>&1 &
for _ in \$(seq 1 90); do
    if python -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/_stcore/health', timeout=4)\" 2>/dev/null; then
        echo healthy; kill %1; exit 0
    fi
    sleep 2
done
cat /tmp/demo.log; kill %1; exit 1
"
log "smoke check passed for $IMAGE_TAG"
