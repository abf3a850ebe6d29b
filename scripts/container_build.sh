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
#    ($TORCH_WHEEL_DIR, default /opt/wheels, holding torch-$TORCH_VERSION+cpu-*.whl) is mounted
#    read-only at /wheels, because download.pytorch.org may be unreachable where PyPI is;
#    without it the Dockerfile tries that index and fails with a message if it cannot get the
#    CPU build (TORCH_VARIANT=cuda builds the CUDA image instead). The empty mount points that
#    build volumes leave behind are removed from the image afterwards;
# 3. smoke: scripts/container_smoke.sh $IMAGE_TAG (`buildah run`, since `podman run` may fail
#    on rlimits in nested containers).
#
# Variables: IMAGE_TAG, BASE_TAG, WORK_DIR (scratch space for the debootstrap root, default
# /var/tmp/pamm-container), DEBIAN_MIRROR, TORCH_VERSION, TORCH_VARIANT (cpu|cuda),
# TORCH_WHEEL_DIR, TORCH_INDEX_URL, HOST_CA_BUNDLE (or PIP_CERT: a CA bundle pip needs inside
# the build behind a TLS-intercepting proxy), SKIP_SMOKE.
# Needs root (or rootless podman set up), podman, buildah and debootstrap (Debian packages).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE_TAG="${IMAGE_TAG:-localhost/pamm-lab:dev}"
BASE_TAG="${BASE_TAG:-localhost/pamm-base:bookworm}"
WORK_DIR="${WORK_DIR:-/var/tmp/pamm-container}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
TORCH_VARIANT="${TORCH_VARIANT:-cpu}"
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

build_args=(--build-arg "BASE_IMAGE=$BASE_TAG" --build-arg "TORCH_VERSION=$TORCH_VERSION"
            --build-arg "TORCH_VARIANT=$TORCH_VARIANT")
volumes=()
if [[ "$TORCH_VARIANT" == cpu ]] && compgen -G "$TORCH_WHEEL_DIR/torch-${TORCH_VERSION}+cpu-*.whl" >/dev/null; then
    log "using the local CPU torch wheel in $TORCH_WHEEL_DIR"
    volumes=(--volume "$TORCH_WHEEL_DIR:/wheels:ro")
    build_args+=(--build-arg "TORCH_FIND_LINKS=/wheels"
                 --build-arg "TORCH_INDEX_URL=https://pypi.org/simple")
elif [[ "$TORCH_VARIANT" == cpu ]]; then
    log "no torch-${TORCH_VERSION}+cpu wheel in TORCH_WHEEL_DIR=$TORCH_WHEEL_DIR: the build will try" \
        "download.pytorch.org/whl/cpu and stop with an error if that is unreachable (docs/DEPLOY.md)"
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
log "built $IMAGE_TAG in $((SECONDS - start)) s"

if ((${#volumes[@]})); then
    # buildah leaves each build volume's mount point (empty) in the image: drop them
    log "removing the build volumes' empty mount points (/wheels, /build-ca)"
    ctr="$(buildah from --pull-never "$IMAGE_TAG")"
    buildah run --isolation chroot --user root "$ctr" -- sh -c \
        'for p in /wheels /build-ca; do
             if [ -e "$p" ] && [ -n "$(find "$p" -type f -size +0c)" ]; then
                 echo "$p is not an empty placeholder" >&2; exit 1
             fi
         done
         rm -rf /wheels /build-ca'
    buildah commit --quiet --rm "$ctr" "$IMAGE_TAG" >/dev/null
fi
log "size: $(podman image inspect --format '{{.Size}}' "$IMAGE_TAG") bytes"

if [[ -z "${SKIP_SMOKE:-}" ]]; then
    "$REPO/scripts/container_smoke.sh" "$IMAGE_TAG"
fi
