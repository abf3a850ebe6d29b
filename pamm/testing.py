"""Helpers for tests and notebooks: slow reference triplets, tiny models/batches, symmetry.

The reference enumeration is deliberately plain Python over ASE's neighbour list, so it
is obviously correct; ``pamm.keys.extract_motifs`` is tested against it.

>>> import numpy as np
>>> atoms = random_crystal(np.random.default_rng(0), n_atoms=2)
>>> len(atoms), bool(atoms.pbc.all())
(2, True)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from ase import Atoms
from ase.neighborlist import neighbor_list

from pamm.keys import EDGE_SHIFT
from pamm.plumbing import atoms_to_batch
from pamm.spec import MotifMemorySpec

__all__ = [
    "TINY_BACKBONE",
    "ase_edges",
    "dense_crystals",
    "energy_forces",
    "energy_forces64",
    "random_crystal",
    "random_rotation",
    "randomize_memory",
    "reference_triplets",
    "rotate_atoms",
    "tiny_batch",
    "tiny_model",
    "tiny_pamm_checkpoint",
    "tiny_plain_checkpoint",
]

#: a tiny eSCN-MD configuration: one forward of a few small crystals takes ~0.1 s on CPU
TINY_BACKBONE: dict[str, Any] = {
    "max_num_elements": 100,
    "sphere_channels": 16,
    "lmax": 1,
    "mmax": 1,
    "num_layers": 1,
    "hidden_channels": 16,
    "edge_channels": 16,
    "num_distance_basis": 16,
    "cutoff": 5.0,
    "otf_graph": True,
    "max_neighbors": 300,
    "direct_forces": False,
    "regress_forces": True,
    "regress_stress": True,
    "dataset_mapping": {"omat": "omat"},
}


def ase_edges(atoms: Atoms, cutoff: float) -> dict[str, np.ndarray]:
    """Radius-graph edges from ASE in fairchem's convention (edge_index[1] = centre i).

    Returns edge_index [2, E] (row 0 = neighbour j), edge_distance [E], edge_distance_vec
    [E, 3] (= r_j + S - r_i) and cell_offsets [E, 3] (S in cell units), float64.
    """
    i, j, d, vec, shift = neighbor_list("ijdDS", atoms, cutoff)
    return {
        "edge_index": np.stack([j, i]).astype(np.int64),
        "edge_distance": d,
        "edge_distance_vec": vec,
        "cell_offsets": shift.astype(np.int64),
    }


def reference_triplets(
    edges: dict[str, np.ndarray], atomic_numbers: np.ndarray, spec: MotifMemorySpec
) -> list[tuple[int, int, int]]:
    """Slow, obvious triplet enumeration: sorted list of (edge j->i, edge k->i, packed key).

    For each centre i: its edges shorter than ``spec.triplet_cutoff``, sorted by distance
    (ties by edge position); with hard lookups the first K = ``spec.max_triplet_neighbors``
    kept plus any within ``spec.triplet_tie_tolerance`` of the K-th distance (smooth
    lookups keep all); every ordered pair of two different kept edges is a triplet with
    θ = angle between their vectors.
    """
    centre = edges["edge_index"][1]
    neigh = edges["edge_index"][0]
    dist, vec = edges["edge_distance"], edges["edge_distance_vec"]
    out = []
    for i in sorted(set(centre.tolist())):
        mine = [e for e in range(len(centre)) if centre[e] == i and dist[e] < spec.triplet_cutoff]
        mine.sort(key=lambda e: (dist[e], e))
        if not spec.smooth and len(mine) > spec.max_triplet_neighbors:  # smooth: no cap
            reach = dist[mine[spec.max_triplet_neighbors - 1]] + spec.triplet_tie_tolerance
            mine = [e for e in mine if dist[e] <= reach]
        for a in mine:
            for b in mine:
                if a == b:
                    continue
                cos = float(np.dot(vec[a], vec[b]) / (dist[a] * dist[b]))
                theta = math.degrees(math.acos(max(-1.0, min(1.0, cos))))
                abin = min(int(theta / spec.angle_bin_deg + EDGE_SHIFT), spec.n_angle_bins - 1)
                zj, zi, zk = (int(atomic_numbers[x]) for x in (neigh[a], i, neigh[b]))
                key = zj << 24 | zi << 17 | zk << 10 | abin
                out.append((a, b, key))
    return sorted(out)


def random_crystal(
    rng: np.random.Generator,
    n_atoms: int = 4,
    *,
    volume_per_atom: float = 14.0,
    elements: tuple[int, ...] = (1, 6, 8, 14, 26),
    min_distance: float = 1.2,
) -> Atoms:
    """A random triclinic periodic cell with ``n_atoms`` atoms at least ``min_distance`` apart.

    Atoms are placed one at a time at uniform random fractional positions, each retried
    until it is ``min_distance`` from every atom placed so far (minimum image).
    """
    from ase.geometry import get_distances

    for _ in range(100):
        lengths = (volume_per_atom * n_atoms) ** (1 / 3) * rng.uniform(0.8, 1.25, size=3)
        cell = np.diag(lengths) + rng.uniform(-0.2, 0.2, size=(3, 3)) * lengths.mean()
        frac: list[np.ndarray] = []
        for _ in range(200 * n_atoms):
            if len(frac) == n_atoms:
                break
            trial = rng.uniform(size=3)
            if frac:
                _, dist = get_distances(trial @ cell, np.array(frac) @ cell, cell=cell, pbc=True)
                if dist.min() < min_distance:
                    continue
            frac.append(trial)
        if len(frac) == n_atoms:
            numbers = rng.choice(elements, size=n_atoms)
            return Atoms(numbers=numbers, scaled_positions=np.array(frac), cell=cell, pbc=True)
    raise RuntimeError("could not place atoms at the requested minimum distance")


def ideal_crystals() -> list[Atoms]:
    """Unrattled high-symmetry crystals whose angles (60°, 90°, 120°, 180°) and some
    distances (3.0 Å) sit exactly on bin edges and whose shells are cut by K = 12.

    Rotating them is the hard case for invariance: float noise alone must not move a
    motif to another bin or split a shell of equidistant neighbours.
    """
    from ase.build import bulk

    return [
        bulk("Cu", "fcc", a=3.6, cubic=True),
        bulk("Fe", "bcc", a=2.87, cubic=True),
        bulk("NaCl", "rocksalt", a=5.64),
        bulk("Mg", "hcp", a=3.21, c=5.21),
        bulk("Si", "diamond", a=5.43),
        bulk("Po", "sc", a=3.0),
    ]


def dense_crystals() -> dict[str, Atoms]:
    """Dense metals and oxides at experimental lattice constants (unrattled), by name.

    The neighbour cap and the triplet cost are checked on these: the most neighbours
    within 6 Å (fcc Cu, corundum) and the most partners within the triplet cutoff.
    """
    from ase.build import bulk
    from ase.spacegroup import crystal

    corundum = crystal(
        ["Al", "O"], basis=[(0, 0, 0.352), (0.306, 0, 0.25)], spacegroup=167,
        cellpar=[4.759, 4.759, 12.991, 90, 90, 120],
    )  # fmt: skip
    rutile = crystal(
        ["Ti", "O"], basis=[(0, 0, 0), (0.305, 0.305, 0)], spacegroup=136,
        cellpar=[4.594, 4.594, 2.959, 90, 90, 90],
    )  # fmt: skip
    return {
        "fcc Cu": bulk("Cu", "fcc", a=3.615, cubic=True),
        "bcc W": bulk("W", "bcc", a=3.165, cubic=True),
        "corundum Al2O3": corundum,
        "diamond C": bulk("C", "diamond", a=3.567),
        "rocksalt MgO": bulk("MgO", "rocksalt", a=4.212),
        "rutile TiO2": rutile,
    }


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random proper rotation matrix [3, 3] (``scipy.spatial.transform``)."""
    from scipy.spatial.transform import Rotation

    return Rotation.random(random_state=rng).as_matrix()


