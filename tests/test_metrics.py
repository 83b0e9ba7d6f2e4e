"""classification_report_dict on hand-made predictions with a known confusion matrix."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eos_core.errors import ConfigError
from eos_core.evaluation import class_groups, classification_report_dict, per_class_recall

# Confusion (rows = true): [[3, 1, 0], [1, 1, 0], [0, 0, 2]]
Y_TRUE = [0, 0, 0, 0, 1, 1, 2, 2]
Y_PRED = [0, 0, 0, 1, 1, 0, 2, 2]
KEYS = {
    "balanced_accuracy", "g_mean", "macro_f1", "accuracy", "per_class_recall",
    "per_class_precision", "confusion", "groups",
}


def test_known_confusion():
    r = classification_report_dict(Y_TRUE, Y_PRED, num_classes=3)
    assert set(r) == KEYS
    assert r["confusion"] == [[3, 1, 0], [1, 1, 0], [0, 0, 2]]
    assert r["per_class_recall"] == pytest.approx([0.75, 0.5, 1.0])
    assert r["per_class_precision"] == pytest.approx([0.75, 0.5, 1.0])
    assert r["balanced_accuracy"] == pytest.approx((0.75 + 0.5 + 1.0) / 3)
    assert r["g_mean"] == pytest.approx((0.75 * 0.5 * 1.0) ** (1 / 3))
    assert r["macro_f1"] == pytest.approx((0.75 + 0.5 + 1.0) / 3)
    assert r["accuracy"] == pytest.approx(6 / 8)
    assert r["groups"] == {"many": None, "medium": None, "few": None}


def test_plain_python_types_and_json():
    r = classification_report_dict(Y_TRUE, Y_PRED, num_classes=3, train_counts=[500, 50, 5])
    json.dumps(r, allow_nan=False)
    for key in ("balanced_accuracy", "g_mean", "macro_f1", "accuracy"):
        assert type(r[key]) is float
    assert all(type(v) is float for v in r["per_class_recall"] + r["per_class_precision"])
    assert all(type(v) is int for row in r["confusion"] for v in row)


def test_absent_class_keeps_lengths_and_aggregates():
    r = classification_report_dict(Y_TRUE, Y_PRED, num_classes=4)
    assert len(r["per_class_recall"]) == len(r["per_class_precision"]) == 4
    assert r["per_class_recall"][3] is None and r["per_class_precision"][3] == 0.0  # recall undefined, not 0
    assert np.isnan(per_class_recall(Y_TRUE, Y_PRED, 4)[3])
    json.dumps(r, allow_nan=False)
    assert r["confusion"][3] == [0, 0, 0, 0] and len(r["confusion"]) == 4
    # Aggregates are over the classes with test samples: unchanged by the empty class 3.
    assert r["balanced_accuracy"] == pytest.approx((0.75 + 0.5 + 1.0) / 3)
    assert r["g_mean"] == pytest.approx((0.75 * 0.5 * 1.0) ** (1 / 3))


def test_g_mean_zero_when_a_class_is_never_recalled():
    r = classification_report_dict([0, 0, 1, 1], [0, 0, 0, 0], num_classes=2)
    assert r["g_mean"] == 0.0
    assert r["balanced_accuracy"] == pytest.approx(0.5)


def test_groups_by_train_count():
    r = classification_report_dict(Y_TRUE, Y_PRED, num_classes=3, train_counts=[500, 50, 5])
    assert r["groups"] == {"many": pytest.approx(0.75), "medium": pytest.approx(0.5), "few": pytest.approx(1.0)}


def test_group_boundaries_and_parameters():
    # many > 100, medium 20..100 inclusive, few < 20
    assert class_groups([101, 100, 20, 19]) == {"many": [0], "medium": [1, 2], "few": [3]}
    assert class_groups([101, 100, 20, 19], many_threshold=19, few_threshold=20) == {
        "many": [0, 1, 2], "medium": [], "few": [3],
    }
    with pytest.raises(ConfigError):  # a class could be both many and few
        class_groups([50], many_threshold=10, few_threshold=30)
    r = classification_report_dict(
        Y_TRUE, Y_PRED, num_classes=3, train_counts=[500, 50, 5], many_threshold=40, few_threshold=10
    )
    assert r["groups"] == {"many": pytest.approx((0.75 + 0.5) / 2), "medium": None, "few": pytest.approx(1.0)}


def test_tiny_dataset_every_class_few():
    r = classification_report_dict(Y_TRUE, Y_PRED, num_classes=3, train_counts=[15, 8, 3])
    assert r["groups"]["many"] is None and r["groups"]["medium"] is None
    assert r["groups"]["few"] == pytest.approx((0.75 + 0.5 + 1.0) / 3)


def test_group_without_test_samples_is_none():
    r = classification_report_dict(Y_TRUE, Y_PRED, num_classes=4, train_counts=[500, 50, 50, 5])
    assert r["groups"]["few"] is None  # class 3 has no test sample


@pytest.mark.parametrize(
    "y_true, y_pred, num_classes, train_counts",
    [
        ([0, 1], [0], 2, None),                 # length mismatch
        ([], [], 2, None),                      # empty
        ([0, 2], [0, 1], 2, None),              # label out of range
        ([0, 1], [0, -1], 2, None),             # negative label
        ([0.5, 1.0], [0, 1], 2, None),          # not integers
        ([0, 1], [0, 1], 2, [10]),              # train_counts length
        ([0, 1], [0, 1], 0, None),              # no classes
    ],
)
def test_errors(y_true, y_pred, num_classes, train_counts):
    with pytest.raises(ConfigError):
        classification_report_dict(y_true, y_pred, num_classes, train_counts)


def test_macro_f1_averages_over_the_classes_in_the_test_set():
    # Class 2 has no test sample but is predicted once: it must not enter the macro average, just
    # as it does not enter balanced accuracy or the g-mean. F1: class 0 = 2/3, class 1 = 1.
    rep = classification_report_dict([0, 0, 1, 1], [0, 2, 1, 1], num_classes=3)
    assert rep["macro_f1"] == pytest.approx((2 / 3 + 1.0) / 2)
    assert rep["balanced_accuracy"] == pytest.approx(0.75)
