"""The Streamlit app: plot helpers (no Streamlit), every page (AppTest), bad input, and one real
digits run that flows from *Setup & train* (clicking Train, background job) to *Head accuracy*.

Nothing the pages exist to show is stubbed: the run is a real (short) digits training with real
oversamplers, heads and UMAP map.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import app_plots as P

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
PAGE1 = "pages/1_setup.py"
PAGE2 = "pages/2_gap.py"
PAGE3 = "pages/3_synthetic.py"
PAGE4 = "pages/4_heads.py"
METHODS = ["none", "smote", "eos"]
MAP_CAP = 250  # synthetic points per oversampler in the saved map (the app's cap, lowered for the test)


@pytest.fixture(scope="module", autouse=True)
def _restore_torch_threads():
    """The app sets torch's thread count once per process (app_state.import_engine); give the
    rest of the test session the count it had."""
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


# =============================================================================================
# plot helpers (no Streamlit)


def _toy_points(seed: int = 0):
    rng = np.random.default_rng(seed)
    counts = np.array([40, 12, 3])
    ytr = np.repeat(np.arange(3), counts)
    yte = np.repeat(np.arange(3), 10)
    return (rng.normal(size=(len(ytr), 2)), ytr, rng.normal(size=(len(yte), 2)), yte, counts)


def test_map_traces_per_class_with_global_ids() -> None:
    xtr, ytr, xte, yte, counts = _toy_points()
    pts = P.map_points(xtr, ytr, xte, yte, train_pred=ytr, test_pred=np.zeros_like(yte))
    assert pts["gid"].is_unique and len(pts) == len(ytr) + len(yte)
    for layout in ("overlay", "side"):
        fig = P.embedding_map(pts, classes=["a", "b", "c"], train_counts=counts, layout=layout)
        assert all(t.type == "scatter" for t in fig.data)  # small maps: SVG
        assert len(fig.data) == 6  # one trace per (class, split)
        assert all(isinstance(t.customdata[0][0], int) for t in fig.data)
        gids = np.concatenate([np.asarray(t.customdata)[:, 0].astype(int) for t in fig.data])
        assert len(set(gids)) == len(gids) == len(pts)  # customdata[0] is a global row id
        for t in fig.data:  # each trace holds one class only, and the ids point back at it
            labels = pts.set_index("gid").loc[np.asarray(t.customdata)[:, 0].astype(int), "label"]
            assert labels.nunique() == 1
        # legend: smallest class first, named with its count, one entry per class
        shown = [t.name for t in fig.data if t.showlegend is not False]
        assert shown == ["c · n=3", "b · n=12", "a · n=40"]
        assert fig.data[0].marker.size > fig.data[-1].marker.size  # minority markers are larger
    big = P.map_points(*(np.repeat(a, 60, axis=0) for a in (xtr, ytr, xte, yte)))
    assert len(big) >= P.WEBGL_MIN_POINTS
    assert {t.type for t in P.embedding_map(big, classes=None, train_counts=counts).data} == {"scattergl"}


def test_selected_ids_map_back_to_rows() -> None:
    xtr, ytr, xte, yte, counts = _toy_points()
    pts = P.map_points(xtr, ytr, xte, yte)
    fig = P.embedding_map(pts, classes=None, train_counts=counts)
    # Simulate Plotly's selection payload: point_index restarts per trace, customdata does not.
    points = [{"curve_number": i, "point_index": 0, "customdata": list(t.customdata[0])}
              for i, t in enumerate(fig.data)]
    ids = P.selected_ids({"selection": {"points": points + points[:1]}})
    assert len(ids) == len(fig.data) and len(set(ids)) == len(ids)
    assert {int(pts.set_index("gid").loc[g, "label"]) for g in ids} == {0, 1, 2}
    assert P.selected_ids(None) == [] and P.selected_ids({"selection": {"points": [{"x": 1}]}}) == []


def test_sample_rows_keeps_small_classes_whole() -> None:
    y = np.repeat([0, 1, 2], [5000, 300, 7])
    rows = P.sample_rows(y, 1000, seed=0)
    assert len(rows) == 1000 and np.all(np.diff(rows) > 0)
    kept = np.bincount(y[rows], minlength=3)
    assert kept[2] == 7 and kept[1] == 300 and kept[0] == 693
    assert len(P.sample_rows(y, 10**6)) == len(y)


def test_gap_values_bars_and_epochs() -> None:
    report = {"per_class": [{"class": c, "spread_ratio": v, "distance_gap": 1.0, "accuracy_gap": None}
                            for c, v in enumerate([1.1, 1.5, 2.5])],
              "size_gap_spearman": {"spread_ratio": -1.0}}
    vals = P.gap_values(report, 3)
    assert vals["spread_ratio"] == [1.1, 1.5, 2.5] and np.isnan(vals["accuracy_gap"]).all()
    assert P.gap_values({"spread_ratio": [1, None, 2]}, 3)["spread_ratio"][2] == 2.0
    df = P.gap_frame(["a", "b", "c"], [40, 12, 3], vals)
    assert list(df["class"]) == ["a", "b", "c"]
    assert P.spearman(df["train_n"], df["spread_ratio"]) == pytest.approx(-1.0)
    fig = P.gap_bars(df, metrics=["spread_ratio", "distance_gap"])
    assert len(fig.data) == 2 and "Spearman" in fig.layout.annotations[0].text
    hist = [{"epoch": e, "loss": 1.0, "gap": {"spread_ratio": [1.0, 1.0 + e, 1.0 + 2 * e]}} for e in (1, 2, 3)]
    assert len(P.gap_over_epochs(hist, classes=None, train_counts=[40, 12, 3]).data) == 3
    anim = P.gap_animation(hist, classes=None, train_counts=[40, 12, 3])
    assert len(anim.frames) == 3 and anim.layout.sliders


def test_synthetic_map_segments_and_tables() -> None:
    real = pd.DataFrame({"gid": [0, 1, 2], "x": [0.0, 1, 2], "y": [0.0, 1, 2], "label": [1, 1, 2]})
    syn = pd.DataFrame({"gid": [10, 11], "x": [0.5, 1.5], "y": [0.5, 1.5], "label": [1, 2]})
    seg = pd.DataFrame({"x0": [0.0], "y0": [0.0], "x1": [3.0], "y1": [3.0], "sx": [1.0], "sy": [1.0]})
    fig = P.synthetic_map(real, syn, classes=None, train_counts=[50, 4, 2], enemies=real.iloc[:1], segments=seg)
    ids = [int(r[0]) for t in fig.data if t.customdata is not None for r in t.customdata]
    assert sorted(ids) == [0, 0, 1, 2, 10, 11]
    assert any(t.name == "base → partner" for t in fig.data)
    kinds = [("synthetic" if "synthetic ·" in (t.hovertemplate or "") else "real" if "real ·" in (t.hovertemplate or "")
              else None) for t in fig.data]
    assert max(i for i, k in enumerate(kinds) if k == "real") < min(i for i, k in enumerate(kinds) if k == "synthetic")
    table = P.metrics_table({"none": {"balanced_accuracy": 0.5, "g_mean": 0.3, "macro_f1": 0.4, "seconds": 0},
                             "eos": {"balanced_accuracy": 0.7, "g_mean": 0.6, "macro_f1": 0.4, "seconds": 1}})
    assert list(table["method"]) == ["none", "eos"] and P.best_methods(table) == ["eos"]
    assert P.best_methods(table, "macro_f1") == ["none", "eos"]  # ties: every best row
    view = P.metrics_view(table).data
    assert list(view["oversampler"]) == ["none", "EOS ★"] and "balanced acc" in view.columns
    heat = P.recall_heatmap({"none": [1, 0.5, 0], "eos": [1, 0.7, 0.4]}, classes=None, train_counts=[5, 3, 1])
    assert list(heat.data[0].y) == ["none", "EOS"]
    colors = {t.textfont.color: list(t.text) for t in heat.data[1:]}  # contrast: white on dark cells
    assert "0.00" in colors["white"] and "1.00" in colors["#1a1a1a"]
    conf = P.confusion_figure([[3, 1], [0, 2]], classes=["a", "b"])
    assert conf.data[0].z[0][0] == pytest.approx(0.75)
    assert sorted(t for tr in conf.data[1:] for t in tr.text) == ["100%", "25%", "75%"]  # empty cells blank
    assert {P.method_color(m) for m in P.METHOD_NAMES} == set(P.METHOD_COLORS.values())
    assert [b.marker.color for b in P.closure_bars({"eos": [1, 1, 1], "smote": [1, 1, 1]}, classes=None,
                                                   train_counts=[5, 3, 1]).data] == [P.METHOD_COLORS["eos"],
                                                                                     P.METHOD_COLORS["smote"]]
    summ = P.seeds_summary(pd.DataFrame({"method": ["a", "a", "b"], "balanced_accuracy": [0.5, 0.7, 0.6]}),
                           "balanced_accuracy")
    assert summ.set_index("method").loc["a", "std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    png = P.thumbnail_png(np.random.default_rng(0).random((1, 8, 8), dtype=np.float32))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<html>" in P.figure_html(fig)[:200].lower()


# =============================================================================================
# AppTest helpers


def _app(page: str | None = None, **query):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(query)
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def _ok(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _charts(at) -> dict[str, dict]:
    """Plotly charts on the page: user key -> figure spec."""
    out = {}
    for el in at.get("plotly_chart"):
        key = el.proto.id.rsplit("-", 1)[-1]
        out[key] = json.loads(el.proto.spec)
    return out


def _arr(v) -> np.ndarray:
    """A data array from a figure spec (plotly encodes numpy arrays as base64 ``bdata``)."""
    if isinstance(v, dict) and "bdata" in v:
        import base64

        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).reshape(v.get("shape", -1))
    return np.asarray(v)


def _wait_job(at, done, timeout: float = 150.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        time.sleep(0.5)
        at.run()
        _ok(at)
        if done(at):
            return
    raise AssertionError("the background job did not finish in time")


# =============================================================================================
# pages with an empty store, and bad input


def test_every_page_renders_with_an_empty_store(runs_dir) -> None:
    at = _app()
    _ok(at)
    for key in ("setup_dataset", "setup_model", "setup_loss"):
        assert at.selectbox(key=key)
    assert at.select_slider(key="setup_ratio").value == 50
    assert at.radio(key="setup_profile").value == "exp"
    assert at.multiselect(key="setup_methods").value == ["none", "ros", "smote", "bsmote", "adasyn", "eos"]
    assert at.button(key="train_button") and not at.button(key="train_button").disabled
    spec = _charts(at)["counts_chart"]
    assert [t["name"] for t in spec["data"]] == ["train (imbalanced)", "test"]
    y = spec["data"][0]["y"]
    assert y[-1] == int(y[0] / 50)  # n_min = n_max / ρ (integer part)
    at.select_slider(key="setup_ratio").set_value(10).run()  # the chart follows the slider before training
    y = _charts(at)["counts_chart"]["data"][0]["y"]
    assert y[-1] == int(y[0] / 10)
    at.select_slider(key="setup_ratio").set_value(1000).run()  # would empty the smallest classes
    _ok(at)
    assert any("single image" in w.value for w in at.warning)
    assert min(_charts(at)["counts_chart"]["data"][0]["y"]) == 1
    for page in (PAGE2, PAGE3, PAGE4):
        at.switch_page(page).run()
        _ok(at)
        assert at.info and "Setup & train" in at.info[0].value
        assert len(at.expander) >= 1  # the explanation


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _png(value: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_bad_input_is_a_clear_error(runs_dir, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EOS_DATA_DIR", str(tmp_path / "no-data"))
    at = _app()
    at.selectbox(key="setup_dataset").set_value("mnist").run()  # missing offline
    _ok(at)
    assert at.error and "MNIST" in at.error[0].value and at.button(key="train_button").disabled
    at.selectbox(key="setup_dataset").set_value("folder").run()
    _ok(at)
    assert at.button(key="train_button").disabled
    cases = {
        "not a zip": (b"hello", "not a .zip"),
        "no images": (_zip({"a/readme.txt": b"x", "b/notes.txt": b"y"}), "no image files"),
        "one class": (_zip({"a/1.png": _png(1), "a/2.png": _png(2)}), "at least 2"),
        "fake images": (_zip({"a/1.png": b"junk", "a/2.png": b"junk", "b/1.png": b"junk", "b/2.png": b"junk"}),
                        "not a readable image"),
        "path traversal": (_zip({"../evil/1.png": _png(1), "/abs/2.png": _png(2)}), ""),
    }
    for name, (data, message) in cases.items():
        at.get("file_uploader")[0].set_value(("upload.zip", data, "application/zip")).run()
        _ok(at)
        assert at.error, name
        assert message in " ".join(e.value for e in at.error), (name, [e.value for e in at.error])
        assert at.button(key="train_button").disabled, name
    assert not (tmp_path / "evil").exists() and not Path("/abs").exists()
    # a good upload: two classes, counts chart, Train enabled; files under a generated folder
    good = _zip({"set/cats/a.png": _png(10), "set/cats/b.png": _png(20), "set/cats/c.png": _png(30),
                 "set/dogs/a.png": _png(200), "set/dogs/b.png": _png(210), "set/dogs/c.png": _png(220)})
    at.get("file_uploader")[0].set_value(("pets.zip", good, "application/zip")).run()
    _ok(at)
    assert not at.error and not at.button(key="train_button").disabled
    assert "cats" in _charts(at)["counts_chart"]["data"][0]["x"]
    up = Path(at.session_state["eos_upload"]["folder"])
    assert up.parent == runs_dir / "uploads" and sorted(p.name for p in up.iterdir()) == ["cats", "dogs"]


# =============================================================================================
# one real digits run, from page 1 to page 4


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Click Train on page 1 (3 epochs, none/smote/eos) and wait for the background job."""
    mp = pytest.MonkeyPatch()
    runs = tmp_path_factory.mktemp("app-runs")
    mp.setenv("EOS_RUNS_DIR", str(runs))
    import app_state

    mp.setattr(app_state, "MAP_SYNTHETIC_MAX", MAP_CAP)  # digits makes ~900 per method: exercise the sample
    try:
        at = _app()
        at.select_slider(key="setup_ratio").set_value(20)
        at.number_input(key="setup_epochs").set_value(3)
        at.multiselect(key="setup_methods").set_value(METHODS)
        at.button(key="train_button").click().run()
        _ok(at)
        assert at.button(key="cancel_button")  # the job is running
        _wait_job(at, lambda a: bool(a.success) or bool(a.error))
        assert not at.error, [e.value for e in at.error]
        run_id = at.query_params["run"]
        job_id = at.query_params["job"]
        yield {"at": at, "run": run_id, "job": job_id, "runs": runs}
    finally:
        mp.undo()


