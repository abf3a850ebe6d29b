"""Offline 3D viewer: self-contained HTML for a crystal or a motif environment.

py3Dmol builds the viewer script but loads 3Dmol.js from a CDN; here the vendored
``app/static/3Dmol-min.js`` (BSD-3, see ``3Dmol-LICENSE``) is inlined and
``$3Dmolpromise`` is pre-resolved so the page never fetches anything.

A :class:`Scene` is plain data (symbols, positions, cell, highlighted motif atoms,
bonds with a gate value each); :func:`scene_html` turns it into one HTML document for
``st.iframe``. Motif roles follow DESIGN.md: ``i`` centre, ``j`` the edge's neighbour,
``k`` the triplet partner.
"""

from __future__ import annotations

import functools
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from plotly.colors import sample_colorscale

__all__ = [
    "GATE_COLORSCALE",
    "ROLE_COLORS",
    "Bond",
    "Scene",
    "environment_scene",
    "force_arrows_html",
    "gate_color",
    "scene_from_atoms",
    "scene_html",
    "vendored_3dmol_js",
    "viewer_document",
]

STATIC_DIR = Path(__file__).resolve().parent / "static"
GATE_COLORSCALE = "Viridis"
ROLE_COLORS = {"i": "#d62728", "j": "#1f77b4", "k": "#2ca02c"}
_CELL_EDGES = [(0, 1), (0, 2), (0, 4), (1, 3), (1, 5), (2, 3), (2, 6), (3, 7), (4, 5), (4, 6)]
_CELL_EDGES += [(5, 7), (6, 7)]


@dataclass(frozen=True)
class Bond:
    """A drawn bond between scene atoms ``a`` and ``b``; ``gate`` in [0, 1] or None."""

    a: int
    b: int
    gate: float | None = None


@dataclass(frozen=True)
class Scene:
    """What the viewer draws. ``positions`` (N, 3) in Å; ``cell`` (3, 3) rows or None.

    ``highlight`` maps a motif role (``"i"``, ``"j"``, ``"k"``) to a scene atom index;
    ``atom_ids`` are the atoms' indices in the source structure (shown on hover).
    """

    symbols: tuple[str, ...]
    positions: np.ndarray
    cell: np.ndarray | None = None
    highlight: Mapping[str, int] = field(default_factory=dict)
    bonds: tuple[Bond, ...] = ()
    atom_ids: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        pos = np.asarray(self.positions, dtype=float)
        if pos.ndim != 2 or pos.shape[1] != 3 or len(pos) != len(self.symbols):
            raise ValueError(
                f"Scene positions must be (N, 3) with N = len(symbols) = {len(self.symbols)}, "
                f"got shape {pos.shape}"
            )
        object.__setattr__(self, "positions", pos)
        n = len(pos)
        for role, idx in self.highlight.items():
            if role not in ROLE_COLORS:
                raise ValueError(f"unknown highlight role {role!r}; use one of 'i', 'j', 'k'")
            if not 0 <= idx < n:
                raise ValueError(f"highlight {role}={idx} is outside the scene's {n} atoms")
        for bond in self.bonds:
            if not (0 <= bond.a < n and 0 <= bond.b < n):
                raise ValueError(f"bond {bond} refers to an atom outside the scene's {n} atoms")

    def to_xyz(self) -> str:
        """The atoms as an XYZ block (ASE's writer; what 3Dmol loads).

        >>> xyz = Scene(("Na", "Cl"), np.array([[0, 0, 0], [2.8, 0, 0]])).to_xyz()
        >>> [(line.split()[0], float(line.split()[1])) for line in xyz.splitlines()[2:]]
        [('Na', 0.0), ('Cl', 2.8)]
        """
        from ase import Atoms
        from ase.io import write

        buf = io.StringIO()
        write(buf, Atoms(self.symbols, self.positions), format="xyz", comment="PaMM scene")
        return buf.getvalue()


def gate_color(gate: float | None) -> str:
    """Colour of a bond with this gate activation (Viridis over [0, 1]; grey if None).

    >>> gate_color(None)
    '#9a9a9a'
    >>> gate_color(0.0) != gate_color(1.0)
    True
    """
    if gate is None or not np.isfinite(gate):
        return "#9a9a9a"
    return sample_colorscale(GATE_COLORSCALE, [float(np.clip(gate, 0.0, 1.0))], colortype="rgb")[0]


@functools.cache
def vendored_3dmol_js() -> str:
    """The vendored 3Dmol.js source, read once.

    Raises FileNotFoundError with a clear message if the vendored file is missing.
    """
    path = STATIC_DIR / "3Dmol-min.js"
    if not path.is_file():
        raise FileNotFoundError(f"vendored 3Dmol.js missing at {path} (npm package '3dmol')")
    return path.read_text(encoding="utf-8")


def scene_from_atoms(
    atoms,
    *,
    highlight: Mapping[str, int] | None = None,
    bonds: Sequence[Bond] = (),
) -> Scene:
    """A scene of a whole structure (``ase.Atoms``) with its unit cell."""
    cell = np.asarray(atoms.cell.array, dtype=float) if atoms.cell.rank == 3 else None
    return Scene(
        symbols=tuple(atoms.get_chemical_symbols()),
        positions=atoms.get_positions(),
        cell=cell,
        highlight=dict(highlight or {}),
        bonds=tuple(bonds),
        atom_ids=tuple(range(len(atoms))),
    )


