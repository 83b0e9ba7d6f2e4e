"""Generalization-gap measures on hand-made embeddings whose answers are computed by hand."""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import pytest
import scipy.stats
from points import pts

from eos_core.data import per_class_cap, snapshot_subsample
from eos_core.errors import Cancelled, ConfigError
from eos_core.gap import (
    SYNTHETIC_QUALITY_KEYS,
    closure_measures,
    distance_floor,
    enemy_distances,
    generalization_gap,
    knn,
    nn1_recall,
    observed_measures,
    pool_measures,
    spearman_rho,
    synthetic_enemy_share,
    synthetic_enemy_share_per_class,
    synthetic_quality,
)
from eos_core.names import GAP_MEASURES


@pytest.fixture()
def line_case():
    """Class 0 on y=0: train x=0,1,2; test x=-2,4.  Class 1 on y=100: train x=100,103; test x=101.5.
    Class 2: a single train point, no test point."""
    train = np.concatenate([pts(0, 1, 2), pts(100, 103, y=100), pts(50, y=50)])
    train_y = np.array([0, 0, 0, 1, 1, 2])
    test = np.concatenate([pts(-2, 4), pts(101.5, y=100)])
    test_y = np.array([0, 0, 1])
    return train, train_y, test, test_y


def test_measures_by_hand(line_case):
    r = generalization_gap(*line_case, num_classes=3, permutations=0)
    # class 0 (train 0,1,2; test -2,4): leave-one-out centroids 1.5, 1, 0.5.
    #   train distances to them: 1.5, 0, 1.5 -> floored at 0.1 % of the class spread for the log.
    # nn: train LOO NN distances 1,1,1; test -2: d1=2, d2=3; test 4: d1=2, d2=3
    #   -> mean log = (2 log 2 + log 3)/3 for both -> ratio = 2^(2/3) 3^(1/3)
    assert r.nn_ratio[0] == pytest.approx(2 ** (2 / 3) * 3 ** (1 / 3), rel=1e-5)
    # class 1 (train 100,103; test 101.5): LOO NN 3,3; test d1 = d2 = 1.5 -> 0.5
    assert r.nn_ratio[1] == pytest.approx(0.5, rel=1e-5)
    # centroid, class 1: LOO centroids are the other point: train 3, 3; test 1.5 to both -> 0.5
    assert r.centroid_ratio[1] == pytest.approx(0.5, rel=1e-5)
    assert math.isnan(r.nn_ratio[2]) and math.isnan(r.centroid_ratio[2])  # one train point, no test point
    # the old names (biased measures) are gone, so nothing can read them by mistake
    with pytest.raises(AttributeError):
        r.spread_ratio  # noqa: B018


def test_nn1_recall_gap_by_hand():
    # class 0 train at 0, 1; class 1 train at 10, 11; class-0 test points at 0.4 and 9.4
    train, train_y = pts(0, 1, 10, 11), np.array([0, 0, 1, 1])
    test, test_y = pts(0.4, 9.4), np.array([0, 0])
    r = generalization_gap(train, train_y, test, test_y, num_classes=2, permutations=0)
    # train LOO 1-NN: 0 -> 1 (right), 1 -> 0 (right): 1.0.  Test 0.4: nearest 0 (class 0), second 1
    # (class 0) -> right whichever class-0 point is left out: 1.  Test 9.4: nearest 10 -> 0.
    assert r.nn1_recall_gap[0] == pytest.approx(1.0 - 0.5)
    assert math.isnan(r.nn1_recall_gap[1])  # no test point of class 1


def test_head_recall_gap(line_case):
    train, train_y, test, test_y = line_case
    train_pred = np.array([0, 0, 0, 1, 1, 2])   # train recall 1, 1, 1
    test_pred = np.array([0, 1, 1])             # test recall 0.5, 1
    r = generalization_gap(train, train_y, test, test_y, num_classes=3, train_pred=train_pred, test_pred=test_pred,
                           permutations=0)
    assert r.head_recall_gap[:2] == pytest.approx([0.5, 0.0])
    assert math.isnan(r.head_recall_gap[2])  # no test sample
    assert np.isnan(generalization_gap(*line_case, num_classes=3, permutations=0).head_recall_gap).all()


def test_counts_and_classes(line_case):
    r = generalization_gap(*line_case, num_classes=4, permutations=0)
    assert r.classes.tolist() == [0, 1, 2, 3]
    assert r.train_count.tolist() == [3, 2, 1, 0]
    assert r.test_count.tolist() == [2, 1, 0, 0]
    assert all(np.isnan(r.values[m][3]) for m in GAP_MEASURES)


