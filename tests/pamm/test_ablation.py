"""``pamm.ablation``: switching parts of the memory off, and restoring it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pamm.ablation import Ablation, ablate
from pamm.capture import capture
from pamm.testing import energy_forces, random_crystal, randomize_memory, tiny_batch, tiny_model

SPEC = {"pair_buckets": 256, "triplet_buckets": 128, "heads": 2, "head_dim": 4}


@pytest.fixture(scope="module")
def structures():
    rng = np.random.default_rng(3)
    return [random_crystal(rng, n_atoms=4), random_crystal(rng, n_atoms=3)]


@pytest.fixture(scope="module", params=["hard", "smooth"])
def model(request):
    torch.manual_seed(0)
    m = tiny_model({**SPEC, "lookup": request.param}).eval()
    randomize_memory(m)
    return m


def _used_buckets(model, structures):
    with capture(model) as cap:
        model(tiny_batch(structures))
    return cap.records[-1]


def test_unused_bucket_changes_nothing_bitwise(model, structures):
    rec = _used_buckets(model, structures)
    # smooth lookups read the rows of both neighbouring bins: every one of them is used
    looked_up = rec.pair_lookup_bucket[:, :, 1] if rec.weighted else rec.pair_bucket[:, 1]
    used = set(looked_up.flatten().tolist())
    unused = next(b for b in range(SPEC["pair_buckets"]) if b not in used)
    before = energy_forces(model, structures, seed=7)
    for replace in ("zero", "mean"):
        with ablate(
            model, Ablation("bucket", table="pair", head=1, bucket=unused, replace=replace)
        ):
            after = energy_forces(model, structures, seed=7)
        assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_used_bucket_and_motif_change_the_prediction(model, structures):
    rec = _used_buckets(model, structures)
    bucket = int(rec.pair_bucket[0, 0])
    key = int(rec.keys.triplet_key[0])
    e0, _, _ = energy_forces(model, structures, seed=7)
    for ab in (
        Ablation("bucket", table="pair", head=0, bucket=bucket),
        Ablation("motif", table="triplet", key=key, replace="mean"),
        Ablation("table", table="pair"),
    ):
        with ablate(model, ab):
            e1, _, _ = energy_forces(model, structures, seed=7)
        assert not torch.allclose(e0, e1, atol=1e-7), ab


def test_absent_motif_changes_nothing_bitwise(model, structures):
    before = energy_forces(model, structures, seed=7)
    with ablate(model, Ablation("motif", table="pair", key=(100 << 17) | (101 << 10) | 5)):
        after = energy_forces(model, structures, seed=7)
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_memory_off_equals_baseline_mode(model, structures):
    baseline = tiny_model({**SPEC, "mode": "baseline", "lookup": "hard"}).eval()
    missing, unexpected = baseline.load_state_dict(model.state_dict(), strict=False)
    assert not missing and all(k.startswith("backbone.motif_") for k in unexpected)
    with ablate(model, Ablation("memory")):
        off = energy_forces(model, structures, seed=7)
    ref = energy_forces(baseline, structures, seed=7)
    on = energy_forces(model, structures, seed=7)
    for a, b in zip(off, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    assert not torch.allclose(on[0], ref[0], atol=1e-6), "memory had no effect to switch off"


def test_context_manager_restores_after_error(model, structures):
    before = energy_forces(model, structures, seed=7)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with (
        pytest.raises(RuntimeError, match="boom"),
        ablate(model, Ablation("memory"), Ablation("table", table="triplet")),
    ):
        raise RuntimeError("boom")
    backbone = model.backbone
    assert backbone.motif_memory.row_edit is None
    assert not backbone.motif_fusion._forward_hooks
    after = energy_forces(model, structures, seed=7)
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


def test_nested_blocks_compose_and_unwind(model, structures):
    e0 = energy_forces(model, structures, seed=7)[0]
    with ablate(model, Ablation("table", table="pair")):
        e_pair = energy_forces(model, structures, seed=7)[0]
        with ablate(model, Ablation("table", table="triplet")):
            e_both = energy_forces(model, structures, seed=7)[0]
        assert torch.equal(energy_forces(model, structures, seed=7)[0], e_pair)
    with ablate(model, Ablation("table", table="pair"), Ablation("table", table="triplet")):
        assert torch.equal(energy_forces(model, structures, seed=7)[0], e_both)
    assert torch.equal(energy_forces(model, structures, seed=7)[0], e0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "row"}, "kind"),
        ({"kind": "bucket", "table": "pair", "head": 0}, "head and bucket"),
        ({"kind": "motif", "table": "quad", "key": 1}, "table"),
        ({"kind": "memory", "replace": "mean"}, "identity"),
        ({"kind": "table", "table": "pair", "replace": "median"}, "replace"),
    ],
)
def test_invalid_ablations_name_the_problem(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Ablation(**kwargs)


def test_bucket_outside_the_table_is_rejected(model):
    with (
        pytest.raises(ValueError, match="outside the table"),
        ablate(model, Ablation("bucket", table="pair", head=0, bucket=SPEC["pair_buckets"])),
    ):
        pass
    assert model.backbone.motif_memory.row_edit is None
