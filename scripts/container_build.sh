#!/usr/bin/env bash
# Build the PaMM Lab image without a Docker engine or registry access, then smoke-check it.
#
#   sudo scripts/container_build.sh            # base (once) + image + smoke check
#   SKIP_SMOKE=1 scripts/container_build.sh    # build only
#
# 1. base: `debootstrap --variant=minbase bookworm` (+ python3, python3-venv, ca-certificates)
#    imported with `podman import` as $BASE_TAG (skipped if that image already exists);
# 2. image: `buildah bud --isolation chroot` of ./Dockerfile FROM that base. Package
#    registries (PyPI) are reached from inside the build. A local CPU torch wheel directory
#    ($TORCH_WHEEL_DIR, default /opt/wheels if it holds one) is mounted read-only at /wheels,
#    because download.pytorch.org may be unreachable where PyPI is;
# 3. smoke: scripts/container_smoke.sh $IMAGE_TAG (`buildah run`, since `podman run` may fail
#    on rlimits in nested containers).
# Needs root (or rootless podman set up), podman, buildah and debootstrap (Debian packages).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE_TAG="${IMAGE_TAG:-localhost/pamm-lab:dev}"
BASE_TAG="${BASE_TAG:-localhost/pamm-base:bookworm}"
WORK_DIR="${WORK_DIR:-/var/tmp/pamm-container}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
TORCH_WHEEL_DIR="${TORCH_WHEEL_DIR:-/opt/wheels}"

log() { printf '[container_build %(%H:%M:%S)T] %s\n' -1 "$*"; }

for tool in podman buildah debootstrap; do
    command -v "$tool" >/dev/null || {
        echo "container_build: '$tool' not found; on Debian: apt-get install podman buildah debootstrap" >&2
        exit 2
    }
done

if podman image exists "$BASE_TAG"; then
    log "base $BASE_TAG exists: reusing it"
else
    rootfs="$WORK_DIR/rootfs"
    rm -rf "$rootfs" && mkdir -p "$rootfs"
    log "debootstrap bookworm (minbase) into $rootfs"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$rootfs" "$DEBIAN_MIRROR"
    chroot "$rootfs" apt-get clean
    rm -rf "$rootfs"/var/lib/apt/lists/*
    log "podman import -> $BASE_TAG"
    tar -C "$rootfs" -c . | podman import - "$BASE_TAG"
    rm -rf "$rootfs"
fi

build_args=(--build-arg "BASE_IMAGE=$BASE_TAG" --build-arg "TORCH_VERSION=$TORCH_VERSION")
volumes=()
if compgen -G "$TORCH_WHEEL_DIR/torch-${TORCH_VERSION}+cpu-*.whl" >/dev/null; then
    log "using the local CPU torch wheel in $TORCH_WHEEL_DIR"
    volumes=(--volume "$TORCH_WHEEL_DIR:/wheels:ro")
    build_args+=(--build-arg "TORCH_FIND_LINKS=/wheels"
                 --build-arg "TORCH_INDEX_URL=https://pypi.org/simple")
fi
# A site whose egress goes through a TLS-intercepting proxy trusts its CA on the host only:
# hand the host's bundle to pip inside the build (mounted read-only, not kept in the image).
HOST_CA_BUNDLE="${HOST_CA_BUNDLE:-${PIP_CERT:-}}"
if [[ -n "$HOST_CA_BUNDLE" && -r "$HOST_CA_BUNDLE" ]]; then
    log "pip inside the build trusts the host CA bundle $HOST_CA_BUNDLE"
    volumes+=(--volume "$HOST_CA_BUNDLE:/build-ca/ca-bundle.crt:ro")
    build_args+=(--build-arg "PIP_CA_BUNDLE=/build-ca/ca-bundle.crt")
fi
if [[ -n "${TORCH_INDEX_URL:-}" ]]; then
    build_args+=(--build-arg "TORCH_INDEX_URL=$TORCH_INDEX_URL")
fi

log "buildah bud -> $IMAGE_TAG"
start=$SECONDS
buildah bud --isolation chroot --format docker --layers \
    "${volumes[@]}" "${build_args[@]}" -t "$IMAGE_TAG" -f "$REPO/Dockerfile" "$REPO"
log "built $IMAGE_TAG in $((SECONDS - start)) s; size: $(podman image inspect --format '{{.Size}}' "$IMAGE_TAG") bytes"

if [[ -z "${SKIP_SMOKE:-}" ]]; then
    "$REPO/scripts/container_smoke.sh" "$IMAGE_TAG"
fi
