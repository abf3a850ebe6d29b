"""Every dashboard page through ``streamlit.testing.v1.AppTest`` on a real analysis run."""

from __future__ import annotations

import base64
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from analysis import load_run

PAGES = [
    "overview", "motifs", "buckets", "environment", "families", "profiles", "embedding",
    "try_structure",
]  # fmt: skip


def open_page(at, page: str):
    at.run()
    if page != "overview":
        at.switch_page(f"views/{page}.py")
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def frame_with(at, *columns: str) -> pd.DataFrame:
    """The (first) dataframe element shown with all these columns."""
    for df in at.dataframe:
        if set(columns) <= set(df.value.columns):
            return df.value
    raise AssertionError(f"no dataframe with columns {columns}")


def iframe_html(at) -> str:
    frames = at.get("iframe")
    assert frames, "no iframe on the page"
    return frames[0].proto.srcdoc


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(app_test, page):
    at = open_page(app_test, page)
    assert not at.error, [e.value for e in at.error]
    assert at.title, "page has no title"


def test_overview_headline_numbers_match_run(app_test, app_env):
    run = load_run(app_env)
    at = open_page(app_test, "overview")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["pair motifs"] == f"{len(run.motifs('pair')):,}"
    assert metrics["triplet motifs"] == f"{len(run.motifs('triplet')):,}"


def test_motif_filters_change_the_table(app_test, app_env):
    at = open_page(app_test, "motifs")
    motifs = load_run(app_env).motifs("pair")
    full = frame_with(at, "label", "elements", "count")
    assert len(full) == len(motifs)
    # the element present in the fewest motifs: filtering on it must shrink the table
    counts = pd.Series([s for e in full["elements"] for s in set(e.split("–"))]).value_counts()
    rare = counts.index[-1]
    at.multiselect(key="motif_elements").set_value([rare]).run()
    filtered = frame_with(at, "label", "elements", "count")
    assert 0 < len(filtered) < len(full)
    assert all(rare in e.split("–") for e in filtered["elements"])
    assert len(filtered) == counts[rare]
    # a narrower bin range keeps only motifs inside it
    at.multiselect(key="motif_elements").set_value([]).run()
    slider = at.slider(key="motif_range_pair")
    lo, hi = slider.value
    mid = round((lo + hi) / 2, 1)
    slider.set_range(lo, mid).run()
    narrowed = frame_with(at, "label", "elements", "count")
    expected = motifs[(motifs["bin_lo"] >= lo - 1e-9) & (motifs["bin_hi"] <= mid + 1e-9)]
    assert len(narrowed) == len(expected) < len(full)
    # sorting by gate puts the largest gate first
    at.selectbox(key="motif_sort").set_value("gate (mean)").run()
    by_gate = frame_with(at, "label", "gate_mean")
    assert by_gate["gate_mean"].iloc[0] == pytest.approx(expected["gate_mean"].max())


def test_selected_motif_shows_its_buckets_and_neighbours(app_test, app_env):
    run = load_run(app_env)
    motifs, bm = run.motifs("pair"), run.frame("bucket_motifs")
    heads = run.manifest["spec"]["heads"]
    # pick a motif that collides with another one in head 0
    crowded = (
        bm[(bm["table"] == "pair") & (bm["head"] == 0)].groupby("bucket")["key"].transform("size")
    )
    key = int(bm[(bm["table"] == "pair") & (bm["head"] == 0)][crowded > 1]["key"].iloc[0])
    motif = motifs.set_index("key").loc[key]
    at = open_page(app_test, "motifs")
    at.selectbox(key="motif_pick").set_value(key).run()
    assert not at.exception
    assert at.header[0].value == motif["label"]
    shown = frame_with(at, "head", "bucket", "motifs in bucket")
    assert shown["bucket"].tolist() == [int(motif[f"bucket_{h}"]) for h in range(heads)]
    neighbours = frame_with(at, "head", "bucket", "label", "share")
    for h in range(heads):
        b = int(motif[f"bucket_{h}"])
        same = bm[(bm["table"] == "pair") & (bm["head"] == h) & (bm["bucket"] == b)]
        expected = set(same["key"]) - {key}
        assert set(neighbours.loc[neighbours["head"] == h, "key"]) == expected


