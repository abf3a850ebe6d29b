# PaMM Lab dashboard image: the Streamlit app on the bundled demo by default; labs mount their
# own checkpoints, data and runs (see docs/DEPLOY.md). CPU torch by guarantee: the build installs
# exactly torch==${TORCH_VERSION}+cpu and fails (naming the fix) if that build cannot be had.
# For a CUDA host: --build-arg TORCH_VARIANT=cuda (PyPI's x86_64 torch 2.13.0 is the CUDA 13
# build), optionally with --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu130.
#
# BASE_IMAGE must provide python3.11 with the venv module (Debian bookworm's python3 + python3-venv,
# or the official python image). scripts/container_build.sh uses a debootstrap-made local base.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ARG TORCH_VERSION=2.13.0
# cpu (default): only torch==${TORCH_VERSION}+cpu is accepted; cuda: the index's CUDA build
ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# optional directory (inside the build, e.g. a --volume) holding the torch wheel, for builds
# where download.pytorch.org is unreachable (scripts/container_build.sh: TORCH_WHEEL_DIR)
ARG TORCH_FIND_LINKS=""
# optional CA bundle (inside the build, e.g. a --volume) for a site's TLS-intercepting proxy;
# used by pip during the build only, never copied into the image
ARG PIP_CA_BUNDLE=""

LABEL org.opencontainers.image.title="PaMM Lab" \
      org.opencontainers.image.description="Periodic Motif Memory on fairchem eSCN-MD: dashboard and analysis" \
      org.opencontainers.image.licenses="MIT"

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:${PATH}

# 1. torch alone, pinned to the exact build, so no resolver can swap in another one; then
#    checked: a cpu image whose torch is not "+cpu" (or sees CUDA) fails the build here.
#    (DL3013: the pin is in $torch_spec, which hadolint cannot read.)
# hadolint ignore=DL3013
RUN if [ -n "$PIP_CA_BUNDLE" ]; then export PIP_CERT="$PIP_CA_BUNDLE"; fi \
    && case "$TORCH_VARIANT" in \
         cpu) torch_spec="torch==${TORCH_VERSION}+cpu" ;; \
         cuda) torch_spec="torch==${TORCH_VERSION}" ;; \
         *) echo "TORCH_VARIANT must be cpu or cuda, got '$TORCH_VARIANT'" >&2; exit 2 ;; \
       esac \
    && python3 -m venv /opt/venv \
    && pip install "pip==26.3" \
    && { PIP_FIND_LINKS="${TORCH_FIND_LINKS}" pip install --only-binary=:all: \
           --index-url "${TORCH_INDEX_URL}" --extra-index-url https://pypi.org/simple \
           "$torch_spec" \
         || { echo "ERROR: could not install $torch_spec. For the CPU image, provide the CPU" \
                   "wheel offline: put torch-${TORCH_VERSION}+cpu-*.whl in a folder and build with" \
                   "TORCH_WHEEL_DIR=<folder> scripts/container_build.sh (docs/DEPLOY.md), or make" \
                   "download.pytorch.org/whl/cpu reachable; for a CUDA image pass" \
                   "--build-arg TORCH_VARIANT=cuda." >&2; exit 1; }; } \
    && python -c "import sys, torch; v = torch.__version__; ok = v.endswith('+cpu') and torch.version.cuda is None; print('torch', v, 'cuda', torch.version.cuda); sys.exit(0 if ok or sys.argv[1] == 'cuda' else 'ERROR: torch ' + v + ' is not the CPU build')" "$TORCH_VARIANT" \
    && pip freeze | grep '^torch==' > /opt/venv/torch-constraint.txt

# 2. the runtime dependencies from pyproject.toml (changes rarely: its own cached layer).
WORKDIR /opt/pamm
COPY pyproject.toml ./
RUN if [ -n "$PIP_CA_BUNDLE" ]; then export PIP_CERT="$PIP_CA_BUNDLE"; fi \
    && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -c /opt/venv/torch-constraint.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# 3. the code last; an editable install keeps app/ and assets/ beside the packages.
COPY . ./
RUN pip install --no-deps --no-build-isolation -e . \
    && groupadd --gid 10001 pamm \
    && useradd --create-home --no-log-init -l --uid 10001 --gid 10001 pamm \
    && mkdir -p /data /checkpoints /runs \
    && chown pamm:pamm /data /checkpoints /runs

# Read-only bundled demo by default; point these at the mounted volumes to use your own.
ENV PAMM_DATA_ROOT=/opt/pamm/assets \
    PAMM_CHECKPOINT_ROOT=/opt/pamm/assets \
    PAMM_RUNS_ROOT=/runs \
    PYTHONPATH=/opt/pamm \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    MPLCONFIGDIR=/tmp/matplotlib \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    STREAMLIT_BROWSER_SERVER_ADDRESS=localhost \
    STREAMLIT_SERVER_MAX_UPLOAD_SIZE=2 \
    PAMM_TORCH_VARIANT=${TORCH_VARIANT}

VOLUME ["/data", "/checkpoints", "/runs"]
USER 10001:10001
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]
CMD ["pamm", "demo", "--address", "0.0.0.0", "--port", "8501"]
