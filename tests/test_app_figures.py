"""The app's figures (``ui.figures``, no Streamlit): traces, ids, values and colours drawn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eos_core import names
from eos_core.gap import GapReport
from ui.figures import closure, common, gap, heads, maps, training
from ui.labels import method_color, method_name


def test_capped_rows_keep_small_classes_whole() -> None:
    y = np.repeat([0, 1, 2], [5000, 300, 7])
    rows = maps.capped_rows(y, 1000, seed=0)
    assert len(rows) == 1000 and np.all(np.diff(rows) > 0)
    kept = np.bincount(y[rows], minlength=3)
    assert kept[2] == 7 and kept[1] == 300 and kept[0] == 693
    assert len(maps.capped_rows(y, 10**6)) == len(y) and len(maps.capped_rows(y, None)) == len(y)


def _report() -> dict:
    """A gap.json-shaped report for 3 classes (class 2 untested: its band and p are None)."""
    rows = []
    for c, (v, lo, hi, p) in enumerate([(1.1, 0.9, 1.2, 0.3), (1.5, 0.8, 1.3, 0.01), (2.5, None, None, None)]):
        rows.append({"class": c, "centroid_ratio": v, "centroid_ratio_p5": lo, "centroid_ratio_p95": hi,
                     "centroid_ratio_p": p, "nn_ratio": 1.0, "nn_ratio_p5": 0.9, "nn_ratio_p95": 1.1, "nn_ratio_p": 0.5,
                     "nn1_recall_gap": None, "head_recall_gap": 0.25 * c})
    return {"per_class": rows, "size_gap_spearman": {"centroid_ratio": -1.0},
            "size_gap_spearman_p": {"centroid_ratio": 0.0345}}


def test_gap_columns_bands_and_bars() -> None:
    report = _report()
    read = GapReport.from_dict(report, 3)  # the engine reads gap.json; the figures only arrange it
    columns = gap.gap_columns(read)
    assert list(columns) == [*names.GAP_MEASURES, "centroid_ratio_p5", "centroid_ratio_p95", "centroid_ratio_p",
                             "nn_ratio_p5", "nn_ratio_p95", "nn_ratio_p", "head_recall_gap"]
    vals = {m: columns[m] for m in names.GAP_MEASURES}
    assert list(vals["centroid_ratio"]) == [1.1, 1.5, 2.5] and np.isnan(vals["nn1_recall_gap"]).all()
    assert list(columns["head_recall_gap"]) == [0.0, 0.25, 0.5]
    null = gap.gap_null(read)
    assert set(null) == {"centroid_ratio", "nn_ratio"}  # nn1_recall_gap has no band fields here
    assert list(null["centroid_ratio"]["p5"][:2]) == [0.9, 0.8] and np.isnan(null["centroid_ratio"]["p"][2])
    assert "head_recall_gap" not in gap.gap_columns(GapReport.from_dict(
        {"per_class": [{k: v for k, v in r.items() if k != "head_recall_gap"} for r in report["per_class"]]}, 3))
    df = gap.gap_frame(["a", "b", "c"], [40, 12, 3], {**vals, "head_recall_gap": [0.0, 0.25, 0.5]})
    fig = gap.gap_bars(df, metrics=["centroid_ratio", "nn_ratio"], rho=report["size_gap_spearman"],
                       rho_p=report["size_gap_spearman_p"], null=null)
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0] == "centre-distance ratio — Spearman(size, gap) = -1.00 (p = 0.035)"  # the engine's values
    assert titles[1].endswith("= n/a (p = n/a)")  # absent: not recomputed here
    by_meta = {t.meta: t for t in fig.data}
    assert list(by_meta["centroid_ratio"].y) == [1.1, 1.5, 2.5]
    band = by_meta["centroid_ratio band"]
    assert list(band.base[:2]) == [0.9, 0.8] and np.allclose(band.y[:2], [0.3, 0.5]) and np.isnan(band.base[2])
    assert band.name == gap.BAND_NAME and band.showlegend
    sig = by_meta["centroid_ratio significant"]  # p < 0.05: class b only
    assert list(sig.x) == ["b · n=12"] and list(sig.y) == [1.5] and sig.name == gap.SIGNIFICANT_NAME
    assert list(by_meta["centroid_ratio no gap"].y) == [1.0, 1.0, 1.0]
    assert list(by_meta["nn_ratio significant"].x) == [] and not by_meta["nn_ratio no gap"].showlegend
    head = gap.head_gap_bars(df)
    assert list(head.data[0].y) == [0.0, 0.25, 0.5]


def test_gap_over_epochs_has_the_no_gap_line() -> None:
    hist = [{"epoch": e, "loss": 1.0, "gap": {"nn1_recall_gap": [0.0, 0.1 * e, 0.2 * e]}} for e in (1, 2, 3)]
    fig = gap.gap_over_epochs(hist, classes=None, train_counts=[40, 12, 3], metric="nn1_recall_gap")
    assert len(fig.data) == 3 and list(fig.data[2].y) == [0.0, 0.0, 0.0]  # largest class last
    assert [s.y0 for s in fig.layout.shapes] == [0.0]  # no gap for a difference
    assert fig.layout.yaxis.title.text == names.GAP_NAMES["nn1_recall_gap"]
    anim = gap.gap_animation(hist, classes=None, train_counts=[40, 12, 3], metric="nn1_recall_gap")
    assert len(anim.frames) == 3 and anim.layout.sliders
    ratio = [{"epoch": 1, "gap": {"nn_ratio": [1.0, 1.2, 0.8]}}]
    a = gap.gap_animation(ratio, classes=None, train_counts=[40, 12, 3], metric="nn_ratio")
    assert a.data[0].base == 1.0 and np.allclose(a.data[0].y, [0.0, 0.2, -0.2])  # from 1 up or down
    assert list(a.data[0].customdata) == [1.0, 1.2, 0.8]


def test_metrics_table_best_methods_and_view() -> None:
    table = heads.metrics_table({
        "crt": {"balanced_accuracy": 0.5, "g_mean": 0.3, "macro_f1": 0.4, "seconds": 0},
        "eos": {"balanced_accuracy": 0.7, "g_mean": 0.6, "macro_f1": 0.4, "seconds": 1,
                "delta_vs_crt": {"balanced_accuracy": 0.2, "g_mean": 0.3, "macro_f1": 0.0}}})
    assert list(table["method"]) == ["crt", "eos"] and heads.best_methods(table) == ["eos"]
    assert heads.best_methods(table, "macro_f1") == ["crt", "eos"]  # ties: every best row
    assert np.isnan(table["delta_balanced_accuracy"][0]) and list(table["delta_g_mean"])[1] == 0.3
    view = heads.metrics_view(table).data
    assert list(view["method"]) == ["cRT", "EOS ★"] and "balanced acc" in view.columns
    assert "Δ balanced acc vs cRT" in view.columns
    heat = heads.recall_heatmap({"none": [1, 0.5, 0], "eos": [1, 0.7, 0.4]}, classes=None, train_counts=[5, 3, 1])
    assert list(heat.data[0].y) == [method_name("none"), "EOS"]
    colors = {t.textfont.color: list(t.text) for t in heat.data[1:]}  # contrast: white on dark cells
    assert "0.00" in colors["white"] and "1.00" in colors["#1a1a1a"]
    conf = heads.confusion_figure([[3, 1], [0, 2]], classes=["a", "b"])
    assert conf.data[0].z[0][0] == pytest.approx(0.75)
    assert sorted(t for tr in conf.data[1:] for t in tr.text) == ["100%", "25%", "75%"]  # empty cells blank
    assert {method_color(m) for m in names.METHODS} == set(names.METHOD_COLORS.values())
    cb = closure.per_class_method_bars({"eos": [1, np.nan, 3], "smote": [1, 1, 1]}, classes=None,
                                       train_counts=[5, 3, 1], yaxis="share", refs={0.0: "none", 1.0: "all"})
    assert [b.marker.color for b in cb.data] == [names.METHOD_COLORS["eos"], names.METHOD_COLORS["smote"]]
    assert [b.name for b in cb.data] == ["EOS", "SMOTE"] and [s.y0 for s in cb.layout.shapes] == [0.0, 1.0]
    ps = closure.partner_share_bars({"eos_published": {"enemy": 0.6, "self": 0.1, "same_class": 0.3}})
    assert [t.meta for t in ps.data] == ["enemy", "self", "same_class"] and [t.y[0] for t in ps.data] == [0.6, 0.1, 0.3]
    assert list(ps.data[0].x) == ["EOS (as published)"]
    png = common.thumbnail_png(np.random.default_rng(0).random((1, 8, 8), dtype=np.float32))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<html>" in common.figure_html(conf)[:200].lower()


def test_count_bars_show_the_counts_given() -> None:
    fig = training.count_bars(["a", "b"], [50, 1], [10, 10], log_y=True)
    assert [t.name for t in fig.data] == ["train (imbalanced)", "test"]
    assert list(fig.data[0].y) == [50, 1] and list(fig.data[1].y) == [10, 10]
    assert list(fig.data[0].x) == ["a", "b"] and fig.layout.yaxis.type == "log"
    curve = training.training_curve([{"epoch": 1, "loss": 2.0, "test_bacc": 0.5}, {"epoch": 2, "loss": 1.0,
                                                                                 "test_bacc": 0.7}])
    assert list(curve.data[0].y) == [2.0, 1.0] and list(curve.data[1].y) == [0.5, 0.7]


def test_seed_intervals_are_the_engines_aggregate() -> None:
    from eos_core.evaluation import aggregate

    runs = [{"crt": {"balanced_accuracy": b, "g_mean": 0.0, "macro_f1": 0.0},
             "eos": {"balanced_accuracy": b + d, "g_mean": 0.0, "macro_f1": 0.0}}
            for b, d in ((0.70, 0.02), (0.80, 0.04), (0.75, 0.00))]
    agg = aggregate(runs)
    tab = heads.aggregate_table(agg, "balanced_accuracy")
    assert list(tab["method"]) == ["crt", "eos"] and np.isnan(tab["delta_mean"][0])
    d = agg["methods"]["eos"]["delta_vs_crt"]["balanced_accuracy"]
    assert (tab["delta_mean"][1], tab["delta_low"][1], tab["delta_high"][1]) == (d["mean"], d["low"], d["high"])
    fig = heads.interval_plot(tab, metric="balanced_accuracy", delta=True)
    dots = fig.data[-1]
    assert list(dots.x) == ["EOS"] and list(dots.y) == [d["mean"]]  # cRT is the 0 line, not a dot
    assert dots.error_y.array[0] == pytest.approx(d["high"] - d["mean"])
    assert dots.error_y.arrayminus[0] == pytest.approx(d["mean"] - d["low"])
    assert [s.y0 for s in fig.layout.shapes] == [0.0]
    scores = heads.interval_plot(tab, metric="balanced_accuracy", delta=False,
                                 per_seed=pd.DataFrame({"method": ["crt"] * 3, "seed": [0, 1, 2],
                                                        "value": [0.70, 0.80, 0.75]}))
    assert list(scores.data[0].y) == [0.70, 0.80, 0.75] and list(scores.data[-1].x) == ["cRT", "EOS"]
    assert scores.layout.yaxis.rangemode != "tozero" and scores.layout.yaxis.range is None  # fits the values


def test_page3_caption_names_the_methods_computed_now():
    from ui.synthetic import quality_source

    stored, computed = {"source": "stored"}, {"source": "computed"}
    assert quality_source({"eos": stored, "ros": stored}, 10, 10) == "Values stored with the run (methods.json, k = 10)"
    assert quality_source({"eos": stored, "smote": computed}, 10, 10) == (
        "Values stored with the run (methods.json, k = 10), except SMOTE: not trained in this run, computed now "
        "by the engine's functions at the same k.")
    assert quality_source({"smote": computed}, 10, 10) == (
        "None of these methods was trained in this run: their values are computed now by the engine's functions "
        "at the run's k = 10.")
    assert quality_source({"eos": computed}, 5, 10) == (
        "k = 5 differs from the run's k = 10: these values are computed now by the engine's functions on the "
        "resampled points.")
