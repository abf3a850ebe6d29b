"""The offline 3D viewer: scene geometry, validation, and self-contained HTML."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from ase.build import bulk

from app.viewer import Bond, Scene, environment_scene, gate_color, scene_from_atoms, scene_html


@pytest.fixture
def nacl():
    return bulk("NaCl", "rocksalt", a=5.64, cubic=True)


def _highlight(html: str) -> dict:
    meta = re.search(r"data-pamm-highlight='([^']*)'", html).group(1)
    return json.loads(meta)


def test_environment_positions_follow_image_offsets(nacl):
    # neighbour 1 in the image one cell along -a sits at r_1 - a
    scene = environment_scene(nacl, 0, [1, 1], [[0, 0, 0], [-1, 0, 0]], j=1)
    cell = nacl.cell.array
    np.testing.assert_allclose(scene.positions[0], nacl.positions[0])
    np.testing.assert_allclose(scene.positions[2], nacl.positions[1] - cell[0])
    assert scene.highlight == {"i": 0, "j": 2}
    assert scene.atom_ids == (0, 1, 1)


def test_html_is_offline_and_carries_structure_and_highlights(nacl, viewer_atoms):
    scene = scene_from_atoms(nacl, highlight={"i": 0, "j": 4, "k": 5}, bonds=[Bond(0, 4, 0.7)])
    html = scene_html(scene)
    # 3Dmol.js is inlined, the loader promise pre-resolved, and nothing is fetched
    assert "var $3Dmolpromise = Promise.resolve();" in html
    assert html.index("$3Dmol") < html.index("Promise.resolve()")
    assert len(html) > 400_000
    assert not re.search(r"<script[^>]+src=", html)
    # the structure (xyz block with every atom) and the highlighted indices
    shown = viewer_atoms(html)
    for symbol, pos in zip(nacl.get_chemical_symbols(), nacl.positions, strict=True):
        assert any(s == symbol and np.allclose(p, pos, atol=1e-6) for s, p in shown), symbol
    assert _highlight(html)["highlight"] == {"i": 0, "j": 4, "k": 5}
    viewer_js = html.split("var $3Dmolpromise = Promise.resolve();")[1]
    assert viewer_js.count(".addLine(") == 12  # unit cell edges
    assert gate_color(0.7) in html  # bond coloured by its gate


def test_bond_colour_depends_on_gate():
    assert gate_color(0.0) != gate_color(1.0)
    assert gate_color(2.0) == gate_color(1.0)  # clipped to [0, 1]
    assert gate_color(float("nan")) == gate_color(None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"highlight": {"x": 0}}, "unknown highlight role"),
        ({"highlight": {"i": 9}}, "outside the scene"),
        ({"bonds": (Bond(0, 5),)}, "outside the scene"),
    ],
)
def test_scene_rejects_bad_references(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Scene(("Na", "Cl"), np.zeros((2, 3)), **kwargs)


def test_environment_rejects_bad_indices(nacl):
    with pytest.raises(ValueError, match="centre 99"):
        environment_scene(nacl, 99, [1], [[0, 0, 0]])
    with pytest.raises(ValueError, match="2 neighbours but 1 image offsets"):
        environment_scene(nacl, 0, [1, 2], [[0, 0, 0]])
    with pytest.raises(ValueError, match="k=5"):
        environment_scene(nacl, 0, [1], [[0, 0, 0]], k=5)


def test_html_can_load_the_library_from_the_static_route(nacl):
    scene = scene_from_atoms(nacl, highlight={"i": 0})
    inline = scene_html(scene)
    linked = scene_html(scene, script_url="app/static/3Dmol-min.js")
    assert "<script src='app/static/3Dmol-min.js'></script>" in linked
    assert len(linked) < 20_000 < 400_000 < len(inline)  # the library is not inlined
    # the viewer part (after the loader promise) is the same in both documents
    marker = "var $3Dmolpromise = Promise.resolve();"

    def viewer(html):  # py3Dmol names each viewer after the clock
        return re.sub(r"_\d{10,}", "_ID", html.split(marker)[1])

    assert viewer(linked) == viewer(inline)


def test_viewer_antialiases_only_with_a_gpu(nacl):
    """3Dmol's antialiasing is decided in the browser (off under software WebGL)."""
    html = scene_html(scene_from_atoms(nacl))
    assert 'createViewer(document.getElementById("3dmolviewer' in html
    assert '{backgroundColor:"white",antialias:pammAntialias()}' in html
    assert html.index("function pammAntialias()") < html.index("createViewer(")
    assert "/swiftshader|llvmpipe|softpipe|software/i" in html


@pytest.mark.parametrize("url", ["x.js'><script>alert(1)</script>", "javascript:alert(1)", ""])
def test_script_url_must_be_a_plain_path(nacl, url):
    with pytest.raises(ValueError, match="script_url"):
        scene_html(scene_from_atoms(nacl), script_url=url)