def rotate_atoms(atoms: Atoms, rotation: np.ndarray, translation: np.ndarray) -> Atoms:
    """A copy with positions and cell rotated (row vectors: r @ R.T) and positions shifted."""
    out = atoms.copy()
    out.set_cell(atoms.cell.array @ rotation.T, scale_atoms=False)
    out.positions = atoms.positions @ rotation.T + translation
    return out


def tiny_batch(atoms_list: list[Atoms], task_name: str = "omat"):
    """Collate ASE structures into a fairchem AtomicData batch (graph built on the fly)."""
    return atoms_to_batch(atoms_list, task_name=task_name, keep_labels=True)


def tiny_model(
    pamm: dict | None = None, *, moe: bool = False, num_experts: int = 2, **backbone: Any
) -> torch.nn.Module:
    """A tiny HydraModel (PaMM backbone + energy/forces/stress head), float32, CPU."""
    from fairchem.core.models.base import HydraModel

    cfg = {**TINY_BACKBONE, **backbone}
    if moe:
        cfg = {"model": "pamm.backbone.PaMMMoeBackbone", "num_experts": num_experts, **cfg}
    else:
        cfg = {"model": "pamm.backbone.PaMMBackbone", **cfg}
    cfg["pamm"] = pamm
    heads = {"efs": {"module": "fairchem.core.models.uma.escn_md.MLP_EFS_Head"}}
    return HydraModel(backbone=cfg, heads=heads)


def energy_forces(
    model: torch.nn.Module, atoms_list: list[Atoms], *, seed: int | None = None
) -> tuple[torch.Tensor, ...]:
    """(energy [S], forces [N, 3], stress [S, 9]) of ``atoms_list``, detached.

    eSCN-MD draws a random roll angle for each edge frame, so two forwards agree only to
    float noise; give ``seed`` (torch.manual_seed before the call) for bitwise repeats.
    """
    if seed is not None:
        torch.manual_seed(seed)
    out = model(tiny_batch(atoms_list))["efs"]
    return (
        out["energy"]["energy"].detach(),
        out["forces"]["forces"].detach(),
        out["stress"]["stress"].detach(),
    )


