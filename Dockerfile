# PaMM Lab dashboard image: the Streamlit app on the bundled demo by default; labs mount their
# own checkpoints, data and runs (see docs/DEPLOY.md). CPU torch by default; for a CUDA host build
# with --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu130 (or https://pypi.org/simple,
# whose x86_64 torch 2.13.0 wheel is the CUDA 13 build).
#
# BASE_IMAGE must provide python3.11 with the venv module (Debian bookworm's python3 + python3-venv,
# or the official python image). scripts/container_build.sh uses a debootstrap-made local base.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# optional directory (inside the build, e.g. a --volume) holding a local torch wheel
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

# 1. torch alone, pinned, from the chosen index, so no resolver can swap in another build.
#    "+cpu" (pytorch index) sorts above PyPI's CUDA build of the same version.
RUN if [ -n "$PIP_CA_BUNDLE" ]; then export PIP_CERT="$PIP_CA_BUNDLE"; fi \
    && python3 -m venv /opt/venv \
    && pip install "pip==26.3" \
    && PIP_FIND_LINKS="${TORCH_FIND_LINKS}" pip install \
        --index-url "${TORCH_INDEX_URL}" --extra-index-url https://pypi.org/simple \
        "torch==${TORCH_VERSION}" \
    && python -c "import torch; print(torch.__version__)" \
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
    STREAMLIT_SERVER_MAX_UPLOAD_SIZE=2

VOLUME ["/data", "/checkpoints", "/runs"]
USER 10001:10001
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]
CMD ["pamm", "demo", "--address", "0.0.0.0", "--port", "8501"]
