"""The safety rule: a path stored in a manifest is never opened outside the configured
roots — on any page, nor by the analysis probes.

The run's manifest is rewritten to name a checkpoint and a dataset *outside* the roots.
Both files exist there with the right content (same sha256), so code that trusted the
manifest would open them and succeed; an audit hook records every ``open`` under that
folder, and each page must have opened none.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

PAGES = [
    "overview", "motifs", "buckets", "environment", "families", "embedding", "try_structure",
    "interventions",
]  # fmt: skip

#: folders whose opening is recorded (audit hooks cannot be removed: one for the session)
_WATCHED: list[str] = []
_OPENED: list[str] = []
_HOOKED = False


def _audit(event: str, args: tuple) -> None:
    if event != "open" or not _WATCHED or not isinstance(args[0], str | bytes | os.PathLike):
        return
    path = os.path.abspath(os.fsdecode(args[0]))
    if any(path.startswith(w) for w in _WATCHED):
        _OPENED.append(path)


@pytest.fixture
def opened(tmp_path):
    """Paths opened under ``tmp_path/outside`` during the test."""
    global _HOOKED
    if not _HOOKED:
        sys.addaudithook(_audit)
        _HOOKED = True
    outside = tmp_path / "outside"
    outside.mkdir()
    _WATCHED[:] = [str(outside)]
    _OPENED.clear()
    yield _OPENED
    _WATCHED.clear()


@pytest.fixture
def moved_run(app_env, tmp_path, monkeypatch, opened) -> Path:
    """A copy of the test run whose manifest points outside every root."""
    from analysis.io import read_manifest, write_manifest

    outside = tmp_path / "outside"
    manifest = read_manifest(app_env)
    checkpoint = Path(manifest["checkpoint"]["path"])
    dataset = [Path(p) for p in manifest["dataset"]["paths"]]
    manifest["checkpoint"]["path"] = str(shutil.copy(checkpoint, outside))
    manifest["dataset"]["paths"] = [str(shutil.copy(p, outside)) for p in dataset]
    runs = tmp_path / "runs"
    shutil.copytree(app_env, runs / "moved")
    write_manifest(runs / "moved", manifest)
    for var, root in (("RUNS", runs), ("DATA", tmp_path / "data"),
                      ("CHECKPOINT", tmp_path / "checkpoints")):  # fmt: skip
        root.mkdir(exist_ok=True)
        monkeypatch.setenv(f"PAMM_{var}_ROOT", str(root))
    monkeypatch.setenv("PAMM_RUN", "moved")
    opened.clear()
    return runs / "moved"


def _poscar() -> bytes:
    from ase.build import bulk
    from ase.io import write

    buf = io.StringIO()
    write(buf, bulk("NaCl", "rocksalt", a=5.64), format="vasp")
    return buf.getvalue().encode()


@pytest.mark.parametrize("page", PAGES)
def test_no_page_opens_a_manifest_path_outside_the_roots(app_test, moved_run, opened, page):
    at = app_test
    at.run()
    if page != "overview":
        at.switch_page(f"views/{page}.py")
        at.run()
    if page == "try_structure":
        at.file_uploader(key="upload").upload("NaCl.vasp", _poscar(), "text/plain").run()
    assert not at.exception, [e.value for e in at.exception]
    assert opened == []
    said = " ".join(str(w.value) for w in [*at.warning, *at.error])
    if page in {"try_structure", "interventions"}:
        assert "not under PAMM_CHECKPOINT_ROOT" in said
    if page in {"motifs", "environment"}:
        assert "outside the configured root" in said


def test_the_checkpoint_is_found_under_the_root_by_name_and_hash(app_test, moved_run, tmp_path):
    """Once the lab puts the same file under the checkpoint root, the page runs it."""
    manifest = json.loads((moved_run / "manifest.json").read_text())
    stored = Path(manifest["checkpoint"]["path"])
    (tmp_path / "checkpoints" / "models").mkdir()
    shutil.copy(stored, tmp_path / "checkpoints" / "models" / stored.name)
    at = app_test
    at.run()
    at.switch_page("views/try_structure.py")
    at.run()
    at.file_uploader(key="upload").upload("NaCl.vasp", _poscar(), "text/plain").run()
    assert not at.exception and not at.warning, [w.value for w in at.warning]
    assert "Energy (eV)" in {m.label for m in at.metric}


def test_probes_and_structures_refuse_a_dataset_outside_the_data_root(moved_run, opened):
    from analysis import load_structure, probe_structures
    from analysis.io import read_manifest
    from pamm.plumbing import PathOutsideRootError

    dataset = read_manifest(moved_run)["dataset"]
    with pytest.raises(PathOutsideRootError, match="outside the configured root"):
        probe_structures(dataset, 2)
    with pytest.raises(PathOutsideRootError, match="outside the configured root"):
        load_structure(dataset, 0)
    assert opened == []
    # the same entry opens once the data root holds it
    root = Path(dataset["paths"][0]).parent
    atoms, _, _ = probe_structures(dataset, 2, data_root=root)
    assert len(atoms) == 2 and opened
