#!/usr/bin/env bash
# Smoke-check a built PaMM Lab image the way a lab runs it: the image's own CMD (port 8501,
# address 0.0.0.0) in a fresh working container (empty /runs), the demo's first start, every
# dashboard page in headless chromium and one structure upload. No Docker engine: `buildah run
# --isolation chroot` (shares the host's network, so the host's chromium reaches the port).
#
#   scripts/container_smoke.sh localhost/pamm-lab:dev        # as root, after a build
#
# Needs buildah, Debian's chromium and the project's .venv (playwright) on the host, and
# port 8501 free. Every phase prints its wall time; the first failure stops the check.
set -euo pipefail

IMAGE_TAG="${1:-localhost/pamm-lab:dev}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$REPO/.venv/bin/python}"
PORT=8501  # the image's CMD serves here; the check runs that CMD unchanged

t0=$SECONDS
phase_start=$SECONDS
log() { printf '[container_smoke %(%H:%M:%S)T +%4ds] %s\n' -1 "$((SECONDS - t0))" "$*"; }
done_phase() { log "  done in $((SECONDS - phase_start)) s"; phase_start=$SECONDS; }

if "$PY" - "$PORT" <<'EOF'
import socket, sys
with socket.socket() as s:
    sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
EOF
then
    echo "container_smoke: port $PORT is in use on this host; stop that server first" >&2
    exit 2
fi

server_log="$(mktemp /tmp/pamm-smoke-server.XXXXXX.log)"
ctr="$(buildah from --pull-never "$IMAGE_TAG")"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true  # the server's own (killed) status is not ours
    fi
    buildah rm "$ctr" >/dev/null
}
trap cleanup EXIT
brun() { buildah run --isolation chroot "$ctr" -- "$@"; }

log "1/5 image contents: user, CPU torch, no build leftovers, no outbound calls configured"
brun python - <<'EOF'
import os, pathlib, torch, fairchem.core
assert os.getuid() != 0, "the image must not run as root"
assert torch.__version__.endswith("+cpu") or os.environ.get("PAMM_TORCH_VARIANT") == "cuda", torch.__version__
leftovers = [p for p in ("/wheels", "/build-ca") if pathlib.Path(p).exists()]
assert not leftovers, f"build placeholders left in the image: {leftovers}"
assert os.environ.get("STREAMLIT_BROWSER_SERVER_ADDRESS"), "Streamlit would look up the external IP"
assert os.environ.get("STREAMLIT_BROWSER_GATHER_USAGE_STATS") == "false"
print("uid", os.getuid(), "| torch", torch.__version__, "| cuda", torch.cuda.is_available(),
      "| fairchem", fairchem.core.__version__)
EOF
done_phase

log "2/5 the image's own CMD"
mapfile -t cmd < <(buildah inspect --type image "$IMAGE_TAG" \
    | "$PY" -c 'import json, sys; print("\n".join(json.load(sys.stdin)["OCIv1"]["config"]["Cmd"]))')
log "  CMD: ${cmd[*]}"
[[ " ${cmd[*]} " == *" --address 0.0.0.0 "* && " ${cmd[*]} " == *" --port $PORT "* ]] \
    || { echo "container_smoke: CMD does not serve 0.0.0.0:$PORT" >&2; exit 1; }
buildah run --isolation chroot "$ctr" -- "${cmd[@]}" >"$server_log" 2>&1 &
server_pid=$!
for _ in $(seq 1 120); do
    if "$PY" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/_stcore/health', timeout=4)" 2>/dev/null; then
        break
    fi
    kill -0 "$server_pid" 2>/dev/null || { cat "$server_log"; exit 1; }
    sleep 1
done
log "  health endpoint answers"
done_phase

log "3-5/5 first start, every page, one upload (headless chromium on the host)"
"$PY" "$REPO/scripts/smoke_pages.py" --url "http://127.0.0.1:$PORT" \
    --screenshots "${SMOKE_SCREENSHOTS:-$REPO/test-artifacts/container}"
brun test -f /runs/demo/manifest.json \
    || { echo "container_smoke: no /runs/demo/manifest.json in the container" >&2; exit 1; }
log "  /runs/demo written by the image's user: $(brun du -sh /runs/demo | cut -f1)"
if grep -q "Did not auto detect external IP\|External URL" "$server_log"; then
    echo "container_smoke: Streamlit tried to reach the internet at start" >&2
    exit 1
fi
done_phase
log "smoke check passed for $IMAGE_TAG in $((SECONDS - t0)) s"