def test_page1_shows_per_class_results(trained) -> None:
    at = trained["at"]
    assert trained["run"] in at.success[0].value
    df = at.dataframe[0].value
    assert len(df) == 10 and {P.method_name(m) for m in METHODS} <= set(df.columns)  # test recall per head
    assert df["train n"].iloc[-1] == int(df["train n"].iloc[0] / 20)
    summary = at.dataframe[1].value
    assert [m.removesuffix(" ★") for m in summary["oversampler"]] == [P.method_name(m) for m in METHODS]
    assert summary["oversampler"].str.endswith("★").sum() >= 1
    assert {"balanced acc", "synthetic points"} <= set(summary.columns)


def test_reload_reattaches_and_sessions_are_isolated(trained) -> None:
    again = _app(job=trained["job"], run=trained["run"])  # a reload: a new session, same URL
    _ok(again)
    assert again.success and trained["run"] in again.success[0].value
    other = _app()  # another browser session: no job of its own
    _ok(other)
    assert not other.success and "cancel_button" not in [b.key for b in other.button]
    assert "job" not in other.query_params


def test_page2_embedding_gap(trained) -> None:
    at = _app(PAGE2, run=trained["run"])
    _ok(at)
    charts = _charts(at)
    assert {"gap_map", "gap_bars", "gap_epochs"} <= set(charts) and "gap_anim" not in charts
    m = charts["gap_map"]
    assert "UMAP" in m["layout"]["title"]["text"]  # the map saved by the training job, not a preview
    n_points = sum(len(t["customdata"]) for t in m["data"])
    assert {t["type"] for t in m["data"]} == {"scattergl" if n_points >= P.WEBGL_MIN_POINTS else "scatter"}
    ids = [row[0] for t in m["data"] for row in t["customdata"]]
    assert len(ids) == len(set(ids))
    names = [t["name"] for t in m["data"] if t.get("showlegend", True)]
    sizes = [int(n.split("n=")[1]) for n in names]
    assert len(names) == 10 and sizes == sorted(sizes)  # legend: smallest class first
    bars = charts["gap_bars"]
    # one panel per gap measure the run could measure (accuracy gap always; the spread and distance
    # gaps are undefined for classes whose embeddings collapsed), every class in each panel
    assert 1 <= len(bars["data"]) <= 3 and all(len(_arr(t["y"])) == 10 for t in bars["data"])
    assert all(np.isfinite(_arr(t["y"])).any() for t in bars["data"])
    assert any("Spearman" in c.value for c in at.caption)
    at.segmented_control(key="gap_layout").set_value("side by side").run()
    _ok(at)
    assert "xaxis2" in _charts(at)["gap_map"]["layout"]
    at.toggle(key="gap_animate").set_value(True).run()  # the animation is drawn only when asked for
    _ok(at)
    assert len(_charts(at)["gap_anim"]["frames"]) >= 2


