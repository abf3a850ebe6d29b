"""Repository-wide hardening rules: safe deserialisation and one place for filesystem roots."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
CODE_DIRS = ("pamm", "analysis", "app", "benchmarks", "scripts", "examples")


def _python_files() -> list[Path]:
    files = [p for d in CODE_DIRS for p in sorted((REPO / d).rglob("*.py"))]
    return [p for p in files if "static" not in p.parts]


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func)


def _keyword(call: ast.Call, name: str) -> str | None:
    for kw in call.keywords:
        if kw.arg == name:
            return ast.unparse(kw.value)
    return None


def test_there_is_code_to_check() -> None:
    assert len(_python_files()) > 20


def test_every_deserialisation_is_safe() -> None:
    """torch.load needs weights_only=True; no pickle/np allow_pickle/yaml.load/joblib."""
    problems = []
    for path in _python_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        for call, func in _calls(tree):
            where = f"{path.relative_to(REPO)}:{call.lineno} {func}(...)"
            if func == "torch.load":
                if _keyword(call, "weights_only") != "True":
                    problems.append(f"{where} without weights_only=True")
            elif func in {"pickle.load", "pickle.loads", "joblib.load", "dill.load"}:
                problems.append(where)
            elif func in {"np.load", "numpy.load"} and _keyword(call, "allow_pickle") == "True":
                problems.append(f"{where} with allow_pickle=True")
            elif func == "yaml.load" and "Safe" not in (_keyword(call, "Loader") or ""):
                problems.append(f"{where} without a SafeLoader")
            elif func in {"eval", "exec"}:
                problems.append(where)
    assert not problems, "unsafe deserialisation:\n" + "\n".join(problems)


class _Payload:
    """Pickles to a call that would create ``marker`` when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_checkpoint_with_arbitrary_pickles_is_refused_and_never_run(tmp_path: Path) -> None:
    from pamm.checkpoint import load_checkpoint

    marker = tmp_path / "code-was-executed"
    evil = tmp_path / "evil.pt"
    torch.save({"model_state_dict": {}, "payload": _Payload(marker)}, evil)
    with pytest.raises(ValueError, match="weights_only=True") as info:
        load_checkpoint(evil)
    assert str(evil) in str(info.value)
    assert not marker.exists()


def test_a_plain_tensor_file_is_refused_with_a_message(tmp_path: Path) -> None:
    from pamm.checkpoint import load_checkpoint

    path = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="not an MLIPInferenceCheckpoint"):
        load_checkpoint(path)


def _env_reads(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, variable) of every os.environ[...] / os.environ.get / os.getenv read."""
    reads = []
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            key = node.slice
        elif isinstance(node, ast.Call) and ast.unparse(node.func) in {
            "os.environ.get",
            "os.getenv",
        }:
            key = node.args[0] if node.args else None
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            reads.append((node.lineno, key.value))
    return reads


def test_filesystem_roots_are_read_only_through_pamm_plumbing() -> None:
    """Only pamm/plumbing.py reads PAMM_*_ROOT in the code the app runs: no bypass."""
    roots = {"PAMM_DATA_ROOT", "PAMM_CHECKPOINT_ROOT", "PAMM_RUNS_ROOT"}
    offenders = []
    for path in _python_files():
        if path == REPO / "pamm" / "plumbing.py" or path.parts[len(REPO.parts)] not in {
            "pamm",
            "analysis",
            "app",
        }:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        offenders += [
            f"{path.relative_to(REPO)}:{line} reads {var}"
            for line, var in _env_reads(tree)
            if var in roots
        ]
    assert not offenders, offenders


def test_the_env_read_detector_finds_reads() -> None:
    code = 'import os\na = os.environ["PAMM_DATA_ROOT"]\nb = os.getenv("PAMM_RUNS_ROOT")\n'
    assert _env_reads(ast.parse(code)) == [(2, "PAMM_DATA_ROOT"), (3, "PAMM_RUNS_ROOT")]


def test_app_uploads_go_through_the_checked_parser() -> None:
    """Every streamlit file_uploader in app/ sits in a module that calls parse_upload."""
    for path in sorted((REPO / "app").rglob("*.py")):
        text = path.read_text()
        if "file_uploader(" in text:
            assert "parse_upload(" in text, f"{path.relative_to(REPO)} reads uploads unchecked"
