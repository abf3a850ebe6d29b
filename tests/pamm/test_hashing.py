"""Carter–Wegman hashing: golden values, numpy == torch, exact formula, cross-process."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from pamm.hashing import PRIME, hash_numpy, hash_params, hash_torch

KEYS = np.array([0, 1, 139273, 2**31 - 2], dtype=np.int64)


def test_golden_params_and_buckets() -> None:
    a, b = hash_params(0, 2, "pair")
    assert a.tolist() == [1756295460, 2083472948]
    assert b.tolist() == [1929999440, 1280600887]
    assert hash_numpy(KEYS, a, b, 4096).tolist() == [
        [1104, 2871],
        [1397, 364],
        [2947, 733],
        [812, 1282],
    ]
    a, b = hash_params(0, 2, "triplet")
    assert a.tolist() == [2103747051, 883157719]
    assert hash_numpy(KEYS, a, b, 16384).tolist() == [
        [5688, 2447],
        [14372, 13414],
        [15472, 2778],
        [13388, 7863],
    ]
    a, b = hash_params(7, 3, "pair")  # non power-of-two M takes the remainder path
    assert hash_numpy(np.array([5, 1049609]), a, b, 1000).tolist() == [
        [628, 375, 46],
        [840, 983, 726],
    ]


@pytest.mark.parametrize("buckets", [4096, 16384, 1000, 7])
def test_numpy_equals_torch_equals_formula(buckets: int) -> None:
    rng = np.random.default_rng(3)
    keys = rng.integers(0, PRIME, size=5000, dtype=np.int64)
    a, b = hash_params(11, 3, "triplet")
    got_np = hash_numpy(keys, a, b, buckets)
    got_torch = hash_torch(
        torch.from_numpy(keys), torch.from_numpy(a), torch.from_numpy(b), buckets
    )
    np.testing.assert_array_equal(got_np, got_torch.numpy())
    # exact Python big-int reference of ((a*key + b) mod p) mod M on a subsample
    for n in range(0, 5000, 97):
        ref = [((int(a[h]) * int(keys[n]) + int(b[h])) % PRIME) % buckets for h in range(3)]
        assert got_np[n].tolist() == ref
    assert got_np.min() >= 0 and got_np.max() < buckets


def test_params_depend_on_seed_and_table() -> None:
    a0, b0 = hash_params(0, 4, "pair")
    a1, _ = hash_params(1, 4, "pair")
    a2, _ = hash_params(0, 4, "triplet")
    assert not np.array_equal(a0, a1) and not np.array_equal(a0, a2)
    np.testing.assert_array_equal(hash_params(0, 4, "pair")[1], b0)


@pytest.mark.slow
def test_two_processes_agree() -> None:
    code = (
        "import numpy as np, torch;"
        "from pamm.hashing import hash_params, hash_torch;"
        "a, b = hash_params(5, 2, 'triplet');"
        "k = torch.arange(0, 2**31 - 1, 2**31 // 1000);"
        "print(hash_torch(k, torch.from_numpy(a), torch.from_numpy(b), 16384).sum(0).tolist(),"
        " a.tolist(), b.tolist())"
    )
    outs = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    ]
    a, b = hash_params(5, 2, "triplet")
    k = torch.arange(0, 2**31 - 1, 2**31 // 1000)
    here = hash_torch(k, torch.from_numpy(a), torch.from_numpy(b), 16384).sum(0).tolist()
    assert outs[0] == outs[1] == f"{here} {a.tolist()} {b.tolist()}\n"


def test_rejects_bad_inputs() -> None:
    a, b = hash_params(0, 2, "pair")
    with pytest.raises(ValueError, match="outside"):
        hash_numpy(np.array([-1]), a, b, 16)
    with pytest.raises(ValueError, match="outside"):
        hash_torch(torch.tensor([PRIME]), torch.from_numpy(a), torch.from_numpy(b), 16)
    with pytest.raises(ValueError, match="buckets"):
        hash_numpy(np.array([1]), a, b, 0)
    with pytest.raises(ValueError, match="heads"):
        hash_params(0, 0, "pair")
