"""TorchNearestNeighbors (run on CPU here) against faiss and scikit-learn, and the backend chooser."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.neighbors import NearestNeighbors

from eos_core.errors import ConfigError
from eos_core.neighbors import (
    FaissNearestNeighbors,
    TorchNearestNeighbors,
    knn_search,
    make_nn_estimator,
    nearest_enemies,
    nn_backend,
)
from eos_core.neighbors import _factory as nbs


def _data(seed: int, n: int, d: int, n_dup: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    if n_dup:  # exact duplicates, some of them three times
        X = np.concatenate([X, X[:n_dup], X[: n_dup // 2]])
    return X, rng.normal(size=(37, d)).astype(np.float32)


def _same_up_to_ties(i_a, d_a, i_b, d_b, rtol=1e-5):
    """Equal index rows, except where swapped neighbours are at (float32-)equal distances."""
    np.testing.assert_allclose(d_a, d_b, rtol=rtol, atol=1e-6)
    differ = i_a != i_b
    if differ.any():
        # A differing column must sit inside a run of equal distances of that row.
        np.testing.assert_allclose(d_a[differ], d_b[differ], rtol=rtol, atol=1e-6)
        for r in np.flatnonzero(differ.any(1)):
            assert set(i_a[r]) ^ set(i_b[r]) <= set(i_a[r][np.isclose(d_a[r], d_a[r][-1], rtol=rtol)]) | set(
                i_b[r][np.isclose(d_b[r], d_b[r][-1], rtol=rtol)])


@pytest.mark.parametrize(("seed", "n", "d", "n_dup", "k"), [
    (0, 300, 12, 0, 1), (1, 500, 64, 0, 7), (2, 200, 5, 40, 4), (3, 120, 512, 10, 10),
])
def test_same_neighbours_as_faiss_on_fit_points_and_queries(seed, n, d, n_dup, k):
    X, Q = _data(seed, n, d, n_dup)
    t = TorchNearestNeighbors(n_neighbors=k, device="cpu").fit(X)
    f = FaissNearestNeighbors(n_neighbors=k, device="cpu").fit(X)
    for q in (None, Q, X[:50]):
        d_t, i_t = t.kneighbors(q)
        d_f, i_f = f.kneighbors(q)
        assert i_t.dtype == np.int64 and d_t.dtype == np.float32 and i_t.shape == (len(X) if q is None else len(q), k)
        _same_up_to_ties(i_t, d_t, i_f, d_f)
    # X=None leaves each point out, even among duplicates.
    assert not (t.kneighbors(return_distance=False) == np.arange(len(X))[:, None]).any()


def test_matches_float64_brute_force_exactly_in_order():
    X, Q = _data(5, 400, 24)
    X = X + 10.0  # large norms: the GEMM formula alone would lose about 4 digits of each distance
    Q = Q + 10.0
    d_t, i_t = TorchNearestNeighbors(6, device="cpu").fit(X).kneighbors(Q)
    d_ref, i_ref = NearestNeighbors(n_neighbors=6, algorithm="brute").fit(X.astype(np.float64)).kneighbors(
        Q.astype(np.float64))
    np.testing.assert_array_equal(i_t, i_ref)
    # Recomputed from differences: float32 rounding only.
    np.testing.assert_allclose(d_t, d_ref, rtol=2e-6)


def test_duplicates_drop_self_like_faiss_and_sklearn():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(20, 4)).astype(np.float32)
    X = np.concatenate([base, base[:5]])
    i = TorchNearestNeighbors(n_neighbors=3, device="cpu").fit(X).kneighbors(return_distance=False)
    np.testing.assert_array_equal(i, FaissNearestNeighbors(n_neighbors=3).fit(X).kneighbors(return_distance=False))
    for a in range(5):
        assert i[a, 0] == 20 + a and i[20 + a, 0] == a


def test_blocking_gives_the_same_answer():
    X, Q = _data(7, 333, 16)
    x = torch.from_numpy(X)
    whole = knn_search(torch.from_numpy(Q), x, 5)
    tiny = knn_search(torch.from_numpy(Q), x, 5, block_bytes=1)  # one query per block
    np.testing.assert_array_equal(whole[1], tiny[1])
    np.testing.assert_array_equal(whole[0], tiny[0])


@pytest.mark.parametrize("mode", ["connectivity", "distance"])
def test_kneighbors_graph_same_as_faiss(mode):
    X, Q = _data(8, 150, 8)
    g_t = TorchNearestNeighbors(4, device="cpu").fit(X).kneighbors_graph(Q, mode=mode)
    g_f = FaissNearestNeighbors(4, device="cpu").fit(X).kneighbors_graph(Q, mode=mode)
    assert g_t.format == "csr" and g_t.shape == (37, 150)
    np.testing.assert_array_equal(g_t.indices, g_f.indices)
    np.testing.assert_allclose(g_t.toarray(), g_f.toarray(), rtol=1e-5, atol=1e-6)


def test_errors_are_one_sentence():
    X, Q = _data(9, 5, 12)
    nn = TorchNearestNeighbors(n_neighbors=3, device="cpu").fit(X)
    msgs = []
    for call, match in [
        (lambda: nn.kneighbors(n_neighbors=5), "only 5 points"),  # self excluded: at most 4
        (lambda: nn.kneighbors(Q, n_neighbors=6), "only 5 points"),
        (lambda: nn.kneighbors(Q[:, :3]), "features"),
        (lambda: TorchNearestNeighbors(0).fit(X), "positive integer"),
        (lambda: TorchNearestNeighbors(device="tpu").fit(X), "Unknown neighbour-search device"),
        (lambda: TorchNearestNeighbors().fit(np.full((3, 2), np.nan)), "NaN or infinite"),
    ]:
        with pytest.raises(ConfigError, match=match) as err:
            call()
        msgs.append(str(err.value))
    for m in msgs:
        assert "\n" not in m and m.endswith(".") and m.count(". ") == 0


def test_clone_and_pickle():
    X, Q = _data(10, 90, 6)
    nn = TorchNearestNeighbors(n_neighbors=6, device="cpu")
    assert clone(nn).get_params() == {"n_neighbors": 6, "device": "cpu"}
    nn.fit(X)
    assert not hasattr(clone(nn), "points_")
    restored = pickle.loads(pickle.dumps(nn))
    np.testing.assert_array_equal(restored.kneighbors(Q)[1], nn.kneighbors(Q)[1])


def test_nearest_enemies_torch_equals_faiss(monkeypatch):
    X, _ = _data(11, 400, 10, n_dup=30)
    y = np.random.default_rng(0).integers(0, 5, size=len(X))
    ref_i, ref_d = nearest_enemies(X, y, 6, device="cpu")
    monkeypatch.setenv("EOS_NN_BACKEND", "torch")
    assert nn_backend("cpu") == "torch-cpu"
    i, d = nearest_enemies(X, y, 6, device="cpu")
    assert (y[i] != y[:, None]).all()
    _same_up_to_ties(i, d, ref_i, ref_d)
    part, _ = nearest_enemies(X, y, 6, device="cpu", only_class=3)
    np.testing.assert_array_equal(part, i[y == 3])
    y2 = np.zeros(len(X), int)
    y2[:2] = 1
    with pytest.raises(ConfigError, match="only 2 points of other classes"):
        nearest_enemies(X, y2, 3, device="cpu")


def test_samplers_identical_on_either_backend():
    from imblearn.over_sampling import SMOTE

    from eos_core.oversampling import EOS

    rng = np.random.default_rng(3)
    X = rng.normal(size=(260, 16)).astype(np.float32)
    y = np.repeat([0, 1, 2], [200, 40, 20])
    for sampler in (
        lambda nn: SMOTE(k_neighbors=nn, random_state=0),
        lambda nn: EOS(k_neighbors=5, nn_estimator=nn, random_state=0),
    ):
        a = sampler(FaissNearestNeighbors(6, device="cpu")).fit_resample(X, y)
        b = sampler(TorchNearestNeighbors(6, device="cpu")).fit_resample(X, y)
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_allclose(a[0], b[0], rtol=1e-6)


def test_chooser_rules(monkeypatch):
    monkeypatch.delenv("EOS_NN_BACKEND", raising=False)
    # A machine with faiss-cpu and no GPU (this one, or the GPU machine with its GPU hidden).
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(nbs, "faiss_gpu_available", lambda: False)
    assert nn_backend("auto") == nn_backend("cpu") == "faiss-cpu"
    assert isinstance(make_nn_estimator(3), FaissNearestNeighbors)
    with pytest.raises(ConfigError, match="no GPU"):
        nn_backend("cuda")
    # A CUDA machine whose faiss has no GPU (or no faiss): the torch backend, on CUDA.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert nn_backend("auto") == "torch-cuda" and nn_backend("cpu") == "faiss-cpu"
    est = make_nn_estimator(4, device="auto")
    assert isinstance(est, TorchNearestNeighbors) and est.get_params() == {"n_neighbors": 4, "device": "cuda"}
    # faiss with GPU support wins when it sees a GPU.
    monkeypatch.setattr(nbs, "faiss_gpu_available", lambda: True)
    assert nn_backend("auto") == "faiss-gpu"
    assert make_nn_estimator(2).get_params()["device"] == "cuda"
    monkeypatch.setenv("EOS_NN_BACKEND", "torch")
    assert nn_backend("auto") == "torch-cuda"
    # No faiss installed at all, no GPU: torch on the CPU.
    monkeypatch.undo()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(nbs, "faiss_available", lambda: False)
    assert nn_backend("auto") == "torch-cpu"
    assert isinstance(make_nn_estimator(1, device="cpu"), TorchNearestNeighbors)
    monkeypatch.setenv("EOS_NN_BACKEND", "faiss")
    with pytest.raises(ConfigError, match="not installed"):
        nn_backend("cpu")
    monkeypatch.setenv("EOS_NN_BACKEND", "annoy")
    with pytest.raises(ConfigError, match="EOS_NN_BACKEND"):
        nn_backend("cpu")


def test_engine_runs_without_faiss():
    # The GPU check machine has no faiss: the engine must import, choose torch and run EOS there.
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys; sys.modules['faiss'] = None\n"
        "import numpy as np\n"
        "from eos_core.errors import ConfigError\n"
        "from eos_core.neighbors import FaissNearestNeighbors, make_nn_estimator, nn_backend, nearest_enemies\n"
        "from eos_core.oversampling._resample import EOS\n"
        "assert nn_backend('auto') in ('torch-cpu', 'torch-cuda'), nn_backend('auto')\n"
        "rng = np.random.default_rng(0); X = rng.normal(size=(120, 8)).astype(np.float32)\n"
        "y = np.repeat([0, 1], [100, 20])\n"
        "eos = EOS(k_neighbors=5, nn_estimator=make_nn_estimator(), random_state=0)\n"
        "Xr, yr = eos.fit_resample(X, y)\n"
        "p = eos.provenance_; assert len(p['base']) == 80 and (yr[p['partner']] != yr[p['base']]).all()\n"
        "assert nearest_enemies(X, y, 3)[0].shape == (120, 3)\n"
        "try:\n    FaissNearestNeighbors().fit(X)\nexcept ConfigError as e:\n    print('refused:', e)\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "refused: faiss is not installed" in out.stdout
