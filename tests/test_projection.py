"""2-D maps: PCA preview, a small UMAP fit + transform, subsampling, save/load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.manifold import trustworthiness

from eos_core.errors import ConfigError
from eos_core.maps import Projection, fit_projection, fit_rows
from eos_core.neighbors import BACKENDS, nn_backend

D = 16


def blobs(counts, seed, spread=1.0):
    """Gaussian blobs, one per class, far apart in D dimensions -> (x float32 (n, D), y int64 (n,))."""
    rng = np.random.default_rng(seed)
    centers = np.eye(len(counts), D) * 20.0
    x = np.concatenate([centers[c] + spread * rng.normal(size=(n, D)) for c, n in enumerate(counts)])
    return x.astype(np.float32), np.repeat(np.arange(len(counts)), counts).astype(np.int64)


TRAIN_X, TRAIN_Y = blobs([250, 150, 50], seed=0)
TEST_X, TEST_Y = blobs([20, 20, 20], seed=1)
SYNTH_X, _ = blobs([0, 0, 10], seed=2)


@pytest.fixture(scope="module")
def umap_map() -> Projection:
    """One small UMAP map (the first one compiles numba, so it is shared); 450 train rows with
    max_fit=300, so 150 train rows are placed by transform as well."""
    return fit_projection(
        TRAIN_X, method="umap", extra={"test": TEST_X, "synthetic_eos": SYNTH_X},
        seed=0, max_fit=300, train_y=TRAIN_Y,
    )


def test_umap_shapes_and_params(umap_map):
    p = umap_map
    assert p.method == "umap"
    assert p.train_xy.shape == (450, 2) and p.train_xy.dtype == np.float32
    assert set(p.extra_xy) == {"test", "synthetic_eos"}
    assert p.extra_xy["test"].shape == (60, 2) and p.extra_xy["synthetic_eos"].shape == (10, 2)
    assert all(np.isfinite(a).all() for a in [p.train_xy, *p.extra_xy.values()])
    assert len(p.fit_idx) == 300 and p.params["n_fit"] == 300
    assert p.params["knn"] == nn_backend("auto") and p.params["knn"] in BACKENDS  # the search that ran
    assert p.params["n_neighbors"] == 15
    assert p.seconds > 0
    json.dumps(p.params)


def test_umap_subsample_keeps_small_class_whole(umap_map):
    counts = np.bincount(TRAIN_Y[umap_map.fit_idx], minlength=3)
    assert counts[2] == 50                  # the minority class is kept whole
    assert counts.sum() == 300 and counts.min() > 0


def test_umap_transform_places_points_by_class(umap_map):
    """Transformed points (non-fitted train rows and test rows) land on their own class's island."""
    p = umap_map
    fitted = p.train_xy[p.fit_idx]
    centroids = np.stack([fitted[TRAIN_Y[p.fit_idx] == c].mean(axis=0) for c in range(3)])

    def nearest_centroid(xy):
        return np.argmin(((xy[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)

    rest = np.setdiff1d(np.arange(450), p.fit_idx)
    assert (nearest_centroid(p.train_xy[rest]) == TRAIN_Y[rest]).mean() == 1.0
    assert (nearest_centroid(p.extra_xy["test"]) == TEST_Y).mean() == 1.0
    assert (nearest_centroid(p.extra_xy["synthetic_eos"]) == 2).all()


@pytest.mark.filterwarnings("ignore:n_jobs value")
def test_umap_trustworthiness_close_to_umap_defaults(umap_map):
    """The exact-kNN map is as trustworthy as umap-learn's defaults (within 0.02), fitted on the
    same rows. (Rows placed by transform instead of fitted cost ~0.025 more on this toy set.)"""
    import umap

    default_xy = umap.UMAP(random_state=0).fit_transform(TRAIN_X)
    ours_xy = fit_projection(TRAIN_X, method="umap", seed=0).train_xy
    ours = trustworthiness(TRAIN_X, ours_xy, n_neighbors=10)
    theirs = trustworthiness(TRAIN_X, default_xy, n_neighbors=10)
    assert ours >= theirs - 0.02


def test_umap_is_seeded(umap_map):
    again = fit_projection(
        TRAIN_X, method="umap", extra={"test": TEST_X, "synthetic_eos": SYNTH_X},
        seed=0, max_fit=300, train_y=TRAIN_Y,
    )
    np.testing.assert_array_equal(again.fit_idx, umap_map.fit_idx)
    np.testing.assert_array_equal(again.train_xy, umap_map.train_xy)
    np.testing.assert_array_equal(again.extra_xy["test"], umap_map.extra_xy["test"])


@pytest.mark.filterwarnings("ignore:Spectral initialisation failed")
def test_umap_with_exact_duplicates_and_empty_extra():
    x = np.repeat(TRAIN_X[:40], 3, axis=0)  # every row three times: self must still be column 0
    p = fit_projection(x, method="umap", extra={"none": np.empty((0, D), np.float32)}, n_epochs=20)
    assert p.train_xy.shape == (120, 2) and np.isfinite(p.train_xy).all()
    assert p.extra_xy["none"].shape == (0, 2)


def test_umap_records_the_torch_search_when_it_ran(monkeypatch):
    monkeypatch.setenv("EOS_NN_BACKEND", "torch")
    p = fit_projection(TRAIN_X[:60], method="umap", n_epochs=20)
    assert p.params["knn"] in ("torch-cpu", "torch-cuda") and p.params["knn"] == nn_backend("auto")


def test_map_saved_before_the_backend_was_recorded_still_loads():
    """Version 0.1.0 wrote ``"knn": "faiss-exact"`` whichever search ran; such a map reads as it was saved."""
    old = Path(__file__).parent / "data" / "saved_runs_0_1" / "20261204-052857-1d6f35" / "projection_umap.npz"
    q = Projection.load(old)
    assert q.method == "umap" and q.params["knn"] == "faiss-exact" and q.params["n_fit"] == 342
    assert q.train_xy.shape == (342, 2) and set(q.extra_xy) == {"test", "synthetic_eos", "synthetic_ros"}


def test_pca_path():
    p = fit_projection(TRAIN_X, method="pca", extra={"test": TEST_X}, seed=0)
    assert p.method == "pca"
    assert p.train_xy.shape == (450, 2) and p.train_xy.dtype == np.float32
    assert p.extra_xy["test"].shape == (60, 2) and p.extra_xy["test"].dtype == np.float32
    np.testing.assert_array_equal(p.fit_idx, np.arange(450))
    assert len(p.params["explained_variance_ratio"]) == 2


def test_pca_of_a_line_keeps_order():
    t = np.linspace(-5, 5, 30)
    x = (np.outer(t, np.ones(D)) + 0.01 * np.random.default_rng(0).normal(size=(30, D))).astype(np.float32)
    first = fit_projection(x, method="pca").train_xy[:, 0]
    assert abs(np.corrcoef(first, t)[0, 1]) > 0.999


def test_fit_rows():
    np.testing.assert_array_equal(fit_rows(10, 20, seed=0), np.arange(10))
    idx = fit_rows(1000, 100, seed=0)
    assert len(idx) == 100 and np.all(np.diff(idx) > 0)
    y = np.repeat(np.arange(3), [900, 90, 10])
    counts = np.bincount(y[fit_rows(1000, 100, seed=0, labels=y)], minlength=3)
    assert counts[2] == 10 and counts.sum() == 100


def test_save_load_round_trip(tmp_path):
    p = fit_projection(TRAIN_X, method="pca", extra={"test": TEST_X, "synthetic_eos": SYNTH_X}, max_fit=200,
                       train_y=TRAIN_Y)
    path = p.save(tmp_path / "projection_eos.npz")
    assert [f.name for f in tmp_path.iterdir()] == ["projection_eos.npz"]  # no temporary file left
    q = Projection.load(path)
    assert q.method == p.method and q.seconds == pytest.approx(p.seconds) and q.params == p.params
    np.testing.assert_array_equal(q.train_xy, p.train_xy)
    np.testing.assert_array_equal(q.fit_idx, p.fit_idx)
    assert set(q.extra_xy) == {"test", "synthetic_eos"}
    for name in q.extra_xy:
        np.testing.assert_array_equal(q.extra_xy[name], p.extra_xy[name])
    p.save(path)  # overwriting an existing map works
    assert Projection.load(path).train_xy.shape == (450, 2)


def test_load_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ConfigError):
        Projection.load(bad)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(ConfigError):
        Projection.load(other)
    with pytest.raises(FileNotFoundError):
        Projection.load(tmp_path / "missing.npz")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "tsne"},
        {"extra": {"test": TEST_X[:, :5]}},           # wrong width
        {"extra": {"bad name/": TEST_X}},              # unsafe name
        {"train_y": TRAIN_Y[:10]},
        {"max_fit": 2},
        {"n_neighbors": 1},
        {"method": "umap", "n_epochs": 2},
    ],
)
def test_errors(kwargs):
    with pytest.raises(ConfigError):
        fit_projection(TRAIN_X, **{"method": "pca", **kwargs})


def test_nan_embeddings_rejected():
    x = TRAIN_X.copy()
    x[3, 3] = np.nan
    with pytest.raises(ConfigError):
        fit_projection(x, method="pca")
    with pytest.raises(ConfigError):
        fit_projection(TRAIN_X[:3], method="pca")  # too few rows