def environment_scene(
    atoms,
    centre: int,
    neighbours: Sequence[int],
    offsets: Sequence[Sequence[int]],
    *,
    gates: Sequence[float | None] | None = None,
    j: int | None = None,
    k: int | None = None,
) -> Scene:
    """The local environment of atom ``centre``: it plus each neighbour image.

    Neighbour ``n`` sits at ``r[neighbours[n]] + offsets[n] @ cell`` (fairchem's
    ``edge_distance_vec`` convention). ``j`` / ``k`` are positions in ``neighbours``
    to highlight; bonds run from the centre to every neighbour, coloured by ``gates``.

    >>> from ase.build import bulk
    >>> nacl = bulk("NaCl", "rocksalt", a=5.64)
    >>> s = environment_scene(nacl, 0, [1, 1], [[0, 0, 0], [-1, 0, 0]], gates=[0.2, 0.9], j=0, k=1)
    >>> s.symbols, dict(s.highlight), [b.b for b in s.bonds]
    (('Na', 'Cl', 'Cl'), {'i': 0, 'j': 1, 'k': 2}, [1, 2])
    """
    n_atoms = len(atoms)
    if not 0 <= centre < n_atoms:
        raise ValueError(f"centre {centre} is outside the structure's {n_atoms} atoms")
    nbr = np.asarray(neighbours, dtype=int).reshape(-1)
    off = np.asarray(offsets, dtype=float).reshape(-1, 3)
    if len(off) != len(nbr):
        raise ValueError(f"{len(nbr)} neighbours but {len(off)} image offsets")
    if len(nbr) and (nbr.min() < 0 or nbr.max() >= n_atoms):
        raise ValueError(f"neighbour index out of range for a structure of {n_atoms} atoms")
    if gates is not None and len(gates) != len(nbr):
        raise ValueError(f"{len(nbr)} neighbours but {len(gates)} gate values")
    pos = atoms.get_positions()  # (N, 3)
    cell = np.asarray(atoms.cell.array, dtype=float)  # (3, 3)
    env_pos = np.vstack([pos[centre][None, :], pos[nbr] + off @ cell])  # (1 + n, 3)
    symbols = atoms.get_chemical_symbols()
    highlight = {"i": 0}
    for role, sel in (("j", j), ("k", k)):
        if sel is not None:
            if not 0 <= sel < len(nbr):
                raise ValueError(f"{role}={sel} is not a position in the {len(nbr)} neighbours")
            highlight[role] = sel + 1
    gate_list = list(gates) if gates is not None else [None] * len(nbr)
    bonds = tuple(Bond(0, n + 1, gate_list[n]) for n in range(len(nbr)))
    return Scene(
        symbols=(symbols[centre], *(symbols[a] for a in nbr)),
        positions=env_pos,
        cell=cell if atoms.cell.rank == 3 else None,
        highlight=highlight,
        bonds=bonds,
        atom_ids=(centre, *(int(a) for a in nbr)),
    )


def _cell_corners(cell: np.ndarray) -> np.ndarray:
    """The 8 corners of the cell spanned by its rows, origin at 0.  # (8, 3)"""
    frac = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype=float)
    return frac @ cell


def _vec(p: np.ndarray) -> dict[str, float]:
    return {"x": round(float(p[0]), 4), "y": round(float(p[1]), 4), "z": round(float(p[2]), 4)}


def _scene_view(scene: Scene, height: int, *, sphere_scale: float, show_cell: bool) -> Any:
    """A py3Dmol view of the scene's atoms (Jmol-coloured spheres) and unit cell."""
    import py3Dmol  # only where a viewer is drawn

    view = py3Dmol.view(width="100%", height=f"{height - 10}px", js="about:blank")
    view.addModel(scene.to_xyz(), "xyz")
    view.setStyle({}, {"sphere": {"scale": sphere_scale, "colorscheme": "Jmol"}})
    if show_cell and scene.cell is not None:
        corners = _cell_corners(scene.cell)  # (8, 3)
        for a, b in _CELL_EDGES:
            view.addLine({"start": _vec(corners[a]), "end": _vec(corners[b]), "color": "#555555"})
    return view