def energy_forces64(
    model: torch.nn.Module, atoms_list: list[Atoms], *, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(energy [S], forces [N, 3]) in float64 of a float64 model (``model.double()``).

    Positions and cells are taken from ``atoms_list`` in float64 (``tiny_batch`` rounds
    them to float32), so finite differences of 1e-5 Å resolve. Seeded like ``energy_forces``.
    """
    batch = tiny_batch(atoms_list)
    batch.pos = torch.as_tensor(np.concatenate([a.positions for a in atoms_list]))  # [N, 3]
    batch.cell = torch.as_tensor(np.stack([a.cell.array for a in atoms_list]))  # [S, 3, 3]
    torch.manual_seed(seed)
    out = model(batch)["efs"]
    return out["energy"]["energy"].detach(), out["forces"]["forces"].detach()


@torch.no_grad()
def randomize_memory(model: torch.nn.Module, scale: float = 0.3, seed: int = 0) -> None:
    """Give the memory tables and fusion weights (incl. zero-init ones) random values.

    A ``baseline`` model (no memory) is left as it is.
    """
    backbone = getattr(model, "backbone", model)
    gen = torch.Generator().manual_seed(seed)
    for module in (backbone.motif_memory, backbone.motif_fusion):
        for p in () if module is None else module.parameters():  # none for ``baseline``
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale)


def tiny_pamm_checkpoint(path, spec: dict[str, Any], *, scale: float = 0.3):
    """Save a tiny random-init PaMM checkpoint (memory randomised so gates vary) to ``path``.

    ``scale``: the memory's random scale (``randomize_memory``).

    Returns ``(path, ckpt)``; written with :func:`pamm.checkpoint.save_checkpoint`.
    """
    from fairchem.core.units.mlip_unit.api.inference import MLIPInferenceCheckpoint

    from pamm.checkpoint import build_model, save_checkpoint

    config = {
        "_target_": "fairchem.core.models.base.HydraModel",
        "backbone": {"model": "pamm.backbone.PaMMBackbone", **TINY_BACKBONE, "pamm": spec},
        "heads": {"efs": {"module": "fairchem.core.models.uma.escn_md.MLP_EFS_Head"}},
    }
    ckpt = MLIPInferenceCheckpoint(
        model_config=config, model_state_dict={}, ema_state_dict={}, tasks_config={}
    )
    model = build_model(ckpt, strict=False)
    randomize_memory(model, scale=scale)
    ckpt.model_state_dict = model.state_dict()
    ckpt.ema_state_dict = torch.optim.swa_utils.AveragedModel(model).state_dict()
    return save_checkpoint(ckpt, path), ckpt


def _task_config(prop: str, level: str, dim: list[int]) -> dict[str, Any]:
    """A fairchem task config (what the predict unit reads to name and scale outputs)."""
    unit = "fairchem.core.units.mlip_unit.mlip_unit"
    normalizer = "fairchem.core.modules.normalization.normalizer.Normalizer"
    return {
        "_target_": f"{unit}.Task", "name": f"omat_{prop}", "level": level, "property": prop,
        "out_spec": {"_target_": f"{unit}.OutputSpec", "dim": dim, "dtype": "float32"},
        "normalizer": {"_target_": normalizer, "mean": 0.0, "rmsd": 1.0}, "datasets": ["omat"],
    }  # fmt: skip


def tiny_plain_checkpoint():
    """A tiny plain eSCN-MD inference checkpoint that fairchem's predict unit and
    calculator can drive (energy and forces tasks; ``pamm.checkpoint.attach_pamm`` puts
    PaMM on top of it)."""
    from fairchem.core.units.mlip_unit.api.inference import MLIPInferenceCheckpoint

    from pamm.checkpoint import build_model

    config = {
        "_target_": "fairchem.core.models.base.HydraModel",
        "backbone": {"model": "fairchem.core.models.uma.escn_md.eSCNMDBackbone", **TINY_BACKBONE},
        "heads": {"efs": {"module": "fairchem.core.models.uma.escn_md.MLP_EFS_Head",
                          "prefix": "omat"}},  # the predict unit reads "omat_energy" etc.
        "pass_through_head_outputs": True,
    }  # fmt: skip
    tasks = [_task_config("energy", "system", [1]), _task_config("forces", "atom", [3])]
    ckpt = MLIPInferenceCheckpoint(
        model_config=config, model_state_dict={}, ema_state_dict={}, tasks_config=tasks
    )
    model = build_model(ckpt, strict=False)
    ckpt.model_state_dict = model.state_dict()
    ckpt.ema_state_dict = torch.optim.swa_utils.AveragedModel(model).state_dict()
    return ckpt
