"""What the app reads from the engine's gap package: the ``gap.json`` reader, each point's own gap, and
the quality figures of one oversampler's synthetic points (hand-made cases, answers by hand)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from points import pts

from eos_core.evaluation import finite_or_none
from eos_core.gap import (
    SYNTHETIC_QUALITY_KEYS,
    GapReport,
    closure_measures,
    generalization_gap,
    method_quality,
    same_class_gap,
)
from eos_core.names import GAP_MEASURES


# ------------------------------------------------------------------------------ GapReport.from_dict
def _saved_report() -> dict:
    """A gap.json as the engine writes it: 3 classes, class 2 without a test point (its measures None)."""
    train = np.concatenate([pts(0, 1, 2), pts(100, 103, y=100), pts(50, y=50)])
    train_y = np.array([0, 0, 0, 1, 1, 2])
    test = np.concatenate([pts(-2, 4), pts(101.5, y=100)])
    test_y = np.array([0, 0, 1])
    report = generalization_gap(train, train_y, test, test_y, num_classes=3, permutations=10,
                                train_pred=train_y, test_pred=np.array([0, 1, 1]))
    return json.loads(json.dumps(report.to_dict()))  # through JSON, as it is read back from disk


def test_from_dict_reads_back_what_to_dict_wrote() -> None:
    saved = _saved_report()
    read = GapReport.from_dict(saved)
    assert read.to_dict() == saved
    assert read.classes.tolist() == [0, 1, 2] and read.train_count.tolist() == [3, 2, 1]
    assert set(read.values) == set(read.p5) == set(read.p95) == set(read.p_value) == set(GAP_MEASURES)
    assert read.values["nn_ratio"][1] == saved["per_class"][1]["nn_ratio"] and math.isnan(read.values["nn_ratio"][2])
    assert read.head_recall_gap.tolist()[:2] == [0.5, 0.0]  # class 0: recall 3/3 - 1/2; class 1: 2/2 - 1/1
    assert read.size_gap_spearman == saved["size_gap_spearman"] and read.null["permutations"] == 10


def test_from_dict_of_a_partial_or_missing_report() -> None:
    partial = {"per_class": [{"class": 1, "nn_ratio": 2.0, "nn_ratio_p5": 1.0, "train_count": 7},
                             {"class": 5, "nn_ratio": 9.0}]}  # class 5 is outside num_classes: ignored
    read = GapReport.from_dict(partial, 3)
    assert list(read.values) == ["nn_ratio"]
    np.testing.assert_array_equal(read.values["nn_ratio"], [np.nan, 2.0, np.nan])
    assert read.p5 == {} and read.p95 == {} and read.p_value == {}  # a band needs its p5, p95 and p
    assert read.train_count.tolist() == [0, 7, 0] and read.test_count.tolist() == [0, 0, 0]
    assert np.isnan(read.head_recall_gap).all() and read.null == {} and read.size_gap_spearman == {}
    assert GapReport.from_dict(partial).classes.tolist() == list(range(6))  # C from the largest class id
    for missing in (None, {}):
        empty = GapReport.from_dict(missing, 2)
        assert empty.values == {} and empty.head_recall_gap.shape == (2,) and empty.train_count.tolist() == [0, 0]


# ------------------------------------------------------------------------------ same_class_gap
def test_same_class_gap_is_distance_to_nearest_same_class_training_point() -> None:
    train = np.array([[0.0, 0.0], [3.0, 0.0], [10.0, 0.0], [0.0, 7.0]], np.float32)
    ty = np.array([0, 0, 1, 2])
    own = same_class_gap(train, ty, train, ty, is_train=True)
    assert own.dtype == np.float32
    assert np.allclose(own[:2], [3.0, 3.0]) and np.isnan(own[2]) and np.isnan(own[3])  # classes of one: NaN
    q = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]], np.float32)
    assert np.allclose(same_class_gap(train, ty, q, np.array([0, 1, 2])), [1.0, 9.0, 7.0])
    assert np.isnan(same_class_gap(train, ty, q[:1], np.array([3]))).all()  # a class without training points


# ------------------------------------------------------------------------------ method_quality
# real class 0 at x=0, class 1 at x=10 (two copies each); test points of class 0 at 0.5 and 6, of class 1 at 9 and 4
REAL, REAL_Y = pts(0, 0, 10, 10), np.array([0, 0, 1, 1])
TEST, TEST_Y = pts(0.5, 6, 9, 4), np.array([0, 0, 1, 1])
# synthetic: 6.5 (class 0, nearest real 10: an enemy), 2 (class 0), 8 (class 1)
SYN, SYN_Y = pts(6.5, 2, 8), np.array([0, 0, 1])
BASE, PARTNER = np.array([0, 1, 2]), np.array([2, 0, 3])  # partners: an enemy, a same-class row, a same-class row


def test_method_quality_computed_by_hand() -> None:
    q = method_quality(REAL, REAL_Y, SYN, SYN_Y, TEST, TEST_Y, num_classes=3, base=BASE, partner=PARTNER)
    assert q["source"] == "computed" and q["n"] == 3
    # 1-NN over real + synthetic: 0.5 -> 0 ok, 6 -> 6.5 ok, 9 -> 8 ok, 4 -> 2 (class 0) wrong
    np.testing.assert_array_equal(q["nn1_recall"], [1.0, 0.5, np.nan])
    np.testing.assert_array_equal(q["nn1_recall_change"], [0.5, 0.0, np.nan])  # real only: 0.5 and 0.5
    assert q["enemy_share"] == pytest.approx(1 / 3)
    np.testing.assert_allclose(q["enemy_share_per_class"], [0.5, 0.0, np.nan])
    assert q["partner_share"] == pytest.approx({"enemy": 1 / 3, "self": 0.0, "same_class": 2 / 3})
    closure = closure_measures(REAL, REAL_Y, SYN, SYN_Y, TEST, TEST_Y, num_classes=3)
    np.testing.assert_array_equal(q["nn_gap_closed"], closure["nn_gap_closed"])
    assert q["nn_gap_closed_note"] == list(closure["nn_gap_closed_note"])
    assert method_quality(REAL, REAL_Y, SYN, SYN_Y, TEST, TEST_Y, num_classes=3)["partner_share"] is None


def test_method_quality_reads_the_stored_figures() -> None:
    """methods.json's entry (what the pipeline stored: lists with None) gives the same arrays, marked stored."""
    computed = method_quality(REAL, REAL_Y, SYN, SYN_Y, TEST, TEST_Y, num_classes=3, base=BASE, partner=PARTNER)
    stored = {k: (finite_or_none(computed[k]) if isinstance(computed[k], np.ndarray) else computed[k])
              for k in SYNTHETIC_QUALITY_KEYS}
    stored["enemy_share"] = 0.25  # a stored value is used as stored, not recomputed
    q = method_quality(REAL, REAL_Y, SYN, SYN_Y, TEST, TEST_Y, num_classes=3, stored=stored)
    assert q["source"] == "stored" and q["enemy_share"] == 0.25 and q["partner_share"] == computed["partner_share"]
    for key in ("nn_gap_closed", "nn1_recall", "nn1_recall_change", "enemy_share_per_class"):
        np.testing.assert_array_equal(q[key], computed[key])
    partial = {k: v for k, v in stored.items() if k != "partner_share"}  # an older entry: recomputed
    assert method_quality(REAL, REAL_Y, SYN, SYN_Y, TEST, TEST_Y, num_classes=3, stored=partial)["source"] == \
        "computed"


def test_method_quality_without_synthetic_points() -> None:
    q = method_quality(REAL, REAL_Y, np.zeros((0, 2), np.float32), np.zeros(0, np.int64), TEST, TEST_Y,
                       num_classes=3)
    assert q["n"] == 0 and math.isnan(q["enemy_share"]) and q["partner_share"] is None
    assert np.isnan(q["enemy_share_per_class"]).all() and q["enemy_share_per_class"].shape == (3,)
    np.testing.assert_array_equal(q["nn1_recall_change"], [0.0, 0.0, np.nan])
