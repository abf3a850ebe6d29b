"""PaMM backbones: fairchem's eSCN-MD (plain and MoLE) with the motif memory fused into x_edge.

``eSCNMDBackbone.forward`` builds ``x_edge`` once and hands it to exactly two consumers:
``edge_degree_embedding`` and ``backend.get_layer_radial_emb`` (which feeds every block,
raw for the "general" backend, as precomputed radials for the fast backends). PaMM
follows DESIGN.md approach (a), without copying ``forward``:

1. ``_generate_graph`` is overridden to keep this call's graph (and data);
2. a forward pre-hook on ``edge_degree_embedding`` replaces its ``x_edge`` argument by
   ``x' = fusion(x_edge, memory(motif keys of the graph))``;
3. ``self.backend`` is wrapped so ``get_layer_radial_emb`` receives the same fused x'.

The width E of x_edge is unchanged, so every RadialMLP and fast backend still applies.
``pamm={"mode": "baseline"}`` (or ``pamm=None``) adds nothing: the parent, exactly.

Hydra: ``backbone: {model: pamm.backbone.PaMMBackbone, ..., pamm: {fusion: affine}}``.
The spec's ``cutoff`` defaults to the backbone's and must equal it when given.

Edge cases: atomic numbers must be inside the element embedding (and < 128 for motif
keys), else a ValueError names the value. A batch whose structures have no edges at all
(fairchem then pads one fake self-loop) is well defined: the memory is skipped, x' = x,
so the prediction equals the plain backbone's (an isolated atom has no motifs). A
structure without edges inside a batch with edges simply has no motifs either.
"""

from __future__ import annotations

from typing import Any

import torch
from fairchem.core.models.uma.escn_md import eSCNMDBackbone
from fairchem.core.models.uma.escn_moe import eSCNMDMoeBackbone

from pamm.blend import blend_lookups
from pamm.fusion import build_fusion
from pamm.keys import MAX_Z, MotifKeys, extract_motifs
from pamm.memory import MotifMemory
from pamm.spec import MotifMemorySpec

__all__ = ["PaMMBackbone", "PaMMMoeBackbone", "memory_init_seed", "resolve_spec"]


def resolve_spec(pamm: Any, cutoff: float) -> MotifMemorySpec:
    """The spec from a hydra/plain dict (or a spec, or None = baseline) for a backbone cutoff."""
    if isinstance(pamm, MotifMemorySpec):
        data = pamm.to_dict()
    elif pamm is None:
        data = {"mode": "baseline"}
    else:
        try:
            from omegaconf import DictConfig, OmegaConf

            if isinstance(pamm, DictConfig):
                pamm = OmegaConf.to_container(pamm, resolve=True)
        except ImportError:  # pragma: no cover - omegaconf ships with fairchem
            pass
        if not isinstance(pamm, dict):
            raise ValueError(f"pamm must be a dict of MotifMemorySpec fields, got {pamm!r}")
        data = dict(pamm)
    data.setdefault("cutoff", float(cutoff))
    if abs(float(data["cutoff"]) - float(cutoff)) > 1e-9:
        raise ValueError(
            f"pamm cutoff={data['cutoff']} must equal the backbone cutoff={cutoff} "
            "(pair bins cover the radius graph)"
        )
    return MotifMemorySpec.from_dict(data)


def memory_init_seed(seed: int) -> int:
    """Seed of the memory's and fusion's initialisation, derived from the run's ``seed``.

    >>> memory_init_seed(0) != memory_init_seed(1), memory_init_seed(0) == memory_init_seed(0)
    (True, True)
    """
    import numpy as np

    return int(np.random.SeedSequence([seed % 2**64, 0x9A33]).generate_state(1, np.uint64)[0])


def _cell_offsets(graph: dict, data: Any) -> torch.Tensor | None:
    """Integer image offsets [E, 3] of the graph's edges (otf graph or the data's)."""
    if "cell_offsets" in graph:
        return graph["cell_offsets"]
    if "cell_offsets" in data and data["cell_offsets"].shape[0] == graph["edge_index"].shape[1]:
        return data["cell_offsets"]
    return None