def test_environment_iframe_holds_structure_and_highlights(app_test, app_env, viewer_atoms):
    from analysis import load_structure

    run = load_run(app_env)
    at = open_page(app_test, "environment")
    at.radio(key="env_table").set_value("triplet").run()
    key = at.selectbox(key="env_motif").value
    ex = run.frame("examples")
    row = ex[(ex["table"] == "triplet") & (ex["key"] == key)].iloc[0]
    html = iframe_html(at)
    assert "var $3Dmolpromise = Promise.resolve();" in html
    atoms = load_structure(run.manifest["dataset"], int(row["structure"]))
    i = int(row["centre"])
    symbol, pos = atoms.get_chemical_symbols()[i], atoms.positions[i]
    assert any(s == symbol and np.allclose(p, pos, atol=1e-6) for s, p in viewer_atoms(html))
    meta = json.loads(re.search(r"data-pamm-highlight='([^']*)'", html).group(1))
    ids, hl = meta["atom_ids"], meta["highlight"]
    assert set(hl) == {"i", "j", "k"}
    assert ids[hl["i"]] == row["centre"]
    assert ids[hl["j"]] == row["neighbour"]
    assert ids[hl["k"]] == row["partner"]


def test_bucket_inspector_lists_the_bucket_motifs(app_test, app_env):
    run = load_run(app_env)
    at = open_page(app_test, "buckets")
    bucket = at.selectbox(key="bucket_pick").value
    bm = run.frame("bucket_motifs")
    expected = bm[(bm["table"] == "pair") & (bm["head"] == 0) & (bm["bucket"] == bucket)]
    shown = frame_with(at, "label", "count", "share", "key")
    assert sorted(shown["key"]) == sorted(expected["key"])
    assert shown["share"].sum() == pytest.approx(1.0)
    near = frame_with(at, "bucket", "cosine")
    assert bucket not in set(near["bucket"]) and near["cosine"].is_monotonic_decreasing


def test_bucket_inspector_goes_to_any_bucket_by_id(app_test, app_env):
    run = load_run(app_env)
    b = run.frame("buckets")
    occupied = b[(b["table"] == "pair") & (b["head"] == 0)].sort_values("mass")
    lightest = int(occupied["bucket"].iloc[0])  # last in the picker's by-mass order
    at = open_page(app_test, "buckets")
    assert len(at.selectbox(key="bucket_pick").options) == min(200, len(occupied))
    at.number_input(key="bucket_jump").set_value(lightest).run()
    assert not at.exception
    assert at.selectbox(key="bucket_pick").value == lightest
    assert at.number_input(key="bucket_jump").value is None  # the box clears after a jump
    bm = run.frame("bucket_motifs")
    expected = bm[(bm["table"] == "pair") & (bm["head"] == 0) & (bm["bucket"] == lightest)]
    shown = frame_with(at, "label", "count", "share", "key")
    assert sorted(shown["key"]) == sorted(expected["key"])
    empty = min(set(range(int(run.manifest["spec"]["pair_buckets"]))) - set(occupied["bucket"]))
    at.number_input(key="bucket_jump").set_value(empty).run()
    assert any(f"Bucket {empty} " in w.value for w in at.warning)
    assert at.selectbox(key="bucket_pick").value == lightest  # an empty id changes nothing


def test_loading_a_run_freezes_the_long_lived_heap(app_env):
    """The loaded run and the imports leave the cyclic GC's reach (else full collections
    stall page switches by ~0.5 s on 2 cores)."""
    import gc

    from app.loaders import manifest_stamp, open_run

    gc.unfreeze()
    open_run.clear()
    try:
        run = open_run(str(app_env), manifest_stamp(app_env))
        assert gc.get_freeze_count() > 0
        assert gc.is_tracked(run)
        assert id(run) not in {id(o) for o in gc.get_objects()}  # frozen: in no generation
    finally:
        gc.unfreeze()


def test_embedding_selection_drives_table_and_3d_view(app_test, app_env):
    run = load_run(app_env)
    emb = run.frame("embedding_2d")
    picked = emb[(emb["table"] == "pair") & (emb["head"] == 0)]["bucket"].head(3).tolist()
    at = open_page(app_test, "embedding")
    assert not at.get("iframe")  # nothing selected yet
    points = [{"customdata": [b], "x": 0.0, "y": 0.0} for b in picked]
    at.session_state["emb_map"] = {"selection": {"points": points, "box": [], "lasso": []}}
    at.run()
    assert not at.exception
    table = frame_with(at, "bucket", "dominant_label", "dominant_key")
    assert sorted(table["bucket"]) == sorted(picked)
    assert "var $3Dmolpromise" in iframe_html(at)