def test_pool_path_equals_observed_path():
    """The permutation test's vectorised measures equal the reported ones on the observed split."""
    rng = np.random.default_rng(3)
    y_tr, y_te = np.repeat([0, 1], [12, 30]), np.repeat([0, 1], [9, 9])
    x_tr = (rng.normal(size=(42, 8)) + y_tr[:, None]).astype(np.float32)
    x_te = (rng.normal(size=(18, 8)) * 1.3 + y_te[:, None]).astype(np.float32)
    obs = observed_measures(x_tr, y_tr, x_te, y_te, 2)
    pool = np.concatenate([x_tr[y_tr == 0], x_te[y_te == 0]])
    enemy = knn(x_tr[y_tr == 1], pool, 1)[0][:, 0].astype(np.float64)
    got = pool_measures(pool, np.arange(12)[None, :], enemy, distance_floor(pool))[0]
    assert math.exp(got[0]) == pytest.approx(obs["centroid_ratio"][0], rel=1e-4)
    assert math.exp(got[1]) == pytest.approx(obs["nn_ratio"][0], rel=1e-4)
    assert got[2] == pytest.approx(obs["nn1_recall_gap"][0], abs=1e-9)


def test_spearman_sign_smaller_class_wider_gap():
    rng = np.random.default_rng(0)
    sizes = [60, 30, 15, 8, 4]
    test_scale = [1.0, 1.2, 1.5, 2.0, 3.0]  # the smaller the class, the wider its test points
    y_tr, y_te = np.repeat(np.arange(5), sizes), np.repeat(np.arange(5), 30)
    x_tr = rng.normal(size=(len(y_tr), 8)) + 50 * y_tr[:, None]
    x_te = rng.normal(size=(len(y_te), 8)) * np.array(test_scale)[y_te][:, None] + 50 * y_te[:, None]
    r = generalization_gap(x_tr, y_tr, x_te, y_te, num_classes=5, permutations=99)
    assert r.size_gap_spearman["centroid_ratio"] == pytest.approx(-1.0)
    assert r.size_gap_spearman_p["centroid_ratio"] < 0.05
    assert set(r.size_gap_spearman) == set(GAP_MEASURES)


def test_spearman_none_when_sizes_constant_or_too_few():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(15, 4)) + np.repeat(np.arange(3), 5)[:, None] * 10
    t = rng.normal(size=(6, 4)) + np.repeat(np.arange(3), 2)[:, None] * 10
    r = generalization_gap(x, np.repeat(np.arange(3), 5), t, np.repeat(np.arange(3), 2), num_classes=3,
                           permutations=20)
    assert r.size_gap_spearman["nn_ratio"] is None and r.size_gap_spearman_p["nn_ratio"] is None  # equal sizes
    r2 = generalization_gap(x[:10], np.repeat([0, 1], 5), t[:4], np.repeat([0, 1], 2), num_classes=2, permutations=0)
    assert r2.size_gap_spearman == {m: None for m in GAP_MEASURES}  # two classes only


def test_spearman_rho_is_scipys():
    x = np.array([1.0, 2, 3, 4])
    assert spearman_rho(x, np.array([4.0, 3, 2, 1])) == pytest.approx(-1.0)
    cols = spearman_rho(x, np.array([[1.0, 4], [2, 3], [3, 2], [4, 1]]))
    assert cols.tolist() == pytest.approx([1.0, -1.0])
    assert math.isnan(spearman_rho(x, np.ones(4)))
    # ties (average ranks) and many columns at once, as the permutation test asks
    rng = np.random.default_rng(0)
    sizes, gaps = rng.integers(0, 4, 9).astype(float), rng.integers(0, 3, (9, 50)).astype(float)
    want = [scipy.stats.spearmanr(sizes, gaps[:, j]).statistic for j in range(50)]
    assert spearman_rho(sizes, gaps).tolist() == pytest.approx(want, abs=1e-12)


def test_pool_measures_same_sets_same_bits():
    # The p-value counts a reshuffle with the observed sets as a tie: the order the rows come in
    # must not change a single bit of the float32 arithmetic.
    rng = np.random.default_rng(1)
    pool = rng.normal(size=(11, 5)).astype(np.float32)
    enemy = rng.uniform(1, 3, 11)
    got = pool_measures(pool, np.array([[0, 1, 2, 3], [3, 1, 0, 2], [2, 3, 1, 0]]), enemy, distance_floor(pool))
    assert (got[1:] == got[0]).all()


