"""``pamm.plumbing``: configured roots, the path-escape guard, atomic writes, checkpoint lookup."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pamm.plumbing import (
    BUNDLED_ASSETS,
    PathOutsideRootError,
    configured_roots,
    list_under,
    resolve_under,
)


def test_defaults_are_the_bundled_assets_and_local_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    roots = configured_roots({})
    assert roots.data == roots.checkpoints == BUNDLED_ASSETS
    assert BUNDLED_ASSETS.parent == Path(__file__).resolve().parents[2]
    assert roots.runs == tmp_path / "runs"


def test_env_overrides_are_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    roots = configured_roots(
        {"PAMM_DATA_ROOT": "lab/data", "PAMM_CHECKPOINT_ROOT": "/ckpt/", "PAMM_RUNS_ROOT": " "}
    )
    assert roots.data == tmp_path / "lab" / "data"
    assert roots.checkpoints == Path("/ckpt")
    assert roots.runs == tmp_path / "runs"  # blank means default


def test_process_environment_is_used_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAMM_RUNS_ROOT", "/srv/runs")
    assert configured_roots().runs == Path("/srv/runs")


@pytest.mark.parametrize(
    "name",
    ["../secret", "a/../../secret", "/etc/passwd", "", "  ", "a\x00b", "..", "runs/../../x"],
)
def test_escaping_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(PathOutsideRootError):
        resolve_under(tmp_path, name)


def test_names_inside_the_root_resolve(tmp_path: Path) -> None:
    assert resolve_under(tmp_path, "demo/manifest.json") == tmp_path / "demo" / "manifest.json"
    assert resolve_under(tmp_path, "demo/../other") == tmp_path / "other"
    assert resolve_under(tmp_path, ".") == tmp_path


def test_symlink_leaving_the_root_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.pt").write_bytes(b"x")
    (root / "link").symlink_to(outside)
    (root / "inner").mkdir()
    (root / "alias").symlink_to(root / "inner")
    with pytest.raises(PathOutsideRootError, match="leaves the configured root"):
        resolve_under(root, "link/secret.pt")
    assert resolve_under(root, "alias") == root / "alias"  # a link that stays inside is fine
    assert list_under(root) == ["alias", "inner"]


def test_list_under_lists_names_that_resolve_back(tmp_path: Path) -> None:
    for name in ("b.pt", "a.pt", "notes.txt"):
        (tmp_path / name).write_text("x")
    assert list_under(tmp_path, "*.pt") == ["a.pt", "b.pt"]
    assert list_under(tmp_path / "missing") == []


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(name=st.text(alphabet=st.sampled_from(list("ab./\\~\x00 ")), max_size=12))
def test_resolved_paths_never_leave_the_root(name: str) -> None:
    root = Path("/srv/pamm/root")
    try:
        path = resolve_under(root, name)
    except PathOutsideRootError:
        return
    assert os.path.commonpath([root, path]) == str(root)


def test_a_failed_atomic_write_leaves_the_old_file(tmp_path: Path) -> None:
    from pamm.plumbing import atomic_write, atomic_write_text

    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")

    def half_then_fail(fh) -> None:
        fh.write(b"new, half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        atomic_write(target, half_then_fail)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # no temp file left
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_find_checkpoint_needs_the_root_and_the_hash(tmp_path: Path) -> None:
    from pamm.plumbing import find_checkpoint, sha256_file

    outside, root = tmp_path / "elsewhere", tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    stored = outside / "model.pt"
    stored.write_bytes(b"weights")
    sha = sha256_file(stored)
    assert find_checkpoint(root, str(stored), sha) is None  # only outside: never opened
    (root / "sub" / "model.pt").write_bytes(b"other weights")
    assert find_checkpoint(root, str(stored), sha) is None  # same name, other content
    (root / "sub" / "model.pt").write_bytes(b"weights")
    assert find_checkpoint(root, str(stored), sha) == root / "sub" / "model.pt"
    assert find_checkpoint(root, str(root / "sub" / "model.pt"), sha) == root / "sub" / "model.pt"
