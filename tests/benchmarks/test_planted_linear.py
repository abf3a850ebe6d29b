"""benchmarks/planted_linear.py: key masses of a structure, and the read-outs on a design
whose answer is known."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from ase.build import bulk
from ase.neighborlist import neighbor_list

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.planted_linear import design, fits, key_masses, score  # noqa: E402
from pamm.keys import unpack_pair_key, unpack_triplet_key  # noqa: E402
from pamm.spec import MotifMemorySpec  # noqa: E402


def test_key_masses_count_every_edge_once_and_name_the_structure_s_elements() -> None:
    """Pair blend weights sum to 1 per edge, so a structure's pair masses sum to its number
    of directed edges inside the cutoff (counted here by ASE); keys hold its elements."""
    spec = MotifMemorySpec(cutoff=5.0, lookup="smooth")
    mgo = bulk("MgO", "rocksalt", a=4.2) * (2, 1, 1)
    mgo.rattle(0.05, seed=1)
    sio = bulk("Si", "diamond", a=5.4)
    sio.numbers[1] = 8
    masses = key_masses([mgo, sio], spec)
    rows, keys, mass = masses["pair"]
    for s, atoms in enumerate([mgo, sio]):
        edges = len(neighbor_list("i", atoms, spec.cutoff))
        assert abs(mass[rows == s].sum() - edges) < 1e-9
        zj, zi, _ = unpack_pair_key(keys[rows == s])
        assert set(zj) | set(zi) == set(atoms.numbers)
    t_rows, t_keys, t_mass = masses["triplet"]
    assert (t_mass >= 0).all() and t_mass.max() > 0 and set(t_rows) == {0, 1}
    assert set(unpack_triplet_key(t_keys[t_rows == 0])[1]) <= {8, 12}
    x_tr, x_te, names = design(masses, masses, 2, 2)
    assert x_tr.shape == (2, len(names)) and (x_tr != x_te).nnz == 0


def test_read_outs_on_a_known_answer() -> None:
    """y = 2 · x[:, 3] on random sparse features: the oracle and the lasso find column 3
    (rank 1, removal ~100 %); a read-out that puts the weight elsewhere ranks it lower."""
    rng = np.random.default_rng(0)
    x = sp.random(400, 60, density=0.1, random_state=1, data_rvs=rng.random).tocsr()
    x_test = sp.random(200, 60, density=0.1, random_state=2, data_rvs=rng.random).tocsr()
    y, y_test = 2 * x[:, 3].toarray().ravel(), 2 * x_test[:, 3].toarray().ravel()
    fitted = fits(x, y, [3])
    oracle = score(fitted["oracle"], x_test, y_test, [3])
    assert oracle["rank"] == 1 and abs(oracle["removal_ratio"] - 1) < 1e-9
    assert abs(oracle["test_r2"] - 1) < 1e-9 and abs(oracle["planted_beta"][0] - 2) < 1e-9
    lasso = score(fitted["lasso_0.0001"], x_test, y_test, [3])
    assert lasso["rank"] == 1 and 0.9 < lasso["removal_ratio"] < 1.05
    wrong = np.zeros(60)
    wrong[[5, 7]] = 3.0
    elsewhere = score(wrong, x_test, y_test, [3])
    assert elsewhere["rank"] > 2 and elsewhere["removal_ratio"] == 0 and elsewhere["test_r2"] < 0
    assert score(fitted["oracle"], x_test, np.zeros(200), [3])["removal_ratio"] is None
