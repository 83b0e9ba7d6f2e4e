"""EOS (the method, exactly), the imbalanced-learn samplers on faiss, and resample's edge cases."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from imblearn.over_sampling import ADASYN, SMOTE, BorderlineSMOTE
from imblearn.pipeline import make_pipeline
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestNeighbors

from eos_core.errors import ConfigError
from eos_core.neighbors import FaissNearestNeighbors
from eos_core.oversampling._resample import EOS, METHODS, make_sampler, resample

K = 5
COUNTS = [120, 60, 25, 8]


@pytest.fixture(scope="module")
def data():
    # Four overlapping Gaussian classes, long-tailed.
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(len(COUNTS)), COUNTS)
    centers = rng.normal(scale=1.5, size=(len(COUNTS), 6))
    X = (centers[y] + rng.normal(size=(len(y), 6))).astype(np.float32)
    perm = rng.permutation(len(y))  # classes interleaved, as real data is
    return X[perm], y[perm]


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    eos = EOS(k_neighbors=K, random_state=3)
    X_res, y_res = eos.fit_resample(X, y)
    return eos, X_res, y_res


def test_partners_are_enemies_within_the_k_neighbourhood(data, fitted):
    X, y = data
    eos, _, _ = fitted
    base, partner = eos.provenance_["base"], eos.provenance_["partner"]
    assert base.dtype == partner.dtype == np.int64
    assert (y[partner] != y[base]).all()
    # Reference neighbourhoods from scikit-learn on the same data (self excluded).
    nbrs = NearestNeighbors(n_neighbors=K).fit(X).kneighbors(return_distance=False)
    assert all(p in nbrs[b] for b, p in zip(base, partner, strict=True))
    # Every base is a candidate: it has at least one enemy among its k neighbours.
    assert ((y[nbrs[base]] != y[base][:, None]).any(axis=1)).all()


def test_synthetic_rows_are_the_interpolations(data, fitted):
    X, y = data
    eos, X_res, y_res = fitted
    p = eos.provenance_
    n = len(X)
    assert X_res.dtype == np.float32 and p["r"].dtype == np.float32
    assert ((p["r"] >= 0) & (p["r"] < 1)).all()
    assert len(p["base"]) == len(p["partner"]) == len(p["r"]) == len(X_res) - n
    expected = X[p["base"]] + p["r"][:, None] * (X[p["partner"]] - X[p["base"]])
    np.testing.assert_allclose(X_res[n:], expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(y_res[n:], y[p["base"]])
    np.testing.assert_array_equal(X_res[:n], X)
    np.testing.assert_array_equal(y_res[:n], y)


def test_partner_choice_is_uniform_over_enemies(data):
    # One base with several enemies: over many draws every enemy in its neighbourhood is used.
    X, y = data
    eos = EOS(k_neighbors=K, random_state=0, sampling_strategy={3: 8 + 4000}).fit(X, y)
    eos.fit_resample(X, y)
    nbrs = NearestNeighbors(n_neighbors=K).fit(X).kneighbors(return_distance=False)
    base, partner = eos.provenance_["base"], eos.provenance_["partner"]
    for b in np.unique(base):
        enemies = set(nbrs[b][y[nbrs[b]] != y[b]].tolist())
        assert set(partner[base == b].tolist()) == enemies


@pytest.mark.parametrize(
    "strategy, expected",
    [
        ("auto", [120, 120, 120, 120]),
        ("not majority", [120, 120, 120, 120]),
        ("minority", [120, 60, 25, 120]),
        ("all", [120, 120, 120, 120]),
        ({1: 70, 3: 30}, [120, 70, 25, 30]),
    ],
)
def test_class_counts_for_sampling_strategies(data, strategy, expected):
    X, y = data
    _, y_res = EOS(k_neighbors=K, random_state=0, sampling_strategy=strategy).fit_resample(X, y)
    np.testing.assert_array_equal(np.bincount(y_res), expected)


def test_deterministic_for_a_seed(data):
    X, y = data
    a = EOS(k_neighbors=K, random_state=7).fit_resample(X, y)[0]
    b = EOS(k_neighbors=K, random_state=7).fit_resample(X, y)[0]
    c = EOS(k_neighbors=K, random_state=8).fit_resample(X, y)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_float64_input_gives_float64_output(data):
    X, y = data
    X64 = X.astype(np.float64)
    eos = EOS(k_neighbors=K, random_state=1)
    X_res, _ = eos.fit_resample(X64, y)
    p = eos.provenance_
    assert X_res.dtype == np.float64
    expected = X64[p["base"]] + p["r"][:, None].astype(np.float64) * (X64[p["partner"]] - X64[p["base"]])
    np.testing.assert_allclose(X_res[len(X):], expected, rtol=1e-12)


def test_sklearn_nn_estimator_gives_the_same_result(data):
    X, y = data
    a = EOS(k_neighbors=K, random_state=2).fit_resample(X, y)[0]
    eos = EOS(k_neighbors=K, random_state=2, nn_estimator=NearestNeighbors())
    b = eos.fit_resample(X, y)[0]
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    assert isinstance(eos.nn_, NearestNeighbors) and eos.nn_.n_neighbors == K + 1


def test_fallback_to_nearest_enemies_for_an_isolated_class():
    # Class 2 is a tight cluster far from everything: its k-neighbourhoods hold no enemy.
    rng = np.random.default_rng(5)
    X = np.concatenate([
        rng.normal(size=(60, 3)),
        rng.normal(size=(40, 3)) + 1.0,
        rng.normal(scale=0.1, size=(12, 3)) + 50.0,
    ]).astype(np.float32)
    y = np.repeat([0, 1, 2], [60, 40, 12])
    eos = EOS(k_neighbors=4, random_state=0)
    X_res, y_res = eos.fit_resample(X, y)
    assert eos.fallback_classes_ == [2] and eos.n_candidates_[2] == 0
    np.testing.assert_array_equal(np.bincount(y_res), [60, 60, 60])
    p = eos.provenance_
    iso = y[p["base"]] == 2
    # Brute-force 4 nearest enemies of every class-2 sample.
    D = ((X[:, None].astype(np.float64) - X[None]) ** 2).sum(-1)
    for b, q in zip(p["base"][iso], p["partner"][iso], strict=True):
        d = np.where(y != 2, D[b], np.inf)
        assert q in np.argsort(d)[:4]
    assert (y[p["partner"]] != y[p["base"]]).all()
    np.testing.assert_allclose(
        X_res[len(X):], X[p["base"]] + p["r"][:, None] * (X[p["partner"]] - X[p["base"]]), rtol=1e-5
    )


def test_in_imblearn_pipeline(data):
    X, y = data
    pipe = make_pipeline(EOS(k_neighbors=K, random_state=0), LogisticRegression(max_iter=500))
    pipe.fit(X, y)
    assert pipe.predict(X).shape == (len(X),)
    assert pipe.score(X, y) > 0.25  # better than chance on 4 classes; proves it trained


def test_errors(data):
    X, y = data
    with pytest.raises(ConfigError, match="smaller than the number of samples"):
        EOS(k_neighbors=len(X)).fit_resample(X, y)
    with pytest.raises(ConfigError, match="at least two classes"):
        EOS(k_neighbors=3).fit_resample(X, np.zeros(len(X), int))
    bad = X.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ConfigError, match="NaN"):
        EOS(k_neighbors=3).fit_resample(bad, y)
    with pytest.raises(ConfigError, match="at least 1"):
        EOS(k_neighbors=0).fit_resample(X, y)
    with pytest.raises(ConfigError, match="Unknown over-sampling method"):
        make_sampler("smite")


# -- the other methods ---------------------------------------------------------------------------
def test_make_sampler_types():
    assert make_sampler("none") is None and make_sampler("crt") is None
    assert type(make_sampler("ros", random_state=0)).__name__ == "RandomOverSampler"
    eos = make_sampler("eos", k_neighbors=4, random_state=0, sampling_strategy="minority")
    assert isinstance(eos, EOS) and eos.k_neighbors == 4 and eos.sampling_strategy == "minority"
    expected = {"smote": ["k_neighbors"], "bsmote": ["k_neighbors", "m_neighbors"], "adasyn": ["n_neighbors"]}
    for name, params in expected.items():
        s = make_sampler(name, k_neighbors=4, random_state=0)
        for param in params:
            nn = s.get_params()[param]
            assert isinstance(nn, FaissNearestNeighbors) and nn.n_neighbors == 5  # k + the point itself


@pytest.mark.parametrize(
    "name, reference",
    [
        ("smote", lambda k: SMOTE(k_neighbors=k, random_state=11)),
        ("bsmote", lambda k: BorderlineSMOTE(k_neighbors=k, m_neighbors=k, random_state=11)),
        ("adasyn", lambda k: ADASYN(n_neighbors=k, random_state=11)),
    ],
)
def test_faiss_wired_samplers_equal_imblearn_defaults(data, name, reference):
    # Same neighbours -> the same draws: the faiss-backed sampler reproduces imblearn bit for bit.
    X, y = data
    X_res, y_res = make_sampler(name, k_neighbors=K, random_state=11).fit_resample(X, y)
    X_ref, y_ref = reference(K).fit_resample(X, y)
    np.testing.assert_array_equal(y_res, y_ref)
    np.testing.assert_allclose(X_res, X_ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["ros", "smote", "eos", "eos_published"])
def test_resample_counts_are_exact(data, name):
    X, y = data
    X_syn, y_syn, prov = resample(name, X, y, k_neighbors=K, random_state=0)
    assert X_syn.dtype == np.float32 and y_syn.dtype == np.int64 and X_syn.shape == (len(y_syn), 6)
    np.testing.assert_array_equal(np.bincount(y_syn, minlength=4), [0, 60, 95, 112])
    # Every generating method records where each row came from, and the record rebuilds the row.
    assert {k: v.shape for k, v in prov.items()} == {"base": (len(y_syn),), "partner": (len(y_syn),),
                                                     "r": (len(y_syn),)}
    np.testing.assert_array_equal(y[prov["base"]], y_syn)
    rebuilt = X[prov["base"]] + prov["r"][:, None] * (X[prov["partner"]] - X[prov["base"]])
    np.testing.assert_allclose(rebuilt, X_syn, rtol=1e-5, atol=1e-5)
    if name == "ros":  # copies: the partner is the base itself and r is 0
        np.testing.assert_array_equal(prov["partner"], prov["base"])
        assert not prov["r"].any()


def test_resample_matches_make_sampler(data):
    X, y = data
    X_syn, y_syn, _ = resample("smote", X, y, k_neighbors=K, random_state=4)
    X_res, y_res = make_sampler("smote", k_neighbors=K, random_state=4).fit_resample(X, y)
    np.testing.assert_array_equal(X_syn, X_res[len(X):])
    np.testing.assert_array_equal(y_syn, y_res[len(X):])


def test_resample_records_provenance_for_tiny_classes():
    # A one-sample class is filled with copies; its record says so (partner == base, r == 0).
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.array([0] * 6 + [1] * 3 + [2])
    with pytest.warns(UserWarning, match="single sample"):
        X_syn, y_syn, prov = resample("smote", X, y, k_neighbors=2, random_state=0)
    single = y_syn == 2
    assert single.sum() == 5
    np.testing.assert_array_equal(prov["base"][single], [9] * 5)
    np.testing.assert_array_equal(prov["partner"][single], [9] * 5)


def test_resample_bsmote_and_adasyn_counts(data):
    X, y = data
    X_syn, y_syn, _ = resample("bsmote", X, y, k_neighbors=K, random_state=0)
    _, y_ref = BorderlineSMOTE(k_neighbors=K, m_neighbors=K, random_state=0).fit_resample(X, y)
    np.testing.assert_array_equal(np.bincount(y_syn, minlength=4), np.bincount(y_ref[len(X):], minlength=4))
    X_syn, y_syn, _ = resample("adasyn", X, y, k_neighbors=K, random_state=0)
    _, y_ref = ADASYN(n_neighbors=K, random_state=0).fit_resample(X, y)
    np.testing.assert_array_equal(np.bincount(y_syn, minlength=4), np.bincount(y_ref[len(X):], minlength=4))


@pytest.mark.parametrize("name", ["none", "crt"])
def test_resample_none_and_crt_add_nothing(name):
    X = np.zeros((4, 3), np.float32)
    X_syn, y_syn, prov = resample(name, X, [0, 0, 1, 1])
    assert X_syn.shape == (0, 3) and X_syn.dtype == np.float32 and y_syn.dtype == np.int64 and prov is None


@pytest.fixture(scope="module")
def tiny():
    # Class 2 has two samples, class 3 a single one.
    rng = np.random.default_rng(9)
    y = np.repeat([0, 1, 2, 3], [40, 20, 2, 1])
    X = (rng.normal(size=(len(y), 4)) + y[:, None] * 0.7).astype(np.float32)
    return X, y


@pytest.mark.parametrize("name", METHODS)
def test_resample_tiny_classes(tiny, name):
    X, y = tiny
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X_syn, y_syn, _ = resample(name, X, y, k_neighbors=10, random_state=0)
    assert X_syn.dtype == np.float32 and y_syn.dtype == np.int64 and X_syn.shape == (len(y_syn), 4)
    counts = np.bincount(y_syn, minlength=4)
    if name in ("ros", "smote", "eos", "eos_published"):
        np.testing.assert_array_equal(counts, [0, 20, 38, 39])
    if name in ("none", "crt"):
        assert len(y_syn) == 0
    if name in ("smote", "bsmote", "adasyn"):
        assert any("single sample" in str(w.message) for w in caught)
        # The singleton is filled with copies of itself.
        np.testing.assert_array_equal(X_syn[y_syn == 3], np.repeat(X[y == 3], counts[3], axis=0))
    if name == "smote":
        # The 2-sample class can only interpolate between its two points (k reduced to 1).
        a, b = X[y == 2]
        t = (X_syn[y_syn == 2] - a) @ (b - a) / ((b - a) @ (b - a))
        np.testing.assert_allclose(X_syn[y_syn == 2], a + t[:, None] * (b - a), atol=1e-5)


def test_resample_adasyn_class_without_enemies_gets_nothing():
    # Class 2 is isolated: ADASYN cannot weight it and would raise; resample warns and skips it.
    rng = np.random.default_rng(2)
    X = np.concatenate([
        rng.normal(size=(50, 3)), rng.normal(size=(20, 3)) + 0.5, rng.normal(scale=0.1, size=(10, 3)) + 40,
    ]).astype(np.float32)
    y = np.repeat([0, 1, 2], [50, 20, 10])
    with pytest.warns(UserWarning, match="ADASYN generated no samples for class 2"):
        _, y_syn, _ = resample("adasyn", X, y, k_neighbors=5, random_state=0)
    counts = np.bincount(y_syn, minlength=3)
    assert counts[2] == 0 and counts[1] > 0


def test_resample_errors(tiny):
    X, y = tiny
    with pytest.raises(ConfigError, match="Unknown over-sampling method"):
        resample("nope", X, y)
    with pytest.raises(ConfigError, match="at least two classes"):
        resample("smote", X, np.zeros(len(X), int))
    bad = X.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ConfigError, match="NaN or infinite"):
        resample("ros", bad, y)
    with pytest.raises(ConfigError, match="at least 1"):
        resample("smote", X, y, k_neighbors=0)