@pytest.mark.parametrize("k", [1, 2, 3])
def test_knn_is_brute_force(k):
    rng = np.random.default_rng(k)
    base, query = rng.normal(size=(30, 4)).astype(np.float32), rng.normal(size=(7, 4)).astype(np.float32)
    for q, loo in ((query, False), (None, True)):
        qq = base if q is None else q
        d = np.linalg.norm(qq[:, None].astype(np.float64) - base[None].astype(np.float64), axis=2)
        if loo:
            np.fill_diagonal(d, np.inf)
        dist, idx = knn(base, q, k)
        assert idx.tolist() == np.argsort(d, axis=1)[:, :k].tolist()
        assert dist == pytest.approx(np.sort(d, axis=1)[:, :k], rel=1e-5)


def test_enemy_distances_far_from_origin():
    # Classes 1000 apart from the origin, 1 apart from each other: centring each class keeps the
    # float32 squared distances exact to rounding (uncentred, |x|^2 ~ 1e7 would swamp them).
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1, 2], [5, 6, 4])
    x = (rng.normal(size=(15, 3)) * 0.3 + y[:, None] + 1000.0).astype(np.float32)
    pts_, cls = (rng.normal(size=(8, 3)) * 0.3 + 1001.0).astype(np.float32), np.array([0, 1, 2, 0, 1, 2, 0, 1])
    d = np.linalg.norm(pts_[:, None].astype(np.float64) - x[None].astype(np.float64), axis=2)
    d[cls[:, None] == y[None, :]] = np.inf
    assert enemy_distances(x, y, pts_, cls, 3) == pytest.approx(d.min(axis=1), rel=1e-4)
    # no other class: inf
    assert np.isinf(enemy_distances(x[y == 0], y[y == 0], pts_[:2], np.array([0, 0]), 3)).all()


def test_to_dict_and_snapshot_are_json(line_case):
    r = generalization_gap(*line_case, num_classes=3, permutations=10)
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    row = d["per_class"][1]
    for m in GAP_MEASURES:
        assert {m, f"{m}_p5", f"{m}_p95", f"{m}_p"} <= set(row)
    assert not {"spread_ratio", "distance_gap", "accuracy_gap"} & set(row)
    assert row["perm_train_count"] == 2 and row["perm_test_count"] == 1
    assert d["per_class"][2]["nn_ratio"] is None and d["per_class"][2]["nn_ratio_p"] is None
    assert set(d["size_gap_spearman_p"]) >= set(GAP_MEASURES) and d["null"]["permutations"] == 10
    snap = r.snapshot()
    json.dumps(snap, allow_nan=False)
    assert set(snap) == set(GAP_MEASURES)
    assert len(snap["nn_ratio"]) == 3


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
        generalization_gap(train, train_y, test, test_y, num_classes=3, permutations=-1)
    with pytest.raises(ConfigError):
        nn1_recall(train, train_y, pts(np.nan), [0], test, test_y, num_classes=3)
    with pytest.raises(ConfigError):
        synthetic_enemy_share(train, train_y, pts(1, 2), [0])


def test_cancel_stops_the_permutation_test(line_case):
    ev = threading.Event()
    ev.set()
    with pytest.raises(Cancelled):
        generalization_gap(*line_case, num_classes=3, cancel=ev)


# real class 0 at x=0, class 1 at x=10 (two copies each so nothing is a lone point)
REAL = pts(0, 0, 10, 10)
REAL_Y = np.array([0, 0, 1, 1])
TEST = pts(0.5, 6, 9, 4)
TEST_Y = np.array([0, 0, 1, 1])


def test_gap_closure_before_and_after():
    empty = np.empty((0, 2), np.float32)
    before = nn1_recall(REAL, REAL_Y, empty, np.empty(0, np.int64), TEST, TEST_Y, num_classes=3)
    # test0 at 0.5 -> 0 (ok), at 6 -> 10 (wrong); test1 at 9 -> 10 (ok), at 4 -> 0 (wrong)
    assert before[:2] == pytest.approx([0.5, 0.5])
    assert math.isnan(before[2])  # no test sample of class 2
    # A synthetic class-0 point at 6.5 captures the class-0 test point at 6; the class-1 test point
    # at 4 stays wrong (6.5 is class 0 too) and the one at 9 stays right (10 is nearer than 6.5).
    after = nn1_recall(REAL, REAL_Y, pts(6.5), [0], TEST, TEST_Y, num_classes=3)
    assert after[:2] == pytest.approx([1.0, 0.5])
    # Any empty array shape is accepted for "no synthetic points".
    same = nn1_recall(REAL, REAL_Y, [], [], TEST, TEST_Y, num_classes=3)
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


def test_per_class_cap_keeps_at_most_cap_of_each_class():
    y = np.repeat(np.arange(3), [500, 40, 3])
    idx = per_class_cap(y, 100, seed=0)
    assert np.bincount(y[idx], minlength=3).tolist() == [100, 40, 3]
    np.testing.assert_array_equal(per_class_cap(y, 1000, seed=0), np.arange(len(y)))


