"""FaissNearestNeighbors against scikit-learn's exact search, and nearest_enemies against brute force."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.neighbors import NearestNeighbors

from eos_core.errors import ConfigError
from eos_core.neighbors import FaissNearestNeighbors, nearest_enemies


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(42)
    X = rng.normal(size=(300, 12)).astype(np.float32)
    Q = rng.normal(size=(40, 12)).astype(np.float32)
    y = rng.integers(0, 4, size=300)
    return X, Q, y


def _sk(X, k):
    return NearestNeighbors(n_neighbors=k, algorithm="brute").fit(X.astype(np.float64))


@pytest.mark.parametrize("k", [1, 7])
def test_kneighbors_matches_sklearn_on_fit_points(data, k):
    X, _, _ = data
    d, i = FaissNearestNeighbors(n_neighbors=k, device="cpu").fit(X).kneighbors()
    d_ref, i_ref = _sk(X, k).kneighbors()
    assert i.shape == (len(X), k) and i.dtype == np.int64
    np.testing.assert_array_equal(i, i_ref)
    np.testing.assert_allclose(d, d_ref, rtol=1e-4, atol=1e-4)
    # X=None must exclude each point itself.
    assert not (i == np.arange(len(X))[:, None]).any()


def test_kneighbors_matches_sklearn_on_new_queries(data):
    X, Q, _ = data
    nn = FaissNearestNeighbors(n_neighbors=5).fit(X)
    d, i = nn.kneighbors(Q)
    d_ref, i_ref = _sk(X, 5).kneighbors(Q.astype(np.float64))
    np.testing.assert_array_equal(i, i_ref)
    np.testing.assert_allclose(d, d_ref, rtol=1e-4, atol=1e-4)
    # n_neighbors overrides the constructor value; return_distance=False returns indices only.
    i3 = nn.kneighbors(Q, n_neighbors=3, return_distance=False)
    np.testing.assert_array_equal(i3, i_ref[:, :3])


def test_kneighbors_of_fit_points_as_queries_include_themselves(data):
    X, _, _ = data
    i = FaissNearestNeighbors(n_neighbors=2).fit(X).kneighbors(X, return_distance=False)
    np.testing.assert_array_equal(i[:, 0], np.arange(len(X)))


def test_duplicates_drop_self_like_sklearn():
    # Exact duplicates: the point itself may not come first; it must still be the one removed.
    rng = np.random.default_rng(1)
    base = rng.normal(size=(20, 4)).astype(np.float32)
    X = np.concatenate([base, base[:5]])
    i = FaissNearestNeighbors(n_neighbors=3).fit(X).kneighbors(return_distance=False)
    assert not (i == np.arange(len(X))[:, None]).any()
    for a in range(5):  # each duplicated point's nearest other point is its twin
        assert i[a, 0] == 20 + a and i[20 + a, 0] == a


@pytest.mark.parametrize("mode", ["connectivity", "distance"])
@pytest.mark.parametrize("query", [False, True])
def test_kneighbors_graph_matches_sklearn(data, mode, query):
    X, Q, _ = data
    q = Q if query else None
    g = FaissNearestNeighbors(n_neighbors=4).fit(X).kneighbors_graph(q, mode=mode)
    g_ref = _sk(X, 4).kneighbors_graph(None if q is None else q.astype(np.float64), mode=mode)
    assert g.format == "csr" and g.shape == g_ref.shape
    np.testing.assert_array_equal(g.indices, g_ref.indices)
    np.testing.assert_array_equal(g.indptr, g_ref.indptr)
    np.testing.assert_allclose(g.toarray(), g_ref.toarray(), rtol=1e-4, atol=1e-4)


def test_clone_and_pickle(data):
    X, Q, _ = data
    nn = FaissNearestNeighbors(n_neighbors=6, device="cpu")
    c = clone(nn)
    assert c is not nn and c.get_params() == {"n_neighbors": 6, "device": "cpu"}
    assert not hasattr(c, "index_")
    nn.fit(X)
    c2 = clone(nn)  # cloning a fitted estimator gives an unfitted copy
    assert not hasattr(c2, "index_")
    restored = pickle.loads(pickle.dumps(nn))
    np.testing.assert_array_equal(restored.kneighbors(Q)[1], nn.kneighbors(Q)[1])


def test_float64_and_list_input_are_converted(data):
    X, Q, _ = data
    i64 = FaissNearestNeighbors(3).fit(X.astype(np.float64)).kneighbors(Q.astype(np.float64))[1]
    i_list = FaissNearestNeighbors(3).fit(X.tolist()).kneighbors(Q.tolist())[1]
    np.testing.assert_array_equal(i64, i_list)


def test_errors(data):
    X, Q, _ = data
    nn = FaissNearestNeighbors(n_neighbors=3).fit(X[:5])
    with pytest.raises(ConfigError, match="only 5 points"):
        nn.kneighbors(n_neighbors=5)  # self excluded: at most 4
    with pytest.raises(ConfigError, match="only 5 points"):
        nn.kneighbors(Q, n_neighbors=6)
    with pytest.raises(ConfigError, match="features"):
        nn.kneighbors(Q[:, :3])
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ConfigError, match="NaN or infinite"):
        FaissNearestNeighbors().fit(bad)
    bad[3, 2] = np.inf
    with pytest.raises(ConfigError, match="NaN or infinite"):
        nn.kneighbors(bad[:, :12])
    with pytest.raises(ConfigError, match="positive integer"):
        FaissNearestNeighbors(n_neighbors=0).fit(X)
    with pytest.raises(ConfigError, match="Unknown neighbour-search device"):
        FaissNearestNeighbors(device="tpu").fit(X)


def _brute_enemies(X, y, k):
    D = ((X[:, None, :].astype(np.float64) - X[None, :, :]) ** 2).sum(-1)
    D[y[:, None] == y[None, :]] = np.inf
    idx = np.argsort(D, axis=1, kind="stable")[:, :k]
    return idx, np.sqrt(np.take_along_axis(D, idx, axis=1))


def test_nearest_enemies_matches_brute_force(data):
    X, _, y = data
    idx, dist = nearest_enemies(X, y, 6)
    assert idx.shape == dist.shape == (len(X), 6) and idx.dtype == np.int64
    assert (y[idx] != y[:, None]).all()
    ref_idx, ref_dist = _brute_enemies(X, y, 6)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-4, atol=1e-4)


def test_nearest_enemies_only_class(data):
    X, _, y = data
    full, _ = nearest_enemies(X, y, 4)
    part, _ = nearest_enemies(X, y, 4, only_class=2)
    np.testing.assert_array_equal(part, full[y == 2])


def test_nearest_enemies_errors(data):
    X, _, y = data
    with pytest.raises(ConfigError, match="at least two classes"):
        nearest_enemies(X, np.zeros(len(X), int), 3)
    y2 = np.zeros(len(X), int)
    y2[:2] = 1  # class 0 has only 2 enemies
    with pytest.raises(ConfigError, match="only 2 points of other classes"):
        nearest_enemies(X, y2, 3)


def test_search_thread_choice(monkeypatch, data):
    import faiss

    from eos_core.neighbors import _faiss as nb

    X, Q, _ = data
    monkeypatch.delenv("EOS_FAISS_THREADS", raising=False)
    assert nb._search_threads(1e6) is None  # small searches keep faiss's default
    chosen = nb._search_threads(1e12)
    assert chosen is None or 1 <= chosen <= faiss.omp_get_max_threads()
    monkeypatch.setenv("EOS_FAISS_THREADS", "1")
    assert nb._search_threads(1e6) == 1
    before = faiss.omp_get_max_threads()
    i = FaissNearestNeighbors(n_neighbors=3).fit(X).kneighbors(Q, return_distance=False)
    assert faiss.omp_get_max_threads() == before  # restored after the search
    np.testing.assert_array_equal(i, _sk(X, 3).kneighbors(Q.astype(np.float64), return_distance=False))