def test_family_page_shows_divergence_and_heldout(app_test, app_env):
    run = load_run(app_env)
    at = open_page(app_test, "families")
    only = run.motifs("pair")["heldout_only"].sum()
    assert any(
        f"{only:,} pair motifs occur only in held-out families" in c.value for c in at.caption
    )


POSCAR = b"""NaCl
1.0
5.64 0 0
0 5.64 0
0 0 5.64
Na Cl
1 1
Direct
0 0 0
0.5 0.5 0.5
"""


def test_try_structure_runs_the_model_and_shows_buckets(app_test, app_env, viewer_atoms):
    from pamm.hashing import hash_numpy, hash_params
    from pamm.spec import MotifMemorySpec

    spec = MotifMemorySpec.from_dict(load_run(app_env).manifest["spec"])
    at = open_page(app_test, "try_structure")
    at.file_uploader(key="upload").upload("NaCl.vasp", POSCAR, "text/plain").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    per_atom = float(metrics["Energy per atom (eV)"])
    assert float(metrics["Energy (eV)"]) == pytest.approx(2 * per_atom, abs=1e-3)
    edges = frame_with(at, "j", "key", "label", "bucket_0", "gate_mean")
    assert len(edges) > 0 and edges["gate_mean"].between(0, 1).all()
    a, b = hash_params(spec.hash_seed, spec.heads, "pair")
    expected = hash_numpy(edges["key"].to_numpy(), a, b, spec.pair_buckets)  # [E, H]
    for h in range(spec.heads):
        assert edges[f"bucket_{h}"].tolist() == expected[:, h].tolist()
    shown = viewer_atoms(iframe_html(at))  # the centre (atom 0, Na at the origin) is drawn
    assert any(s == "Na" and np.allclose(p, 0.0, atol=1e-6) for s, p in shown)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.cif", b"", "empty"),
        ("image.cif", b"\x89PNG\r\n\x1a\n....", "PNG image"),
        ("broken.cif", b"data_x\n_cell_length_a 3\nloop_\n_atom_site_label\n", ""),
    ],
)
def test_bad_upload_gives_a_message_not_a_traceback(app_test, name, data, message):
    at = open_page(app_test, "try_structure")
    at.file_uploader(key="upload").upload(name, data, "application/octet-stream").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.error, "no error message shown"
    assert message.lower() in at.error[0].value.lower()
    assert name in at.error[0].value
    assert not at.metric


def plotly_figure(at) -> dict:
    """The (first) plotly chart of the page as its JSON figure."""
    charts = at.get("plotly_chart")
    assert charts, "no plotly chart on the page"
    return json.loads(charts[0].proto.spec)


