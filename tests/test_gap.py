"""Generalization-gap measures on hand-made embeddings whose answers are computed by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from eos_core.errors import ConfigError
from eos_core.gap import (
    GAP_MEASURES,
    gap_closure,
    generalization_gap,
    snapshot_subsample,
    synthetic_enemy_share,
    synthetic_enemy_share_per_class,
)


def pts(*xs: float, y: float = 0.0) -> np.ndarray:
    """Points on the horizontal line at height ``y``, as float32 (n, 2) embeddings."""
    return np.array([[x, y] for x in xs], dtype=np.float32)


@pytest.fixture()
def line_case():
    """Class 0 on y=0: train x=0,1,2; test x=-2,4.  Class 1 on y=100: train x=100,103; test x=101.5.
    Class 2: a single train point, no test point."""
    train = np.concatenate([pts(0, 1, 2), pts(100, 103, y=100), pts(50, y=50)])
    train_y = np.array([0, 0, 0, 1, 1, 2])
    test = np.concatenate([pts(-2, 4), pts(101.5, y=100)])
    test_y = np.array([0, 0, 1])
    return train, train_y, test, test_y


def test_spread_ratio_by_hand(line_case):
    r = generalization_gap(*line_case, num_classes=3)
    # class 0: centroid x=1; train distances 1,0,1 (mean 2/3); test distances 3,3 -> 4.5
    # class 1: centroid x=101.5; train 1.5,1.5; test 0 -> 0
    assert r.spread_ratio[0] == pytest.approx(4.5)
    assert r.spread_ratio[1] == pytest.approx(0.0)
    assert math.isnan(r.spread_ratio[2])  # no test sample (and a zero train spread)


def test_distance_gap_by_hand(line_case):
    r = generalization_gap(*line_case, num_classes=3)
    # class 0: leave-one-out NN distances 1,1,1; test NN distances 2 (to 0) and 2 (to 2) -> 2
    # class 1: LOO NN distances 3,3; test NN distance 1.5 -> 0.5
    assert r.distance_gap[0] == pytest.approx(2.0)
    assert r.distance_gap[1] == pytest.approx(0.5)
    assert math.isnan(r.distance_gap[2])  # fewer than 2 train samples


def test_counts_and_classes(line_case):
    r = generalization_gap(*line_case, num_classes=4)
    assert r.classes.tolist() == [0, 1, 2, 3]
    assert r.train_count.tolist() == [3, 2, 1, 0]
    assert r.test_count.tolist() == [2, 1, 0, 0]
    assert np.isnan(r.spread_ratio[3]) and np.isnan(r.distance_gap[3])


def test_accuracy_gap(line_case):
    train, train_y, test, test_y = line_case
    train_pred = np.array([0, 0, 0, 1, 1, 2])   # train recall 1, 1, 1
    test_pred = np.array([0, 1, 1])             # test recall 0.5, 1
    r = generalization_gap(train, train_y, test, test_y, num_classes=3, train_pred=train_pred, test_pred=test_pred)
    assert r.accuracy_gap[0] == pytest.approx(0.5)
    assert r.accuracy_gap[1] == pytest.approx(0.0)
    assert math.isnan(r.accuracy_gap[2])  # no test sample
    assert np.isnan(generalization_gap(*line_case, num_classes=3).accuracy_gap).all()


def test_duplicate_train_points_give_nan_distance_gap():
    r = generalization_gap(pts(1, 1, 1), [0, 0, 0], pts(2), [0], num_classes=1)
    assert math.isnan(r.distance_gap[0]) and math.isnan(r.spread_ratio[0])


def _ring(center: float, n: int, radius: float) -> np.ndarray:
    angles = 2 * np.pi * np.arange(n) / n
    return np.stack([center + radius * np.cos(angles), radius * np.sin(angles)], axis=1).astype(np.float32)


def test_spearman_sign_smaller_class_wider_gap():
    sizes = [40, 20, 10, 6]
    test_radius = [1.5, 2.0, 3.0, 4.0]  # the smaller the class, the further its test points
    train = np.concatenate([_ring(100 * c, n, 1.0) for c, n in enumerate(sizes)])
    train_y = np.repeat(np.arange(4), sizes)
    test = np.concatenate([_ring(100 * c, 4, r) for c, r in enumerate(test_radius)])
    test_y = np.repeat(np.arange(4), 4)
    r = generalization_gap(train, train_y, test, test_y, num_classes=4)
    assert r.spread_ratio == pytest.approx(test_radius, rel=1e-5)
    assert r.size_gap_spearman["spread_ratio"] == pytest.approx(-1.0)
    assert r.size_gap_spearman["accuracy_gap"] is None  # no predictions
    assert set(r.size_gap_spearman) == set(GAP_MEASURES)


def test_spearman_none_when_sizes_constant_or_too_few():
    train = np.concatenate([_ring(100 * c, 5, 1.0) for c in range(3)])
    test = np.concatenate([_ring(100 * c, 2, 1.0 + c) for c in range(3)])
    r = generalization_gap(train, np.repeat(np.arange(3), 5), test, np.repeat(np.arange(3), 2), num_classes=3)
    assert r.size_gap_spearman["spread_ratio"] is None  # every class the same size
    r2 = generalization_gap(train[:10], np.repeat([0, 1], 5), test[:4], np.repeat([0, 1], 2), num_classes=2)
    assert r2.size_gap_spearman == {m: None for m in GAP_MEASURES}  # two classes only


def test_to_dict_and_snapshot_are_json(line_case):
    r = generalization_gap(*line_case, num_classes=3)
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["per_class"][0] == {
        "class": 0, "train_count": 3, "test_count": 2, "accuracy_gap": None,
        "spread_ratio": pytest.approx(4.5), "distance_gap": pytest.approx(2.0),
    }
    assert d["per_class"][2]["distance_gap"] is None
    snap = r.snapshot()
    json.dumps(snap, allow_nan=False)
    assert set(snap) == set(GAP_MEASURES) and len(snap["spread_ratio"]) == 3


def test_errors(line_case):
    train, train_y, test, test_y = line_case
    bad = train.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ConfigError):
        generalization_gap(bad, train_y, test, test_y, num_classes=3)
    with pytest.raises(ConfigError):
        generalization_gap(train, train_y[:-1], test, test_y, num_classes=3)
    with pytest.raises(ConfigError):
        generalization_gap(train, train_y, test[:, :1], test_y, num_classes=3)  # widths differ
    with pytest.raises(ConfigError):
        generalization_gap(train, train_y, test, test_y, num_classes=2)  # label 2 out of range
    with pytest.raises(ConfigError):
        generalization_gap(train, train_y, test, test_y, num_classes=3, train_pred=train_y)  # one side only
    with pytest.raises(ConfigError):
        generalization_gap(train, train_y, test, test_y, num_classes=3, train_pred=train_y, test_pred=test_y[:1])
    with pytest.raises(ConfigError):
        gap_closure(train, train_y, pts(np.nan), [0], test, test_y, num_classes=3)
    with pytest.raises(ConfigError):
        synthetic_enemy_share(train, train_y, pts(1, 2), [0])


# real class 0 at x=0, class 1 at x=10 (two copies each so nothing is a lone point)
REAL = pts(0, 0, 10, 10)
REAL_Y = np.array([0, 0, 1, 1])
TEST = pts(0.5, 6, 9, 4)
TEST_Y = np.array([0, 0, 1, 1])


def test_gap_closure_before_and_after():
    empty = np.empty((0, 2), np.float32)
    before = gap_closure(REAL, REAL_Y, empty, np.empty(0, np.int64), TEST, TEST_Y, num_classes=3)
    # test0 at 0.5 -> 0 (ok), at 6 -> 10 (wrong); test1 at 9 -> 10 (ok), at 4 -> 0 (wrong)
    assert before[:2] == pytest.approx([0.5, 0.5])
    assert math.isnan(before[2])  # no test sample of class 2
    # A synthetic class-0 point at 6.5 captures the class-0 test point at 6; the class-1 test point
    # at 4 stays wrong (6.5 is class 0 too) and the one at 9 stays right (10 is nearer than 6.5).
    after = gap_closure(REAL, REAL_Y, pts(6.5), [0], TEST, TEST_Y, num_classes=3)
    assert after[:2] == pytest.approx([1.0, 0.5])
    # Any empty array shape is accepted for "no synthetic points".
    same = gap_closure(REAL, REAL_Y, [], [], TEST, TEST_Y, num_classes=3)
    np.testing.assert_array_equal(same, before)


def test_synthetic_enemy_share():
    synth = pts(6.5, 2, 8)       # nearest real: 10 (class 1), 0 (class 0), 10 (class 1)
    synth_y = np.array([0, 0, 1])  # enemy, friend, friend
    assert synthetic_enemy_share(REAL, REAL_Y, synth, synth_y) == pytest.approx(1 / 3)
    per_class = synthetic_enemy_share_per_class(REAL, REAL_Y, synth, synth_y, num_classes=3)
    assert per_class[:2] == pytest.approx([0.5, 0.0])
    assert math.isnan(per_class[2])
    assert math.isnan(synthetic_enemy_share(REAL, REAL_Y, np.empty((0, 2)), np.empty(0, np.int64)))


def test_snapshot_subsample_keeps_every_class():
    y = np.repeat(np.arange(5), [1000, 300, 50, 5, 1])
    idx = snapshot_subsample(y, 200, seed=0)
    counts = np.bincount(y[idx], minlength=5)
    assert len(idx) == 200
    assert counts[2:].tolist() == [50, 5, 1]      # small classes kept whole
    assert counts[0] >= counts[1] >= 50           # large classes cut to the common level
    assert np.all(np.diff(idx) > 0) and idx.dtype == np.int64
    np.testing.assert_array_equal(idx, snapshot_subsample(y, 200, seed=0))
    assert not np.array_equal(idx, snapshot_subsample(y, 200, seed=1))


def test_snapshot_subsample_edge_cases():
    y = np.array([0, 0, 1, 1, 2])
    np.testing.assert_array_equal(snapshot_subsample(y, 10, seed=0), np.arange(5))
    idx = snapshot_subsample(np.repeat(np.arange(4), 10), 2, seed=0)  # budget below class count
    assert len(idx) == 4 and len(np.unique(np.repeat(np.arange(4), 10)[idx])) == 4
    with pytest.raises(ConfigError):
        snapshot_subsample(y, 0, seed=0)


def test_fast_enough_shape_on_1000_points():
    """Not timed; checks the per-epoch snapshot use case runs and fills every class."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 2000)
    emb = (rng.normal(size=(2000, 64)) + y[:, None]).astype(np.float32)
    r = generalization_gap(emb[:1000], y[:1000], emb[1000:], y[1000:], num_classes=10)
    assert np.isfinite(r.spread_ratio).all() and np.isfinite(r.distance_gap).all()
