"""Fuzzing the config validator ``MotifMemorySpec.from_dict`` (docs/ARCHITECTURE.md).

Contract: any dict of JSON/YAML-like values either builds a spec whose derived sizes
are sane, or raises ``ValueError`` whose message names the offending field.
"""

from __future__ import annotations

import dataclasses
import math
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pamm.spec import MotifMemorySpec

FIELDS = [f.name for f in dataclasses.fields(MotifMemorySpec)]
DERIVED = ["n_pair_bins", "n_angle_bins"]  # named in messages about bin widths
FUZZ = settings(
    deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)

_WILD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),  # includes nan, ±inf, subnormals, huge
    st.text(max_size=6),
    st.sampled_from(["pamm", "gate", "affine", "baseline", "mlp", "6.0", [], {}, [1]]),
)
_KEYS = st.one_of(st.sampled_from(FIELDS), st.text(max_size=8))
#: per field, values of the right type around and beyond the valid range
_PLAUSIBLE = {
    "mode": st.sampled_from(["pamm", "baseline", "pair_only", "mlp", "PAMM", ""]),
    "fusion": st.sampled_from(["gate", "affine", "none"]),
    "lookup": st.sampled_from(["hard", "smooth", "soft", "", "HARD"]),
    "cutoff": st.floats(-1.0, 120.0),
    "pair_bin_width": st.floats(-0.01, 1.0),
    "triplet_cutoff": st.floats(-1.0, 12.0),
    "triplet_envelope_width": st.floats(-0.5, 8.0),
    "max_triplet_neighbors": st.integers(-2, 64),
    "triplet_tie_tolerance": st.floats(-0.1, 1.0),
    "angle_bin_deg": st.floats(-1.0, 200.0),
    "pair_buckets": st.integers(-2, 2**32),
    "triplet_buckets": st.integers(-2, 2**32),
    "heads": st.integers(-1, 8),
    "head_dim": st.integers(-1, 64),
    "hash_seed": st.integers(-5, 2**64),
}


def _check_one(data: dict) -> str:
    try:
        spec = MotifMemorySpec.from_dict(data)
    except ValueError as err:
        message = str(err)
        named = [n for n in [*FIELDS, *DERIVED, "unknown"] if n in message]
        assert named, f"error message names no field: {message!r}"
        return "refused"
    assert 0 < spec.n_pair_bins < 1024 and 0 < spec.n_angle_bins < 1024
    assert spec.pair_buckets > 0 and spec.triplet_buckets > 0 and spec.heads > 0
    assert math.isfinite(spec.cutoff) and spec.triplet_cutoff <= spec.cutoff
    assert spec.lookup in ("hard", "smooth")
    assert 0 < spec.triplet_envelope_width <= spec.triplet_cutoff
    assert MotifMemorySpec.from_dict(spec.to_dict()) == spec
    return "ok"


def _run_fuzz(strategy: st.SearchStrategy, examples: int) -> dict[str, int]:
    outcomes: dict[str, int] = {}

    @settings(FUZZ, max_examples=examples)
    @given(data=strategy)
    def run(data: dict) -> None:
        outcome = _check_one(data)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    run()
    return outcomes


def test_fuzz_spec_from_dict_wild_values() -> None:
    outcomes = _run_fuzz(st.dictionaries(_KEYS, _WILD, max_size=4), 800)
    assert sum(outcomes.values()) >= 780 and outcomes.get("refused", 0) > 500, outcomes


def test_fuzz_spec_from_dict_plausible_values() -> None:
    strategy = st.fixed_dictionaries({}, optional=_PLAUSIBLE)
    outcomes = _run_fuzz(strategy, 400)
    assert sum(outcomes.values()) >= 390, outcomes
    assert outcomes.get("ok", 0) > 30 and outcomes.get("refused", 0) > 30, outcomes


def _random_config(rng: random.Random) -> dict:
    """A config dict whose fields are each, with some chance, set to an edge value."""
    edge = {
        float: [0.0, -0.0, -1.0, 1e-9, 1e9, math.inf, -math.inf, math.nan, 7.5, 1e-3],
        int: [0, -1, 1, 2**31 - 1, 2**31, 2**63, True, 3.0, "8"],
    }
    plausible = {
        "cutoff": lambda: rng.uniform(0.5, 15.0),
        "pair_bin_width": lambda: rng.uniform(0.005, 1.0),
        "triplet_cutoff": lambda: rng.uniform(0.5, 8.0),
        "triplet_envelope_width": lambda: rng.uniform(0.01, 3.0),
        "angle_bin_deg": lambda: rng.uniform(0.1, 200.0),
        "max_triplet_neighbors": lambda: rng.randint(1, 40),
        "triplet_tie_tolerance": lambda: rng.uniform(0.0, 0.5),
        "pair_buckets": lambda: rng.randint(1, 1 << 20),
        "triplet_buckets": lambda: rng.randint(1, 1 << 20),
        "heads": lambda: rng.randint(1, 4),
        "head_dim": lambda: rng.randint(1, 32),
        "hash_seed": lambda: rng.randint(0, 1 << 40),
        "mode": lambda: rng.choice(["pamm", "baseline", "pair_only", "triplet_only", "mlp"]),
        "fusion": lambda: rng.choice(["gate", "affine"]),
        "lookup": lambda: rng.choice(["hard", "smooth"]),
    }
    config = {}
    for name, draw in plausible.items():
        roll = rng.random()
        if roll < 0.5:
            continue  # default
        if roll < 0.9:
            config[name] = draw()
        else:
            kind = float if isinstance(draw(), float) else int
            config[name] = rng.choice(edge[kind] + ["", None, "pamm", [1]])
    if rng.random() < 0.05:
        config[rng.choice(["cut_off", "Mode", "extra", ""])] = 1
    return config


def test_fuzz_spec_from_dict_seeded_configs() -> None:
    rng = random.Random(5)
    outcomes: dict[str, int] = {}
    for _ in range(2500):
        outcome = _check_one(_random_config(rng))
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert sum(outcomes.values()) == 2500
    assert outcomes["ok"] > 300 and outcomes["refused"] > 300, outcomes


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pair_bin_width", 0.0),
        ("pair_bin_width", -0.1),
        ("angle_bin_deg", 0),
        ("pair_buckets", 0),
        ("triplet_buckets", -5),
        ("heads", 0),
        ("cutoff", 0.0),
        ("cutoff", float("nan")),
        ("cutoff", float("inf")),
        ("triplet_cutoff", 7.0),  # above the default 6 Å graph cutoff
        ("triplet_envelope_width", 0.0),
        ("triplet_envelope_width", 4.5),  # wider than the 4 Å triplet cutoff
        ("lookup", "soft"),
        ("pair_bin_width", 1e-300),  # ~10^300 bins
        ("cutoff", 1e308),
    ],
)
def test_each_bad_config_is_refused_by_name(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field.removeprefix("pair_").removesuffix("_width")):
        MotifMemorySpec.from_dict({field: value})
