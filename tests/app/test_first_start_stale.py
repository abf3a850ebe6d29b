"""The demo run is recomputed when the bundled checkpoint it was made from is replaced."""

from __future__ import annotations

import json


def test_a_run_made_from_another_checkpoint_is_not_current(tmp_path, monkeypatch) -> None:
    from analysis.schema import SCHEMA_VERSION
    from app import first_start
    from pamm.plumbing import sha256_file

    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    demo = checkpoints / "gate.pt"
    demo.write_bytes(b"the bundled checkpoint the run was made from")
    monkeypatch.setenv("PAMM_CHECKPOINT_ROOT", str(checkpoints))
    run_dir = tmp_path / "runs" / "demo"
    run_dir.mkdir(parents=True)
    manifest = {"schema_version": SCHEMA_VERSION, "checkpoint": {"sha256": sha256_file(demo)}}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    assert first_start.status(run_dir).state == "done"
    demo.write_bytes(b"a newer bundled checkpoint, other weights")  # e.g. after a git pull
    assert first_start.status(run_dir).state == "absent"  # so the first start runs again
    # an older schema is not current either, whatever the checkpoint
    demo.write_bytes(b"the bundled checkpoint the run was made from")
    assert first_start.status(run_dir).state == "done"
    (run_dir / "manifest.json").write_text(json.dumps(manifest | {"schema_version": -1}))
    assert first_start.status(run_dir).state == "absent"