def test_page3_synthetic_inspector(trained) -> None:
    at = _app(PAGE3, run=trained["run"])
    _ok(at)
    charts = _charts(at)
    assert {"syn_sel_eos", "syn_sel_smote", "syn_enemy_share", "syn_closure"} <= set(charts)
    eos = charts["syn_sel_eos"]
    syn_traces = [t for t in eos["data"] if "synthetic" in t.get("hovertemplate", "")]
    syn_ids = [row[0] for t in syn_traces for row in t["customdata"]]
    assert syn_ids and all(isinstance(g, int) for g in syn_ids)
    real_ids = [row[0] for t in eos["data"] if "real" in t.get("hovertemplate", "") for row in t["customdata"]]
    assert min(syn_ids) > max(real_ids)  # synthetic rows come after the real rows: no collisions
    # The saved map placed a seeded sample of each synthetic set (capped for this test), and only
    # those rows are drawn; their ids are the rows of the full set, as saved beside the map.
    run_dir = trained["runs"] / trained["run"]
    saved_rows = np.load(run_dir / "projection_umap_rows.npz")["synthetic_eos"]
    n_real = len(np.load(run_dir / "embeddings.npz")["train_y"])
    assert len(saved_rows) == MAP_CAP and sorted(syn_ids) == sorted(n_real + int(r) for r in saved_rows)
    assert any(t.get("name") == "enemies (other classes)" for t in eos["data"])
    at.button(key="syn_random_eos").click().run()
    _ok(at)
    text = " ".join(m.value for m in at.markdown)
    assert "synthetic #" in text and "r = " in text and "partner class" in text
    assert any(t.get("name") == "base → partner" for t in _charts(at)["syn_sel_eos"]["data"])
    assert len(at.get("image")) >= 3  # base, partner and nearest-neighbour thumbnails
    closure = _charts(at)["syn_closure"]
    assert [t["name"] for t in closure["data"]] == ["none", "EOS", "SMOTE"]
    assert [t["marker"]["color"] for t in closure["data"]] == [P.METHOD_COLORS[m] for m in ("none", "eos", "smote")]
    at.slider(key="syn_k").set_value(3).run()  # another k: resampled on the fly
    _ok(at)
    assert "syn_sel_eos" in _charts(at)


