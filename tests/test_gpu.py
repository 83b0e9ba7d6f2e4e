"""Checks that need a CUDA GPU (``pytest -m gpu``; skipped without one). Run by bench/gpu_check.sh.

The phase-1 tests read the CIFAR-10-LT bundle built by bench/prepare_gpu_bundle.py
(``$EOS_GPU_BUNDLE``, default ``.whl/cifar10_lt_r100.npz``) and are skipped when it is absent.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def _points(seed: int, n: int, d: int, n_dup: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    return np.concatenate([X, X[:n_dup]]) if n_dup else X


def _assert_same_up_to_ties(i_a, d_a, i_b, d_b, atol=1e-5):
    np.testing.assert_allclose(d_a, d_b, rtol=1e-5, atol=atol)
    rows = np.flatnonzero((i_a != i_b).any(1))
    for r in rows:  # a differing neighbour must be a tie of the row's last distance or of its twin
        diff = set(i_a[r]) ^ set(i_b[r])
        assert not diff or np.isclose(d_a[r][-1], d_b[r][-1], rtol=1e-5)
        np.testing.assert_allclose(np.sort(d_a[r]), np.sort(d_b[r]), rtol=1e-5, atol=atol)


def test_knn_on_cuda_equals_cpu_and_faiss():
    from eos_core.neighbors import TorchNearestNeighbors, faiss_available, make_nn_estimator, nn_backend

    assert nn_backend("auto") in ("torch-cuda", "faiss-gpu")
    assert make_nn_estimator(3).get_params()["device"] == "cuda"
    X = _points(0, 20_000, 128, n_dup=500)
    Q = _points(1, 3_000, 128)
    gpu = TorchNearestNeighbors(10, device="cuda").fit(X)
    cpu = TorchNearestNeighbors(10, device="cpu").fit(X)
    # faiss keeps the GEMM formula's rounding: sqrt of ~1e-4 where the exact distance is 0 (duplicates).
    refs = [(cpu, 1e-5)]
    if faiss_available():
        from eos_core.neighbors import FaissNearestNeighbors

        refs.append((FaissNearestNeighbors(10, device="cpu").fit(X), 2e-2))
    for q in (None, Q):
        d_g, i_g = gpu.kneighbors(q)
        assert not (q is None and (i_g == np.arange(len(X))[:, None]).any())
        for ref, atol in refs:
            d_r, i_r = ref.kneighbors(q)
            _assert_same_up_to_ties(i_g, d_g, i_r, d_r, atol)


def test_knn_on_cuda_is_exact_against_float64_bruteforce():
    from sklearn.neighbors import NearestNeighbors

    from eos_core.neighbors import TorchNearestNeighbors

    X = _points(2, 60_000, 64) + 3.0  # offset: the GEMM formula alone would lose digits
    Q = _points(3, 400, 64) + 3.0
    d, i = TorchNearestNeighbors(8, device="cuda").fit(X).kneighbors(Q)
    d_ref, i_ref = NearestNeighbors(n_neighbors=8, algorithm="brute").fit(X.astype(np.float64)).kneighbors(
        Q.astype(np.float64))
    np.testing.assert_array_equal(i, i_ref)
    np.testing.assert_allclose(d, d_ref, rtol=2e-6)


def test_nearest_enemies_on_cuda_equal_cpu(monkeypatch):
    from eos_core.neighbors import nearest_enemies

    X = _points(4, 8_000, 32, n_dup=100)
    y = np.random.default_rng(0).integers(0, 7, size=len(X))
    i_g, d_g = nearest_enemies(X, y, 5, device="cuda")
    monkeypatch.setenv("EOS_NN_BACKEND", "torch")
    i_c, d_c = nearest_enemies(X, y, 5, device="cpu")
    assert (y[i_g] != y[:, None]).all()
    _assert_same_up_to_ties(i_g, d_g, i_c, d_c)


def test_eos_on_gpu_pairs_every_base_with_an_enemy_among_its_neighbours():
    from eos_core.neighbors import TorchNearestNeighbors, make_nn_estimator
    from eos_core.oversampling import EOS

    rng = np.random.default_rng(5)
    counts = (5000 * 100.0 ** (-np.arange(10) / 9)).astype(int)
    y = np.repeat(np.arange(10), counts)
    X = (rng.normal(scale=0.5, size=(10, 64))[y] + rng.normal(size=(len(y), 64))).astype(np.float32)
    eos = EOS(k_neighbors=10, nn_estimator=make_nn_estimator(device="cuda"), random_state=0)
    X_res, y_res = eos.fit_resample(X, y)
    base, partner, r = (eos.provenance_[k] for k in ("base", "partner", "r"))
    assert len(base) == 10 * counts[0] - len(y) and not eos.fallback_classes_
    assert (y[partner] != y[base]).all()
    np.testing.assert_allclose(X_res[len(X):], X[base] + r[:, None] * (X[partner] - X[base]), rtol=1e-5, atol=1e-5)
    # Each partner is one of its base's 10 nearest neighbours (checked on the CPU backend).
    sample = rng.choice(len(base), 2000, replace=False)
    nbrs = TorchNearestNeighbors(11, device="cpu").fit(X).kneighbors(X[base[sample]], return_distance=False)
    assert all(p in row for p, row in zip(partner[sample], nbrs, strict=True))
    # And the whole draw equals EOS with the CPU search (same neighbours, same seed).
    cpu = EOS(k_neighbors=10, nn_estimator=TorchNearestNeighbors(device="cpu"), random_state=0)
    cpu.fit_resample(X, y)
    np.testing.assert_array_equal(cpu.provenance_["partner"], partner)


def _bundle(cap: int | None = 600):
    path = Path(os.environ.get("EOS_GPU_BUNDLE", ROOT / ".whl" / "cifar10_lt_r100.npz"))
    if not path.is_file():
        pytest.skip(f"CIFAR-10-LT bundle {path} not found (bench/prepare_gpu_bundle.py builds it)")
    sys.path.insert(0, str(ROOT / "bench"))
    from prepare_gpu_bundle import load_bundle

    data = load_bundle(path)
    if cap is not None:  # a capped subset (largest class 600) learns visibly in a few epochs
        keep = np.concatenate([np.flatnonzero(data["y_train"] == c)[:cap] for c in range(10)])
        data["x_train"], data["y_train"] = data["x_train"][keep], data["y_train"][keep]
    return data


def _train(data, epochs: int, seed: int = 0):
    from eos_core.config import TrainConfig
    from eos_core.phase1 import SPECS, build_model, train_model

    x = data["x_train"]
    torch.manual_seed(seed)
    model = build_model("resnet32", in_channels=3, num_classes=10, image_size=32,
                        mean=x.mean(axis=(0, 2, 3)).tolist(), std=x.std(axis=(0, 2, 3)).tolist())
    hist = train_model(model, x, data["y_train"], data["x_test"][::5], data["y_test"][::5],
                       TrainConfig(model="resnet32", epochs=epochs, seed=seed, gap_snapshots=False),
                       num_classes=10, device=torch.device("cuda"), augment=SPECS["cifar10"])
    return model, hist


def test_short_resnet32_run_learns_with_head_and_metrics_on_gpu():
    from eos_core.config import HeadConfig
    from eos_core.evaluation import classification_report_dict, predict_head, train_head
    from eos_core.phase1 import accel_for, compute_embeddings

    assert accel_for(torch.device("cuda")).bf16  # the fast path is the one being tested
    data = _bundle()
    model, hist = _train(data, epochs=10)
    assert hist[-1].loss < 0.75 * hist[0].loss
    assert hist[-1].test_bacc > 0.25  # chance is 0.10
    tr_emb, _ = compute_embeddings(model, data["x_train"], device="cuda")
    te_emb, te_logits = compute_embeddings(model, data["x_test"], device="cuda")
    assert tr_emb.dtype == np.float32 and te_emb.shape == (10_000, model.head.in_features)
    # Embeddings on the GPU agree with the CPU's (convolutions may use TF32 there).
    cpu_emb, _ = compute_embeddings(model.cpu(), data["x_test"][:256], device="cpu")
    np.testing.assert_allclose(te_emb[:256], cpu_emb, rtol=2e-2, atol=2e-2)
    head = train_head(tr_emb, data["y_train"], HeadConfig(epochs=5), num_classes=10, device="cuda")
    pred, _ = predict_head(head, te_emb, device="cuda")
    rep = classification_report_dict(data["y_test"], pred, 10)
    assert rep["balanced_accuracy"] > 0.25
    rep1 = classification_report_dict(data["y_test"], te_logits.argmax(1), 10)
    assert rep1["balanced_accuracy"] > 0.25


def test_same_seed_gives_the_same_run_within_noise():
    data = _bundle(cap=300)
    _, a = _train(data, epochs=2)
    _, b = _train(data, epochs=2)
    for ha, hb in zip(a, b, strict=True):
        assert abs(ha.loss - hb.loss) <= 0.02 * ha.loss