class _FusedRadialBackend:
    """Delegates to a fairchem execution backend; feeds the fused x_edge to the layers."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not yet set (e.g. during unpickling)
            raise AttributeError(name)
        return getattr(self.inner, name)

    def get_layer_radial_emb(self, x_edge: torch.Tensor, model: Any) -> list[torch.Tensor]:
        return self.inner.get_layer_radial_emb(model._pamm_fused_for(x_edge), model)


class _PaMMMixin:
    """The memory, the fusion and the three interception points (see module docstring)."""

    def _init_pamm(self, pamm: Any) -> None:
        self.pamm_spec = resolve_spec(pamm, self.cutoff)
        self._pamm_graph: dict | None = None
        self._pamm_data: Any = None
        self._pamm_fused: tuple[torch.Tensor, torch.Tensor] | None = None
        self._pamm_sinks: list = []  # capture callbacks, see pamm.capture
        self.motif_memory = None
        self.motif_fusion = None
        if not self.pamm_spec.uses_memory:
            return
        edge_dim = self.edge_channels_list[0]  # E = num_distance_basis + 2 * edge_channels
        # the memory and fusion draw from their own seeded stream and leave the global one
        # as they found it: at one seed, the heads built after this backbone get the same
        # weights as the baseline's (paired initialisation)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(memory_init_seed(torch.initial_seed()))
            self.motif_memory = MotifMemory(self.pamm_spec, edge_dim=edge_dim)
            self.motif_fusion = build_fusion(
                self.pamm_spec.fusion, edge_dim=edge_dim, memory_dim=self.motif_memory.memory_dim
            )
        self.edge_degree_embedding.register_forward_pre_hook(self._pamm_pre_edge_degree)
        self.backend = _FusedRadialBackend(self.backend)

    # -- checks ------------------------------------------------------------------------
    def _pamm_check_atomic_numbers(self, data_dict: Any) -> None:
        z = data_dict["atomic_numbers"]
        if z.numel() == 0:
            raise ValueError("the batch has no atoms")
        lo, hi = int(z.min()), int(z.max())
        if lo < 0 or hi >= self.max_num_elements:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"atomic number {bad} is outside the element embedding "
                f"(max_num_elements={self.max_num_elements})"
            )
        if self.pamm_spec.uses_memory and hi >= MAX_Z:
            raise ValueError(f"atomic number {hi} >= {MAX_Z}: PaMM motif keys hold Z < {MAX_Z}")

    # -- interception points -------------------------------------------------------------
    def forward(self, data_dict: Any) -> dict[str, torch.Tensor]:
        """The parent's forward, after an atomic-number check; per-call state is dropped."""
        self._pamm_check_atomic_numbers(data_dict)
        try:
            return super().forward(data_dict)
        finally:
            self._pamm_graph = self._pamm_data = self._pamm_fused = None

    def _generate_graph(self, data_dict: Any) -> dict:
        graph = super()._generate_graph(data_dict)
        if self.motif_memory is not None:
            self._pamm_graph, self._pamm_data = graph, data_dict
        return graph

    def _pamm_pre_edge_degree(self, module: torch.nn.Module, args: tuple) -> tuple:
        x_message, x_edge, *rest = args
        return (x_message, self._pamm_fuse(x_edge), *rest)

    def _pamm_fused_for(self, x_edge: torch.Tensor) -> torch.Tensor:
        if self._pamm_fused is None or self._pamm_fused[0] is not x_edge:
            raise RuntimeError(
                "PaMM: get_layer_radial_emb received an x_edge that was not fused in this "
                "forward; call the backbone's forward, not the backend directly"
            )
        return self._pamm_fused[1]

    def _pamm_fuse(self, x_edge: torch.Tensor) -> torch.Tensor:
        """x_edge [E, edge_dim] -> fused x' [E, edge_dim] for the graph of this call."""
        graph, data = self._pamm_graph, self._pamm_data
        if graph is None:
            raise RuntimeError("PaMM: no graph for this call (forward not entered)")
        edge_index = graph["edge_index"]  # [2, E]
        padded = edge_index.shape[1] == 1 and bool(graph["edge_distance"][0] > self.cutoff)
        if padded:  # fairchem's fake self-loop of an edge-less batch: no motifs
            fused, gate, keys, lookup = x_edge, None, None, None
        else:
            keys = self.pamm_motif_keys(graph, data)
            lookup = self.motif_memory(
                keys,
                x_edge=x_edge,
                atomic_numbers=data["atomic_numbers_full"],
                batch=data["batch_full"],
                edge_index=edge_index,
                edge_distance=graph["edge_distance"],
                edge_distance_vec=graph["edge_distance_vec"],
            )
            fused, gate = self.motif_fusion(x_edge, lookup.m)  # [E, edge_dim] x2
        self._pamm_fused = (x_edge, fused)
        for sink in self._pamm_sinks:
            sink(self, graph, data, keys, lookup, gate)
        return fused

    def pamm_motif_keys(self, graph: dict, data: Any) -> MotifKeys:
        """Motif keys of a fairchem graph dict, with the smooth lookups if the spec has them.

        Keys come from detached distances (they are discrete); the smooth lookups' weights
        from the graph's own tensors, so autograd forces and stress see them.
        """
        keys = extract_motifs(
            graph["edge_index"],
            graph["edge_distance"].detach(),
            graph["edge_distance_vec"].detach(),
            data["atomic_numbers_full"],
            self.pamm_spec,
        )
        if self.pamm_spec.smooth:
            keys = blend_lookups(
                keys, graph["edge_distance"], graph["edge_distance_vec"], self.pamm_spec
            )
        return keys


class PaMMBackbone(_PaMMMixin, eSCNMDBackbone):
    """eSCN-MD backbone with the PaMM motif memory; ``pamm``: MotifMemorySpec fields.

    All other keyword arguments are ``eSCNMDBackbone``'s.
    """

    def __init__(self, *, pamm: dict | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pamm_backbone_kwargs = dict(kwargs)
        self._init_pamm(pamm)


class PaMMMoeBackbone(_PaMMMixin, eSCNMDMoeBackbone):
    """eSCN-MD MoLE backbone with the PaMM motif memory (memory and fusion stay dense)."""

    def __init__(self, *, pamm: dict | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._init_pamm(pamm)

    def merge_MOLE_model(self, data: Any) -> eSCNMDBackbone:
        """Merge the experts for ``data``'s composition into a ``PaMMBackbone``.

        The parent merges in place and strict-loads into a plain ``eSCNMDBackbone``; the
        memory and fusion are set aside during that step and loaded into the result.
        """
        if self.num_experts == 0:
            return self
        names = ("motif_memory", "motif_fusion")
        extras = {k: self._modules.pop(k) for k in names if k in self._modules}
        try:
            super().merge_MOLE_model(data)  # merges self in place; its plain copy is dropped
        finally:
            self._modules.update(extras)
        merged = PaMMBackbone(**self.parent_kwargs, pamm=self.pamm_spec.to_dict())
        merged.load_state_dict(self.state_dict())
        merged.to(next(self.parameters()).device)
        merged.eval()
        return merged
