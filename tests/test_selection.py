"""ui.selection: selection summary, CSV, paging, captions, per-point gap, images by id, warnings; and the
page map tables of ui.figures.maps (ids, minorities kept whole, enemies, segments)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from ui import selection
from ui.figures import maps as mapfig


def _points() -> pd.DataFrame:
    return pd.DataFrame({
        "id": [0, 1, 2, 3, 4, 5],
        "x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
        "y": [5.0, 4.0, 3.0, 2.0, 1.0, 0.0],
        "class_name": ["cat", "cat", "dog", "dog", "dog", "cat"],
        "split": ["train", "test", "train", "test", "synthetic", "train"],
        "pred": ["cat", "dog", "dog", "dog", None, "cat"],
    })


def test_summary_counts_class_by_split_with_totals() -> None:
    rows = selection.selected_rows(_points(), [5, 1, 2, 3, 4, 99])
    assert rows["id"].tolist() == [1, 2, 3, 4, 5]  # in table order, unknown ids ignored
    tab = selection.selection_summary(rows)
    assert tab.columns.tolist() == ["class", "train", "test", "synthetic", "total"]
    assert tab.to_dict("records") == [
        {"class": "dog", "train": 1, "test": 1, "synthetic": 1, "total": 3},
        {"class": "cat", "train": 1, "test": 1, "synthetic": 0, "total": 2},
        {"class": "all", "train": 2, "test": 2, "synthetic": 1, "total": 5},
    ]
    assert selection.selected_rows(_points(), []).empty


def test_csv_has_the_exported_columns() -> None:
    rows = selection.selected_rows(_points(), [1, 4])
    back = pd.read_csv(io.StringIO(selection.selection_csv(rows)))
    assert back.columns.tolist() == ["id", "class", "split", "prediction", "x", "y"]
    assert back["id"].tolist() == [1, 4] and back["prediction"].isna().tolist() == [False, True]
    assert back["prediction"].iloc[0] == "dog" and back["x"].tolist() == [1.0, 4.0]


def test_paging_covers_every_row_once() -> None:
    assert selection.page_count(0) == 1 and selection.page_count(48) == 1 and selection.page_count(4798) == 100
    seen = np.concatenate([np.arange(4798)[selection.page_slice(4798, p)] for p in range(1, 101)])
    assert np.array_equal(seen, np.arange(4798))
    assert selection.page_slice(100, 0) == slice(0, 48) and selection.page_slice(100, 9) == slice(96, 100)


def test_caption_names_id_class_split_and_prediction() -> None:
    rows = list(_points().itertuples(index=False))
    assert selection.caption(rows[0]) == "#0 · cat · train ✓"
    assert selection.caption(rows[1]) == "#1 · cat · test → dog"
    assert selection.caption(rows[4]) == "#4 · dog · synthetic"


def test_image_source_by_point_id() -> None:
    x_train = np.arange(5 * 2 * 2).reshape(5, 2, 2)
    x_test = 100 + np.arange(3 * 2 * 2).reshape(3, 2, 2)
    get = selection.image_source(x_train, np.array([4, 0, 2]), x_test)  # 3 training rows of the dataset
    out = get(np.array([0, 3, 2, 5]))
    assert np.array_equal(out, np.stack([x_train[4], x_test[0], x_train[2], x_test[2]]))


def test_method_warnings_read_methods_json() -> None:
    methods = {"adasyn": {"warnings": ["generated no samples for class 8"]}, "eos": {}}
    assert selection.method_warnings(methods, "adasyn") == ["generated no samples for class 8"]
    assert selection.method_warnings(methods, "eos") == [] and selection.method_warnings(None, "x") == []


def test_gap_points_ids_and_minorities_kept_whole() -> None:
    rng = np.random.default_rng(0)
    ty = np.repeat([0, 1, 2], [500, 20, 3])
    sy = np.repeat([0, 1, 2], [50, 10, 2])
    pts = mapfig.gap_points(rng.normal(size=(len(ty), 2)), ty, rng.normal(size=(len(sy), 2)), sy,
                            classes=["a", "b", "c"], train_pred=ty, test_pred=np.zeros_like(sy), cap=100)
    tr, te = pts[pts["split"] == "train"], pts[pts["split"] == "test"]
    assert np.bincount(tr["label"], minlength=3).tolist()[1:] == [20, 3] and len(tr) == 100
    assert len(te) == len(sy) and te["id"].tolist() == (len(ty) + np.arange(len(sy))).tolist()
    assert (pts["image"] == pts["id"]).all() and pts["id"].is_unique
    assert te["correct"].tolist() == (sy == 0).tolist() and set(te["pred"]) == {"a"}


def test_synthetic_points_enemies_ids_and_segments() -> None:
    train_xy = np.arange(20, dtype=float).reshape(10, 2)
    ty = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2, 2])
    test_xy, test_y = np.zeros((4, 2)), np.array([0, 1, 2, 1])
    syn_xy = np.array([[1.0, 1.0], [2.0, 2.0], [np.nan, np.nan]])
    syn_y, base, partner = np.array([1, 2, 1]), np.array([6, 8, 7]), np.array([0, 9, 6])
    pts = mapfig.synthetic_points(train_xy=train_xy, train_y=ty, test_xy=test_xy, test_y=test_y, syn_xy=syn_xy,
                                  syn_y=syn_y, base=base, partner=partner, classes=["a", "b", "c"], show=[1, 2],
                                  cap=100, context=False)
    syn = pts[pts["split"] == "synthetic"]
    assert syn["id"].tolist() == [14, 15]  # n_train + n_test + row; the unplaced row 2 is left out
    assert syn["image"].tolist() == [6, 8] and syn["partner_image"].tolist() == [0, 9]
    train = pts[pts["split"] == "train"]
    assert train["id"].tolist() == [0, 6, 7, 8, 9]  # the enemy #0 (class a) is drawn although a is hidden
    assert pts[pts["split"] == "test"]["id"].tolist() == [11, 12, 13]
    seg = mapfig.segment_frame(train_xy, np.array([6, 3]), np.array([0, 3]), np.array([0, 1]))
    assert seg.to_dict("records") == [{"x0": 12.0, "y0": 13.0, "x1": 0.0, "y1": 1.0}]  # a copy has no segment


@pytest.mark.parametrize("counts,expected", [([100, 50, 5, 2], [3, 2]), ([10, 10], [])])
def test_below_median_classes_smallest_first(counts, expected) -> None:
    from ui.figures.common import below_median_classes

    assert below_median_classes(counts) == expected