def plotly_array(value) -> np.ndarray:
    """A plotly JSON array: a list, or plotly 6's typed array ``{dtype, bdata}``."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value, dtype=float)


def copied_run(app_env, tmp_path, monkeypatch, root: str = "runs"):
    """A copy of the session's run under a new runs root the app is pointed at (a new
    directory for each change: the app caches a run per directory and manifest)."""
    root = tmp_path / root
    shutil.copytree(app_env, root / app_env.name)
    monkeypatch.setenv("PAMM_RUNS_ROOT", str(root))
    return root / app_env.name


def fresh_app_test():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file("../../app/streamlit_app.py", default_timeout=120)


def test_profile_chart_draws_the_motif_profile(app_test, app_env):
    from analysis.probe_artifacts import load_probes
    from analysis.profiles import motif_profile, profile_elements

    spec = load_run(app_env).spec
    per = load_probes(app_env)["attribution"]
    at = open_page(app_test, "profiles")
    assert not at.info, [i.value for i in at.info]
    for table, pick in (("pair", 0), ("triplet", 0), ("pair", 1)):
        at.radio(key="prof_table").set_value(table).run()
        choices = profile_elements(per, table)["elements"]
        box = at.selectbox(key=f"prof_elements_{table}")
        if pick == 0:  # the most used elements come first
            assert box.value == choices.iloc[0]
        else:
            box.set_value(choices.iloc[pick]).run()
        assert not at.exception, [e.value for e in at.exception]
        elements = tuple(choices.iloc[pick].split("-"))
        expected = motif_profile(per, table, elements, spec)
        assert expected["contribution_mev"].abs().max() > 0  # something to compare
        contribution, occurrences = plotly_figure(at)["data"][:2]
        np.testing.assert_allclose(plotly_array(contribution["y"]), expected["contribution_mev"])
        np.testing.assert_allclose(plotly_array(occurrences["y"]), expected["n_lookups"])
        centres = (expected["lo"] + expected["hi"]) / 2
        np.testing.assert_allclose(plotly_array(contribution["x"]), centres)
        shown = frame_with(at, "bin", "lo", "hi", "n_lookups", "contribution_mev")
        assert shown["bin"].tolist() == expected.loc[expected["n_lookups"] > 0, "bin"].tolist()
    assert at.subheader[0].value == f"{elements[0]} around {elements[1]}"  # (Zj, Zi) order


def test_profile_page_shows_a_planted_peak(app_env, tmp_path, monkeypatch):
    """Attribution rows with a peak on one O-around-Si bin: the chart's tallest bar is that
    bin, and the known Si–O environments are shaded."""
    from pamm.keys import pack_pair_key

    run_dir = copied_run(app_env, tmp_path, monkeypatch)
    peak, rows = 16, []
    for structure in range(3):
        for head in range(2):  # d_energy: first-order ΔE of taking the rows away
            for b in range(12, 22):  # O around Si, 1.2-2.2 Å: contribution 10 meV at 1.6-1.7
                rows.append(("pair", head, b, structure, pack_pair_key(8, 14, b), 4,
                             -5.0 if b == peak else -0.2))  # fmt: skip
            rows.append(("pair", head, 3, structure, pack_pair_key(11, 17, 28), 1, 30.0))
    per = pd.DataFrame(
        rows, columns=["table", "head", "bucket", "structure", "key", "n_lookups", "d_energy"]
    )
    per = per.assign(gate_sum=0.5 * per["n_lookups"], d_force_rms=0.0,
                     dataset_index=per["structure"])  # fmt: skip
    per.to_parquet(run_dir / "attribution.parquet")
    at = open_page(fresh_app_test(), "profiles")
    assert at.selectbox(key="prof_elements_pair").value == "O-Si"  # most lookups
    assert at.subheader[0].value == "O around Si"
    data = plotly_figure(at)
    contribution = plotly_array(data["data"][0]["y"])
    centre = plotly_array(data["data"][0]["x"])[int(np.argmax(contribution))]
    assert centre == pytest.approx(1.65) and contribution.max() == pytest.approx(10.0)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["peak bin"] == "1.60–1.70 Å" and metrics["peak contribution (meV/atom)"] == "10"
    rects = {(s["x0"], s["x1"]) for s in data["layout"]["shapes"] if s["type"] == "rect"}
    assert rects == {(1.58, 1.68), (1.75, 1.82)}
    # the Na-Cl motif's larger effect (lowering the energy) is its own profile, not this one
    at.selectbox(key="prof_elements_pair").set_value("Na-Cl").run()
    assert at.subheader[0].value == "Na around Cl"
    other = plotly_array(plotly_figure(at)["data"][0]["y"])
    assert other.min() == pytest.approx(-60.0) and np.count_nonzero(other) == 1
    at.radio(key="prof_table").set_value("triplet").run()
    assert any("No triplet lookups" in i.value for i in at.info)


def test_profile_page_says_how_to_get_profiles(app_env, tmp_path, monkeypatch):
    from analysis.attribution import per_bucket
    from analysis.probe_artifacts import load_probes
    from analysis.schema import PROBE_ARTIFACTS, PROBES_JSON

    run_dir = copied_run(app_env, tmp_path, monkeypatch)
    # probes of version 1 (no key column): still load, the page asks for a re-run
    stored = pd.read_parquet(run_dir / "attribution.parquet")
    old = per_bucket(stored.drop(columns="dataset_index"))
    old.assign(dataset_index=old["structure"]).to_parquet(run_dir / "attribution.parquet")
    meta = json.loads((run_dir / PROBES_JSON).read_text())
    meta["settings"]["version"] = 1
    (run_dir / PROBES_JSON).write_text(json.dumps(meta))
    assert len(load_probes(run_dir)["effects"]) > 0
    at = open_page(fresh_app_test(), "profiles")
    assert not at.error, [e.value for e in at.error]
    assert [i.value for i in at.info] == [
        "The stored probes of this run predate per-motif attribution: re-run "
        "`pamm analyze --probes 8` to get motif profiles."
    ]
    assert not at.get("plotly_chart")
    # no probes at all
    run_dir = copied_run(app_env, tmp_path, monkeypatch, "no-probes")
    for name in [PROBES_JSON, *PROBE_ARTIFACTS]:
        (run_dir / name).unlink()
    at = open_page(fresh_app_test(), "profiles")
    assert len(at.info) == 1 and "run `pamm analyze --probes N`" in at.info[0].value
    assert not at.get("plotly_chart")
