"""MotifMemorySpec: defaults, derived bins, validation, round trip."""

from __future__ import annotations

import json

import pytest

from pamm.spec import MotifMemorySpec


def test_defaults_and_derived_bins() -> None:
    spec = MotifMemorySpec()
    assert (spec.mode, spec.fusion, spec.pair_buckets, spec.triplet_buckets) == (
        "pamm",
        "gate",
        4096,
        16384,
    )
    assert (spec.heads, spec.head_dim, spec.max_triplet_neighbors) == (2, 16, 12)
    assert (spec.lookup, spec.triplet_envelope_width, spec.smooth) == ("smooth", 0.5, True)
    assert spec.n_pair_bins == 60 and spec.n_angle_bins == 18
    assert MotifMemorySpec(cutoff=5.05).n_pair_bins == 51
    assert MotifMemorySpec(angle_bin_deg=7.0).n_angle_bins == 26


def test_round_trip_through_json() -> None:
    spec = MotifMemorySpec(mode="random_bucket", fusion="affine", cutoff=5.0, hash_seed=3)
    back = MotifMemorySpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back == spec
    assert MotifMemorySpec.from_dict({"cutoff": 6}).cutoff == 6.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "memory"}, "mode"),
        ({"fusion": "film"}, "fusion"),
        ({"lookup": "soft"}, "lookup"),
        ({"triplet_reduce": "max"}, "triplet_reduce"),
        ({"triplet_envelope_width": 0.0}, "triplet_envelope_width"),
        ({"triplet_envelope_width": 4.5}, "triplet_envelope_width"),
        ({"cutoff": 0.0}, "cutoff"),
        ({"pair_bin_width": -0.1}, "pair_bin_width"),
        ({"triplet_cutoff": 7.0}, "triplet_cutoff"),
        ({"pair_buckets": 0}, "pair_buckets"),
        ({"triplet_buckets": -5}, "triplet_buckets"),
        ({"heads": 0}, "heads"),
        ({"max_triplet_neighbors": 0}, "max_triplet_neighbors"),
        ({"triplet_tie_tolerance": -0.01}, "triplet_tie_tolerance"),
        ({"triplet_tie_tolerance": float("nan")}, "triplet_tie_tolerance"),
        ({"pair_bin_width": 0.001}, "n_pair_bins"),
        ({"angle_bin_deg": 0.1}, "n_angle_bins"),
        ({"hash_seed": -1}, "hash_seed"),
    ],
)
def test_validation_names_the_bad_field(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MotifMemorySpec(**kwargs)


def test_from_dict_rejects_unknown_keys_by_name() -> None:
    with pytest.raises(ValueError, match="pair_bucket_count"):
        MotifMemorySpec.from_dict({"pair_bucket_count": 3})


def test_stored_specs_without_lookup_load_as_hard() -> None:
    # the bundled checkpoints' spec (2026-11): every legacy field, no lookup, no tie tolerance
    stored = {
        "mode": "pamm", "fusion": "gate", "cutoff": 6.0, "pair_bin_width": 0.1,
        "triplet_cutoff": 4.0, "max_triplet_neighbors": 12, "angle_bin_deg": 10.0,
        "pair_buckets": 4096, "triplet_buckets": 16384, "heads": 2, "head_dim": 16,
        "hash_seed": 0,
    }  # fmt: skip
    assert MotifMemorySpec.from_dict(stored).lookup == "hard"
    assert MotifMemorySpec.from_dict({**stored, "lookup": "smooth"}).lookup == "smooth"
    # a partial dict (a new config) takes the default; the round trip keeps the field
    partial = {k: v for k, v in stored.items() if k != "hash_seed"}
    assert MotifMemorySpec.from_dict(partial).lookup == "smooth"
    hard = MotifMemorySpec(lookup="hard")
    assert MotifMemorySpec.from_dict(hard.to_dict()) == hard


def test_triplet_reduce_defaults_to_mean_and_round_trips() -> None:
    # every stored spec before the field (bundled checkpoints included) used the mean
    stored = {k: v for k, v in MotifMemorySpec().to_dict().items() if k != "triplet_reduce"}
    assert MotifMemorySpec.from_dict(stored).triplet_reduce == "mean"
    total = MotifMemorySpec(triplet_reduce="sum")
    assert MotifMemorySpec.from_dict(total.to_dict()) == total
