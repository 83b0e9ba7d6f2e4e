"""The app's figures (``ui.figures``, no Streamlit): traces, ids, values and colours drawn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eos_core import names
from ui.figures import common, gap, heads, maps, training
from ui.labels import method_color, method_name


def _toy_points(seed: int = 0):
    rng = np.random.default_rng(seed)
    counts = np.array([40, 12, 3])
    ytr = np.repeat(np.arange(3), counts)
    yte = np.repeat(np.arange(3), 10)
    return (rng.normal(size=(len(ytr), 2)), ytr, rng.normal(size=(len(yte), 2)), yte, counts)


def test_map_traces_per_class_with_global_ids() -> None:
    xtr, ytr, xte, yte, counts = _toy_points()
    pts = maps.map_points(xtr, ytr, xte, yte, train_pred=ytr, test_pred=np.zeros_like(yte))
    assert pts["gid"].is_unique and len(pts) == len(ytr) + len(yte)
    for layout in ("overlay", "side"):
        fig = maps.embedding_map(pts, classes=["a", "b", "c"], train_counts=counts, layout=layout)
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
    big = maps.map_points(*(np.repeat(a, 60, axis=0) for a in (xtr, ytr, xte, yte)))
    assert len(big) >= common.WEBGL_MIN_POINTS
    assert {t.type for t in maps.embedding_map(big, classes=None, train_counts=counts).data} == {"scattergl"}


def test_selected_ids_map_back_to_rows() -> None:
    xtr, ytr, xte, yte, counts = _toy_points()
    pts = maps.map_points(xtr, ytr, xte, yte)
    fig = maps.embedding_map(pts, classes=None, train_counts=counts)
    # Simulate Plotly's selection payload: point_index restarts per trace, customdata does not.
    points = [{"curve_number": i, "point_index": 0, "customdata": list(t.customdata[0])}
              for i, t in enumerate(fig.data)]
    ids = common.selected_ids({"selection": {"points": points + points[:1]}})
    assert len(ids) == len(fig.data) and len(set(ids)) == len(ids)
    assert {int(pts.set_index("gid").loc[g, "label"]) for g in ids} == {0, 1, 2}
    assert common.selected_ids(None) == [] and common.selected_ids({"selection": {"points": [{"x": 1}]}}) == []


def test_sample_rows_keeps_small_classes_whole() -> None:
    y = np.repeat([0, 1, 2], [5000, 300, 7])
    rows = common.sample_rows(y, 1000, seed=0)
    assert len(rows) == 1000 and np.all(np.diff(rows) > 0)
    kept = np.bincount(y[rows], minlength=3)
    assert kept[2] == 7 and kept[1] == 300 and kept[0] == 693
    assert len(common.sample_rows(y, 10**6)) == len(y)


def test_gap_values_bars_and_epochs() -> None:
    report = {"per_class": [{"class": c, "spread_ratio": v, "distance_gap": 1.0, "accuracy_gap": None}
                            for c, v in enumerate([1.1, 1.5, 2.5])],
              "size_gap_spearman": {"spread_ratio": -1.0}}
    vals = gap.gap_values(report, 3)
    assert vals["spread_ratio"] == [1.1, 1.5, 2.5] and np.isnan(vals["accuracy_gap"]).all()
    assert gap.gap_values({"spread_ratio": [1, None, 2]}, 3)["spread_ratio"][2] == 2.0
    df = gap.gap_frame(["a", "b", "c"], [40, 12, 3], vals)
    assert list(df["class"]) == ["a", "b", "c"]
    fig = gap.gap_bars(df, metrics=["spread_ratio", "distance_gap"], rho={"spread_ratio": -1.0})
    assert len(fig.data) == 2
    assert fig.layout.annotations[0].text.endswith("Spearman(size, gap) = -1.00")  # the engine's value
    assert fig.layout.annotations[1].text.endswith("= n/a")  # absent: not recomputed here
    assert list(fig.data[0].y) == [1.1, 1.5, 2.5] and fig.data[0].error_y.array is None
    # an optional band per class id (e.g. a null band), drawn as asymmetric error bars
    banded = gap.gap_bars(df, metrics=["spread_ratio"], bands={"spread_ratio": ([1.0, 1.0, 2.0], [1.2, 2.0, 3.0])})
    assert np.allclose(banded.data[0].error_y.array, [0.1, 0.5, 0.5])
    assert np.allclose(banded.data[0].error_y.arrayminus, [0.1, 0.5, 0.5])
    hist = [{"epoch": e, "loss": 1.0, "gap": {"spread_ratio": [1.0, 1.0 + e, 1.0 + 2 * e]}} for e in (1, 2, 3)]
    assert len(gap.gap_over_epochs(hist, classes=None, train_counts=[40, 12, 3]).data) == 3
    anim = gap.gap_animation(hist, classes=None, train_counts=[40, 12, 3])
    assert len(anim.frames) == 3 and anim.layout.sliders


def test_synthetic_map_segments_and_tables() -> None:
    real = pd.DataFrame({"gid": [0, 1, 2], "x": [0.0, 1, 2], "y": [0.0, 1, 2], "label": [1, 1, 2]})
    syn = pd.DataFrame({"gid": [10, 11], "x": [0.5, 1.5], "y": [0.5, 1.5], "label": [1, 2]})
    seg = pd.DataFrame({"x0": [0.0], "y0": [0.0], "x1": [3.0], "y1": [3.0], "sx": [1.0], "sy": [1.0]})
    fig = maps.synthetic_map(real, syn, classes=None, train_counts=[50, 4, 2], enemies=real.iloc[:1], segments=seg)
    ids = [int(r[0]) for t in fig.data if t.customdata is not None for r in t.customdata]
    assert sorted(ids) == [0, 0, 1, 2, 10, 11]
    assert any(t.name == "base → partner" for t in fig.data)
    kinds = [("synthetic" if "synthetic ·" in (t.hovertemplate or "") else "real" if "real ·" in (t.hovertemplate or "")
              else None) for t in fig.data]
    assert max(i for i, k in enumerate(kinds) if k == "real") < min(i for i, k in enumerate(kinds) if k == "synthetic")
    table = heads.metrics_table({"none": {"balanced_accuracy": 0.5, "g_mean": 0.3, "macro_f1": 0.4, "seconds": 0},
                             "eos": {"balanced_accuracy": 0.7, "g_mean": 0.6, "macro_f1": 0.4, "seconds": 1}})
    assert list(table["method"]) == ["none", "eos"] and heads.best_methods(table) == ["eos"]
    assert heads.best_methods(table, "macro_f1") == ["none", "eos"]  # ties: every best row
    view = heads.metrics_view(table).data
    assert list(view["oversampler"]) == [method_name("none"), "EOS ★"] and "balanced acc" in view.columns
    heat = heads.recall_heatmap({"none": [1, 0.5, 0], "eos": [1, 0.7, 0.4]}, classes=None, train_counts=[5, 3, 1])
    assert list(heat.data[0].y) == [method_name("none"), "EOS"]
    colors = {t.textfont.color: list(t.text) for t in heat.data[1:]}  # contrast: white on dark cells
    assert "0.00" in colors["white"] and "1.00" in colors["#1a1a1a"]
    conf = heads.confusion_figure([[3, 1], [0, 2]], classes=["a", "b"])
    assert conf.data[0].z[0][0] == pytest.approx(0.75)
    assert sorted(t for tr in conf.data[1:] for t in tr.text) == ["100%", "25%", "75%"]  # empty cells blank
    assert {method_color(m) for m in names.METHODS} == set(names.METHOD_COLORS.values())
    assert [b.marker.color for b in gap.closure_bars({"eos": [1, 1, 1], "smote": [1, 1, 1]}, classes=None,
                                                     train_counts=[5, 3, 1]).data] == [names.METHOD_COLORS["eos"],
                                                                                       names.METHOD_COLORS["smote"]]
    summ = heads.seeds_summary(pd.DataFrame({"method": ["a", "a", "b"], "balanced_accuracy": [0.5, 0.7, 0.6]}),
                           "balanced_accuracy")
    assert summ.set_index("method").loc["a", "std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    bars = heads.seeds_bars(summ, metric="balanced_accuracy")
    assert list(bars.data[0].x) == ["a", "b"] and list(bars.data[0].y) == [0.6, 0.6]
    assert bars.data[0].error_y.array[0] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert bars.layout.yaxis.range[0] > 0  # close means stay distinguishable
    png = common.thumbnail_png(np.random.default_rng(0).random((1, 8, 8), dtype=np.float32))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<html>" in common.figure_html(fig)[:200].lower()


def test_count_bars_show_the_counts_given() -> None:
    fig = training.count_bars(["a", "b"], [50, 1], [10, 10], log_y=True)
    assert [t.name for t in fig.data] == ["train (imbalanced)", "test"]
    assert list(fig.data[0].y) == [50, 1] and list(fig.data[1].y) == [10, 10]
    assert list(fig.data[0].x) == ["a", "b"] and fig.layout.yaxis.type == "log"
    curve = training.training_curve([{"epoch": 1, "loss": 2.0, "test_bacc": 0.5}, {"epoch": 2, "loss": 1.0,
                                                                                 "test_bacc": 0.7}])
    assert list(curve.data[0].y) == [2.0, 1.0] and list(curve.data[1].y) == [0.5, 0.7]
