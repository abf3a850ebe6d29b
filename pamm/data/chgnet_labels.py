"""CHGNet labels with one backward pass: the oxide generator's calculator (issue #13).

CHGNet 0.4.2's ASE calculator takes forces and stress from two ``autograd.grad`` calls
with ``create_graph=True``, which training needs (its losses differentiate them again)
and labelling never uses. :class:`CHGNetLabeller` runs the same pretrained model, graph
converter and composition model, and differentiates the energy with respect to positions
and strain together, once, without that graph and without gradients to the weights.
Energies equal the calculator's; forces and stresses agree to float32 noise
(``tests/data/test_chgnet_labels.py`` measures both, and checks the forces against finite
differences of the energy). It relies on CHGNet's ``BatchedGraph`` and ``CHGNet._compute``,
so the ``generate`` extra pins ``chgnet==0.4.2``.
"""

from __future__ import annotations

import functools
import os

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

__all__ = [
    "LABEL_PATHS",
    "CHGNetLabeller",
    "chgnet_labeller",
    "label_calculator",
    "one_thread_per_worker",
]

#: how CHGNet's labels are computed: this module's labeller, or CHGNet's own calculator
LABEL_PATHS = ("one-backward", "calculator")

_VOIGT = ([0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1])  # xx yy zz yz xz xy


class CHGNetLabeller(Calculator):
    """Energy (eV), forces (eV/Å) and stress (eV/Å³, ASE's Voigt order) from CHGNet."""

    implemented_properties = ("energy", "free_energy", "forces", "stress")

    def __init__(self, model, **kwargs) -> None:
        super().__init__(**kwargs)
        if not model.is_intensive:
            raise ValueError("CHGNetLabeller expects CHGNet's intensive (per-atom) energy head")
        self.model = model.eval().requires_grad_(False)

    def calculate(self, atoms=None, properties=None, system_changes=all_changes) -> None:
        import torch
        from chgnet.model.model import BatchedGraph
        from pymatgen.io.ase import AseAtomsAdaptor

        super().calculate(atoms, properties, system_changes)
        model, n_atoms = self.model, len(self.atoms)
        graph = model.graph_converter(AseAtomsAdaptor.get_structure(self.atoms))
        batch = BatchedGraph.from_graphs(
            [graph],
            bond_basis_expansion=model.bond_basis_expansion,
            angle_basis_expansion=model.angle_basis_expansion,
            compute_stress=True,
        )
        per_atom = model._compute(batch)["e"]  # without the composition model's offset
        d_positions, d_strain = torch.autograd.grad(
            per_atom.sum() * n_atoms, [batch.atom_positions[0], batch.strains[0]]
        )
        # float32 times the atom count, as CHGNet's calculator rounds it
        energy = float((per_atom + model.composition_model([graph]))[0].detach().numpy() * n_atoms)
        stress = (d_strain / batch.volumes[0]).numpy()[_VOIGT]  # eV/Å³
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": -d_positions.numpy().astype(np.float64),
            "stress": stress.astype(np.float64),
        }


@functools.cache
def chgnet_labeller() -> CHGNetLabeller:
    """One :class:`CHGNetLabeller` per process (offline: ``HF_HUB_OFFLINE=1``, CPU)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from chgnet.model import CHGNet
    except ImportError as err:  # optional extra
        raise ImportError("labels need CHGNet: pip install 'pamm-lab[generate]'") from err
    return CHGNetLabeller(CHGNet.load(verbose=False))


def label_calculator(labels: str):
    """The calculator of a label path (:data:`LABEL_PATHS`), one per process.

    ``calculator`` (CHGNet's ASE calculator) made the bundled oxide data and, on the CPU
    it ran on, reproduces it bit for bit; ``one-backward`` is 1.7–2.1x faster per label and
    agrees to float32 noise, which relaxations and MD amplify (a regeneration with it is
    another realisation of the recipe: ``benchmarks/results/regeneration_oxides319.json``).
    """
    if labels == "one-backward":
        return chgnet_labeller()
    if labels == "calculator":
        from pamm.data.recipes import chgnet_calculator

        return chgnet_calculator()
    raise ValueError(f"labels must be one of {LABEL_PATHS}, not {labels!r}")


def one_thread_per_worker() -> None:
    """Set up a generator worker process: one torch thread, one BLAS thread, offline.

    Each worker owns one core. numpy's and scipy's OpenBLAS otherwise start a thread per
    core in every worker; their busy waits stole the other worker's core and made a
    relaxation 2.6–3.6x slower in wall time (``FrechetCellFilter``'s 3x3 ``logm``/``expm``
    and BFGS's ``eigh`` run every step; issue #13). Results are unchanged: matrices this
    small are never split across threads.
    """
    import torch
    from threadpoolctl import threadpool_limits

    os.environ["HF_HUB_OFFLINE"] = "1"
    torch.set_num_threads(1)
    threadpool_limits(limits=1)