@pytest.fixture(scope="module")
def second_seed(trained) -> str:
    """The same config with seed 1, made through the engine's pipeline (no map saved)."""
    from eos_core import pipeline
    from eos_core.config import RunConfig
    from eos_core.store import RunStore

    store = RunStore(trained["runs"])
    cfg = store.get_run(trained["run"]).config
    for part in ("data", "train", "head"):
        cfg[part]["seed"] = 1
    return pipeline.run_pipeline(RunConfig.from_dict(cfg), store=store).phase1.run_id


def test_page4_head_accuracy_with_seeds(trained, second_seed) -> None:
    at = _app(PAGE4, run=trained["run"])
    _ok(at)
    table = at.dataframe[0].value
    assert [m.removesuffix(" ★") for m in table["oversampler"]] == [P.method_name(m) for m in METHODS]
    assert table["oversampler"].str.endswith("★").sum() >= 1
    charts = _charts(at)
    assert {"recall_heatmap", "confusion_none", "seeds_bars"} <= set(charts)
    assert len(charts["recall_heatmap"]["data"][0]["z"]) == len(METHODS)
    seeds = charts["seeds_bars"]["data"][0]
    assert seeds["x"] == [P.method_name(m) for m in METHODS] and "error_y" in seeds
    labels = [b.label for b in at.get("download_button")]
    assert "Download table (CSV)" in labels and "Download figure (HTML)" in labels


def test_page2_pca_preview_until_the_umap_map_is_saved(trained, second_seed) -> None:
    at = _app(PAGE2, run=second_seed)
    _ok(at)
    assert "PCA preview" in _charts(at)["gap_map"]["layout"]["title"]["text"]
    assert any("UMAP map is being computed" in c.value for c in at.caption)
    _wait_job(at, lambda a: "UMAP" in _charts(a)["gap_map"]["layout"]["title"]["text"], timeout=90)
    assert (trained["runs"] / second_seed / "projection_umap.npz").exists()


def test_cancel_stops_the_job(trained) -> None:
    from eos_core.store import RunStore

    before = {r.id for r in RunStore(trained["runs"]).list_runs()}
    at = _app(run=trained["run"])
    at.number_input(key="setup_epochs").set_value(200)
    at.button(key="train_button").click().run()
    _ok(at)
    at.button(key="cancel_button").click().run()
    _wait_job(at, lambda a: bool(a.warning) and "cancelled" in a.warning[0].value, timeout=60)
    new = [r for r in RunStore(trained["runs"]).list_runs() if r.id not in before]
    assert all(r.status == "cancelled" for r in new)  # none, if cancelled before the run was created
