"""Smooth lookups: the energy is continuous in the positions and the forces its exact gradient.

Float64 throughout (``model.double()`` + ``pamm.testing.energy_forces64``) with a
randomised, non-zero memory, gate and affine scale. Each physics test also runs the hard
lookup and asserts that it fails there, so the check can fail.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest
import torch
from ase import Atoms

from pamm.blend import bin_blend, envelope
from pamm.keys import EDGE_SHIFT, extract_motifs
from pamm.spec import MotifMemorySpec
from pamm.testing import (
    ase_edges,
    energy_forces64,
    random_crystal,
    randomize_memory,
    tiny_model,
)

SPEC = {"pair_buckets": 256, "triplet_buckets": 512, "fusion": "affine", "triplet_cutoff": 3.5}
CUTOFF = 5.0  # TINY_BACKBONE's


def _model(lookup: str, **extra) -> torch.nn.Module:
    model = tiny_model({**SPEC, "lookup": lookup, **extra})
    randomize_memory(model, scale=0.3, seed=1)
    return model.double().eval()


@pytest.fixture(scope="module")
def models() -> dict[str, torch.nn.Module]:
    out = {lookup: _model(lookup) for lookup in ("hard", "smooth")}
    out["smooth_sum"] = _model("smooth", triplet_reduce="sum")  # no normaliser over partners
    return out


def test_bin_blend_is_a_c2_partition_of_unity() -> None:
    x = torch.linspace(-0.05, 5.2, 20001, dtype=torch.float64)
    x.requires_grad_(True)
    bins, w = bin_blend(x, 0.1, 50)
    torch.testing.assert_close(w.sum(1), torch.ones_like(x))
    assert (w >= 0).all() and bins.min() == 0 and bins.max() == 49
    # the blended value of a random table is continuous with a continuous derivative
    table = torch.randn(50, dtype=torch.float64)
    value = (table[bins] * w).sum(1)  # [n]
    (grad,) = torch.autograd.grad(value.sum(), x)
    step, jump = (
        float(x[1].detach() - x[0].detach()),
        float(table.diff().abs().max()),
    )  # plain floats
    # max s' = 15/8 and max |s''| = 10/sqrt(3): bounded first and second derivatives
    assert value.diff().abs().max() <= 1.01 * 1.875 * jump / 0.1 * step
    assert grad.diff().abs().max() <= 1.01 * 10 / 3**0.5 * jump / 0.1**2 * step
    flat = (x < 0.05) | (x > 4.95)  # within half a bin of either end: constant
    assert (grad[flat] == 0).all() and (grad[~flat] != 0).any()


def test_envelope_vanishes_with_its_derivative_at_the_cutoff() -> None:
    r = torch.tensor([1.0, 3.0, 3.25, 3.5, 3.5 - 1e-6, 4.0], dtype=torch.float64)
    r.requires_grad_(True)
    f = envelope(r, 3.5, 0.5)
    (df,) = torch.autograd.grad(f.sum(), r)
    assert f.tolist()[:4] == [1.0, 1.0, 0.5, 0.0] and f[5] == 0
    assert 0 < f[4] < 1e-15 and abs(float(df[4])) < 1e-9 and df[2] < -1


# -- finite differences at the knots -----------------------------------------------------------


def _crossing(g: Callable[[float], float], target: float, reach: float = 0.4) -> float | None:
    """Displacement s in [-reach, reach] with g(s) == target (grid + bisection), or None."""
    grid = np.linspace(-reach, reach, 161)
    values = np.array([g(s) for s in grid]) - target
    change = np.flatnonzero(np.sign(values[:-1]) != np.sign(values[1:]))
    if not len(change):
        return None
    lo, hi = grid[change[np.argmin(np.abs(grid[change]))]], grid[change[0] + 1]
    hi = grid[change[np.argmin(np.abs(grid[change]))] + 1]
    f_lo = g(lo) - target
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if np.sign(g(mid) - target) == np.sign(f_lo):
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _knot_moves(atoms: Atoms, spec: MotifMemorySpec) -> dict[str, tuple[np.ndarray, float]]:
    """Per knot kind: (unit direction d for atom 0, displacement s) putting a knot at s."""
    edges = ase_edges(atoms, CUTOFF)
    (j, i), vec = edges["edge_index"], edges["edge_distance_vec"]
    dr, dt = spec.pair_bin_width, spec.angle_bin_deg
    rt, w = spec.triplet_cutoff, spec.triplet_envelope_width
    out: dict[str, tuple[np.ndarray, float]] = {}
    # distance knots: atom 0 is the centre of edge e; move it along the edge
    for e in np.flatnonzero((i == 0) & (j != 0)):
        r0 = float(np.linalg.norm(vec[e]))
        d = vec[e] / r0  # r(s) = r0 - s
        targets = {
            "pair bin edge": round(r0 / dr) * dr,
            "pair bin edge (hard rule)": (round(r0 / dr) - EDGE_SHIFT) * dr,
            "pair bin centre": (np.floor(r0 / dr) + 0.5) * dr,
            "envelope start": rt - w,
            "triplet cutoff": rt,
        }
        for name, knot in targets.items():
            if name not in out and abs(r0 - knot) < 0.3:
                out[name] = (d, r0 - knot)
    # angle knots: centre c != 0, edges 0 -> c and k -> c; move atom 0 across the angle
    for a in np.flatnonzero((j == 0) & (i != 0)):
        for b in np.flatnonzero((i == i[a]) & (j != 0)):
            u, v = vec[a], vec[b]
            perp = v - (v @ u) / (u @ u) * u
            if np.linalg.norm(u) > rt - w or np.linalg.norm(v) > rt - w:
                continue
            d = perp / np.linalg.norm(perp)

            def theta(s: float, u=u, v=v, d=d) -> float:
                moved = u + s * d
                cos = moved @ v / (np.linalg.norm(moved) * np.linalg.norm(v))
                return float(np.degrees(np.arccos(np.clip(cos, -1, 1))))

            t0 = theta(0.0)
            for name, knot in (
                ("angle bin edge", round(t0 / dt) * dt),
                ("angle bin centre", (np.floor(t0 / dt) + 0.5) * dt),
            ):
                s = None if name in out else _crossing(theta, knot)
                if s is not None:
                    out[name] = (d, s)
    return out


def _fd_errors(model, atoms: Atoms, d: np.ndarray, s: float, h: float = 1e-5) -> float:
    """|dE/ds by central differences + F_0 . d| / max |F| at displacement s."""

    def moved(t: float) -> Atoms:
        out = atoms.copy()
        out.positions[0] += t * d
        return out

    _, forces = energy_forces64(model, [moved(s)])
    e_plus, _ = energy_forces64(model, [moved(s + h)])
    e_minus, _ = energy_forces64(model, [moved(s - h)])
    fd = float(e_plus.sum() - e_minus.sum()) / (2 * h)
    analytic = -float(forces[0].numpy() @ d)
    return abs(fd - analytic) / float(forces.abs().max())


@pytest.mark.parametrize("seed", [0, 1])
def test_forces_are_exact_gradients_across_knots(models, seed: int) -> None:
    rng = np.random.default_rng(seed)
    atoms = random_crystal(rng, n_atoms=5, volume_per_atom=11.0)
    atoms.rattle(0.05, seed=seed)
    spec = models["smooth"].backbone.pamm_spec
    moves = _knot_moves(atoms, spec)
    assert {"pair bin edge", "pair bin centre", "angle bin edge", "angle bin centre"} <= set(
        moves
    ), sorted(moves)
    assert {"envelope start", "triplet cutoff"} & set(moves), sorted(moves)
    for smooth in ("smooth", "smooth_sum"):
        errors = {name: _fd_errors(models[smooth], atoms, d, s) for name, (d, s) in moves.items()}
        assert max(errors.values()) < 1e-6, (smooth, errors)
    # the same check fails for the hard lookup where a pair bin edge is straddled
    d, s = moves["pair bin edge (hard rule)"]
    assert _fd_errors(models["hard"], atoms, d, s) > 1e-2


# -- displacement scan across >= 100 bin edges ------------------------------------------------


def _signature(atoms: Atoms, spec: MotifMemorySpec) -> torch.Tensor:
    """Sorted hard pair and triplet keys (every bin edge or cutoff crossing changes it)."""
    edges = {k: torch.from_numpy(v) for k, v in ase_edges(atoms, CUTOFF).items()}
    keys = extract_motifs(
        edges["edge_index"], edges["edge_distance"], edges["edge_distance_vec"],
        torch.from_numpy(atoms.numbers), spec,
    )  # fmt: skip
    return torch.cat((keys.pair_key.sort().values, keys.triplet_key.sort().values))


def _bracket_crossings(atoms: Atoms, d: np.ndarray, length: float, spec) -> list[tuple]:
    """(s_lo, s_hi) <= 1e-6 Å apart around each point where the key signature changes."""

    def at(s: float) -> torch.Tensor:
        moved = atoms.copy()
        moved.positions[0] += s * d
        return _signature(moved, spec)

    grid = np.linspace(0.0, length, round(length / 1e-3) + 1)
    sigs = [at(s) for s in grid]
    out = []
    for n in np.flatnonzero([not torch.equal(a, b) for a, b in itertools.pairwise(sigs)]):
        lo, hi, sig_lo = grid[n], grid[n + 1], sigs[n]
        while hi - lo > 1e-6:
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if torch.equal(at(mid), sig_lo) else (lo, mid)
        out.append((lo, hi))
    return out


@pytest.mark.slow  # ~1 min: thousands of key extractions to bracket the crossings
def test_energy_is_continuous_across_hundreds_of_bin_edges(models) -> None:
    # the energy step across each crossing, after removing the trapezoid force work
    # (O(1e-12) eV over a 1e-6 Å bracket), is the energy's jump there
    rng = np.random.default_rng(3)
    atoms = random_crystal(rng, n_atoms=6, volume_per_atom=11.0)
    d = rng.normal(size=3)
    d /= np.linalg.norm(d)
    spec = MotifMemorySpec(cutoff=CUTOFF, **SPEC)
    brackets = np.array(_bracket_crossings(atoms, d, 0.25, spec))  # [C, 2]
    assert len(brackets) >= 100, len(brackets)
    ends = [atoms.copy() for _ in range(brackets.size)]
    for k, s in enumerate(brackets.reshape(-1)):
        ends[k].positions[0] += s * d
    jumps = {}
    for lookup, model in models.items():
        energy, along = [], []
        for c in range(0, len(ends), 50):
            e, f = energy_forces64(model, ends[c : c + 50])
            energy.append(e)
            along.append(f.view(-1, len(atoms), 3)[:, 0] @ torch.from_numpy(d))  # F_0 . d
        energy, along = torch.cat(energy), torch.cat(along)  # [2C] x2
        width = torch.from_numpy(brackets[:, 1] - brackets[:, 0])  # [C]
        work = 0.5 * (along[0::2] + along[1::2]) * width
        jumps[lookup] = (energy[1::2] - energy[0::2] + work).abs()  # [C]
    assert float(jumps["smooth"].max()) <= 1e-8, float(jumps["smooth"].max())
    # the hard lookup jumps at these edges: the scan can fail
    assert float(jumps["hard"].max()) > 1e-4 and int((jumps["hard"] > 1e-8).sum()) > 30