def force_arrows_html(
    atoms, dforces: np.ndarray, *, scale: float = 1.0, height: int = 420,
    script_url: str | None = None,
) -> str:  # fmt: skip
    """HTML: ``atoms`` (with its cell) and an arrow ``scale * dforces[n]`` at each atom
    (the Interventions page's Δforce view; :func:`viewer_document`).

    >>> from ase.build import bulk
    >>> html = force_arrows_html(bulk("NaCl", "rocksalt", a=5.6), np.ones((2, 3)))
    >>> "data-pamm-arrows='2'" in html
    True
    >>> "data-pamm-arrows='0'" in force_arrows_html(bulk("Cu", "fcc", a=3.6), np.zeros((1, 3)))
    True
    """
    dforces = np.asarray(dforces, dtype=float).reshape(-1, 3)  # (N, 3)
    if len(dforces) != len(atoms):
        raise ValueError(f"{len(dforces)} force vectors for {len(atoms)} atoms")
    view = _scene_view(scene_from_atoms(atoms), height, sphere_scale=0.3, show_cell=True)
    drawn = 0
    for p, d in zip(atoms.get_positions(), dforces * scale, strict=True):
        if np.linalg.norm(d) < 1e-6:
            continue
        view.addArrow({"start": _vec(p), "end": _vec(p + d), "radius": 0.06, "color": "#d62728"})
        drawn += 1
    view.zoomTo()
    attrs = f"data-pamm-natoms='{len(atoms)}' data-pamm-arrows='{drawn}'"
    return viewer_document(view, attrs=attrs, script_url=script_url)


def scene_html(
    scene: Scene, *, height: int = 420, show_cell: bool = True, script_url: str | None = None
) -> str:
    """One HTML document drawing ``scene`` (see :func:`viewer_document`).

    Atoms are small spheres (Jmol colours); motif atoms i/j/k get a larger halo in
    their role colour and a label; bonds are cylinders coloured by gate; the unit
    cell is drawn as thin lines. The document carries
    ``data-pamm-highlight`` / ``data-pamm-natoms`` attributes for tests and tools.
    """
    view = _scene_view(scene, height, sphere_scale=0.28, show_cell=show_cell)
    for bond in scene.bonds:
        view.addCylinder(
            {
                "start": _vec(scene.positions[bond.a]),
                "end": _vec(scene.positions[bond.b]),
                "radius": 0.09,
                "color": gate_color(bond.gate),
                "fromCap": 1,
                "toCap": 1,
            }
        )
    for role, idx in scene.highlight.items():
        view.addSphere(
            {
                "center": _vec(scene.positions[idx]),
                "radius": 0.85,
                "color": ROLE_COLORS[role],
                "opacity": 0.35,
            }
        )
        source = "" if scene.atom_ids is None else f" #{scene.atom_ids[idx]}"
        view.addLabel(
            f"{role}: {scene.symbols[idx]}{source}",
            {
                "position": _vec(scene.positions[idx]),
                "backgroundColor": ROLE_COLORS[role],
                "fontColor": "white",
                "fontSize": 12,
                "backgroundOpacity": 0.8,
            },
        )
    view.zoomTo()
    meta = json.dumps({"highlight": dict(scene.highlight), "atom_ids": scene.atom_ids})
    attrs = f"data-pamm-natoms='{len(scene.symbols)}' data-pamm-highlight='{meta}'"
    return viewer_document(view, attrs=attrs, script_url=script_url)


#: py3Dmol's fixed viewer config, and ours: antialiasing decided by the browser at run
#: time (``pammAntialias()``, defined in the document head).
_PY3DMOL_CONFIG = '{backgroundColor:"white"}'
_VIEWER_CONFIG = '{backgroundColor:"white",antialias:pammAntialias()}'
#: Antialiasing on with a GPU, off under software WebGL (SwiftShader, llvmpipe): there it
#: made one scene 5x slower to draw (headless chromium: 1.36 s vs 0.26 s per scene).
_ANTIALIAS_JS = """<script>function pammAntialias() {
  try {
    const gl = document.createElement("canvas").getContext("webgl");
    if (!gl) { return false; }
    const info = gl.getExtension("WEBGL_debug_renderer_info");
    const name = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
    const lose = gl.getExtension("WEBGL_lose_context");
    if (lose) { lose.loseContext(); }
    return !/swiftshader|llvmpipe|softpipe|software/i.test(name);
  } catch (err) { return false; }
}</script>"""


def viewer_document(view: Any, *, attrs: str = "", script_url: str | None = None) -> str:
    """One HTML document drawing the py3Dmol ``view`` with the vendored 3Dmol.js.

    Self-contained by default (the 540 KB library inlined). With ``script_url`` the
    document loads the library from that URL instead (the dashboard passes its static
    route, so the browser parses and caches it once rather than once per viewer).
    ``attrs`` go on the ``<div id='pamm-scene'>`` around the viewer.
    """
    view_html = view.write_html()
    if _PY3DMOL_CONFIG not in view_html:
        raise RuntimeError("py3Dmol's createViewer call changed; update app.viewer")
    view_html = view_html.replace(_PY3DMOL_CONFIG, _VIEWER_CONFIG)
    if script_url is None:
        library = f"<script>{vendored_3dmol_js()}</script>"
    elif re.fullmatch(r"[\w./-]+", script_url):
        library = f"<script src='{script_url}'></script>"
    else:
        raise ValueError(f"script_url {script_url!r} is not a plain path (letters, digits, ./-_)")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        "<style>body{margin:0;font-family:sans-serif}</style>"
        f"{library}{_ANTIALIAS_JS}<script>var $3Dmolpromise = Promise.resolve();</script>"
        f"</head><body><div id='pamm-scene' {attrs}>{view_html}</div></body></html>"
    )