def test_snapshot_shape_on_1000_points():
    """The per-epoch snapshot use case (no permutations) fills every class."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 2000)
    emb = (rng.normal(size=(2000, 64)) + y[:, None]).astype(np.float32)
    r = generalization_gap(emb[:1000], y[:1000], emb[1000:], y[1000:], num_classes=10, permutations=0)
    assert all(np.isfinite(r.values[m]).all() for m in GAP_MEASURES)
    assert all(np.isnan(r.p_value[m]).all() for m in GAP_MEASURES)


def test_closure_measures_by_hand():
    # class 0 train at 0, 1 (LOO NN 1, 1); test at 3: d1 = 2, d2 = 3 -> log gap = (log 2 + log 3)/2 > 0
    real, real_y = pts(0, 1, 50, 51), np.array([0, 0, 1, 1])
    test, test_y = pts(3, 52), np.array([0, 1])
    gap0 = (math.log(2) + math.log(3)) / 2
    # a synthetic class-0 point at 2.5: nearest distance 2 -> 0.5, closes log(2/0.5) of the gap
    out = closure_measures(real, real_y, pts(2.5), [0], test, test_y, num_classes=3)
    assert out["nn_gap_closed"][0] == pytest.approx(math.log(4) / gap0, rel=1e-5)
    # class 1: test 52 -> d1 = 1, d2 = 2 vs LOO 1 -> log gap (0 + log 2)/2 > 0, nothing added -> 0
    assert out["nn_gap_closed"][1] == pytest.approx(0.0)
    assert math.isnan(out["nn_gap_closed"][2]) and out["nn_gap_closed_note"][2] == "fewer than 2 training points"
    assert out["nn1_recall_change"][:2].tolist() == [0.0, 0.0]  # 3 was already nearest to class 0


def test_ros_copies_close_nothing():
    rng = np.random.default_rng(1)
    real_y = np.repeat([0, 1], [40, 6])
    real = (rng.normal(size=(46, 8)) + 3 * real_y[:, None]).astype(np.float32)
    test_y = np.repeat([0, 1], 20)
    test = (rng.normal(size=(40, 8)) * 1.5 + 3 * test_y[:, None]).astype(np.float32)
    copies = real[rng.choice(np.flatnonzero(real_y == 1), 34)]
    out = closure_measures(real, real_y, copies, np.ones(34, np.int64), test, test_y, num_classes=2)
    assert out["nn_gap_closed"][1] == pytest.approx(0.0, abs=1e-5)
    assert out["nn1_recall_change"].tolist() == [0.0, 0.0]


def test_no_gap_to_close_is_nan_with_a_reason():
    real, real_y = pts(0, 1), np.array([0, 0])
    out = closure_measures(real, real_y, pts(0.5), [0], pts(0.5), [0], num_classes=1)
    assert math.isnan(out["nn_gap_closed"][0]) and "no gap to close" in out["nn_gap_closed_note"][0]


def test_synthetic_quality_gathers_closure_enemy_and_partner_shares():
    synth = pts(6.5, 2, 8)         # nearest real: 10 (class 1), 0 (class 0), 10 (class 1)
    synth_y = np.array([0, 0, 1])  # enemy, friend, friend
    # rows of REAL: partner == base (self), an enemy row, a same-class row
    prov = {"base": np.array([0, 0, 1]), "partner": np.array([0, 2, 0])}
    out = synthetic_quality(REAL, REAL_Y, synth, synth_y, TEST, TEST_Y, num_classes=3, provenance=prov)
    assert set(out) == set(SYNTHETIC_QUALITY_KEYS)
    closure = closure_measures(REAL, REAL_Y, synth, synth_y, TEST, TEST_Y, num_classes=3)
    for key in ("nn_gap_closed", "nn1_recall", "nn1_recall_change"):
        np.testing.assert_array_equal(out[key], closure[key])
    assert out["nn_gap_closed_note"] == closure["nn_gap_closed_note"]
    assert out["enemy_share"] == pytest.approx(1 / 3)
    assert out["partner_share"] == pytest.approx({"enemy": 1 / 3, "self": 1 / 3, "same_class": 1 / 3})
    # no synthetic point and no provenance: both shares are None (not NaN), as methods.json stores them
    none = synthetic_quality(REAL, REAL_Y, np.empty((0, 2), np.float32), np.empty(0, np.int64), TEST, TEST_Y,
                             num_classes=3)
    assert none["enemy_share"] is None and none["partner_share"] is None
    assert none["nn1_recall_change"][:2].tolist() == [0.0, 0.0]
