"""2-D maps of embeddings: UMAP (umap-learn) and a PCA preview.

A map is fitted on the training embeddings only; test and synthetic embeddings are then *placed*
into that fixed map with ``transform``, so "where do the test points of a minority class land
relative to its training points" is visible — the generalization gap EOS targets.

How the UMAP path differs from ``umap.UMAP().fit_transform`` (measured in bench/bench_umap.py):

* **Exact kNN from the engine's search.** umap-learn would build a pynndescent graph (approximate,
  and the first call in a process compiles pynndescent's numba code: ~half a minute on 2 cores).
  The exact kNN graph from :func:`eos_core.neighbors.make_nn_estimator` (faiss or torch, see
  :func:`eos_core.neighbors.nn_backend`; self in column 0, as umap-learn requires) is passed as
  ``precomputed_knn``, and the backend that ran is recorded in the map's ``params["knn"]``.
* **transform still works.** umap-learn documents that ``precomputed_knn=(indices, dists)``
  disables ``transform`` (it raises "No search index available"), because transform queries the
  third tuple element, the search index. That element only needs ``query(X, k, epsilon=...) ->
  (indices, dists)`` and an ``_angular_trees`` flag, so :class:`_ExactSearchIndex` — the same exact
  search — is passed as the third element. umap-learn warns that it is not an ``NNDescent``
  object (silenced here) and uses it. Checked against umap-learn 0.5.12 (the pinned version); the
  tests cover it. The public alternative (``metric="precomputed"`` with sparse distance matrices)
  was rejected: with disconnected kNN components it places the components from meaningless
  "distances" (the sparse blocks between components are empty), where the Euclidean metric uses
  the component centroids.
* **Fewer epochs on large fit sets.** umap-learn uses 500 epochs up to 10,000 points and 200
  above; with a seed, the layout optimisation is single-threaded and dominates the cost (~25 ms
  per epoch for 10k points on the project's 2-core box). ``n_epochs=None`` here means 500 up to
  2,000 fitted points and 200 above: the 10k-point map then takes ~5 s instead of ~13 s, with
  trustworthiness within 0.005 of umap-learn's defaults.

Cold start: the first UMAP fit in a process compiles umap-learn's numba functions (~6-8 s on the
2-core box). Two remedies, both here:

* :func:`enable_umap_disk_cache` turns on numba's on-disk cache for umap-learn's jitted functions
  (umap-learn declares ``cache=True`` on almost none of them, so ``NUMBA_CACHE_DIR`` alone changes
  nothing). Numba's own rules pick the folder: ``$NUMBA_CACHE_DIR`` if set, else ``__pycache__``
  beside umap-learn's sources when writable, else the user cache folder. A fresh process that finds
  the cache makes its first map without compiling (first tiny fit ~6 s -> ~0.3 s). The UMAP path of
  :func:`fit_projection` calls it once per process; set ``EOS_NUMBA_CACHE=0`` to opt out.
* :func:`warm_up_umap` compiles (or loads) everything on a tiny problem, meant for a background
  thread at app start.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = [
    "Projection",
    "PROJECTION_METHODS",
    "fit_projection",
    "fit_rows",
    "warm_up_umap",
    "enable_umap_disk_cache",
]

PROJECTION_METHODS = ("umap", "pca")
_EXTRA_PREFIX = "extra__"
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
# The smallest map worth drawing; UMAP's spectral initialisation needs a handful of points.
_MIN_FIT_ROWS = 4
# n_epochs=None: full umap-learn default quality up to this many fitted rows, 200 epochs above.
_SMALL_FIT = 2000


# --------------------------------------------------------------------------------------------
# the result
# --------------------------------------------------------------------------------------------
@dataclass
class Projection:
    """A 2-D map of training embeddings, plus other sets placed into the same map.

    Attributes
    ----------
    method : str
        ``"umap"`` or ``"pca"``.
    train_xy : np.ndarray, (N, 2) float32
        Map coordinates of every training embedding (fitted and transformed rows alike).
    extra_xy : dict[str, np.ndarray]
        Name -> (M, 2) float32 coordinates of each extra set (e.g. ``"test"``, ``"synthetic_eos"``).
    fit_idx : np.ndarray, (F,) int64
        Sorted rows of the training embeddings the map was fitted on (all rows up to ``max_fit``).
    seconds : float
        Wall time of :func:`fit_projection`.
    params : dict
        JSON-ready parameters (method, seed, n_neighbors, min_dist, n_epochs, n_fit, ...). A UMAP map's
        ``knn`` names the exact neighbour search that built its kNN graph, one of
        ``eos_core.neighbors.BACKENDS`` (``"faiss-cpu"``, ``"torch-cuda"``, ...); maps saved before it
        was recorded say ``"faiss-exact"`` whichever ran, and still load.
    """

    method: str
    train_xy: np.ndarray
    extra_xy: dict[str, np.ndarray] = field(default_factory=dict)
    fit_idx: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    seconds: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The map as named arrays (no pickles): what :meth:`save` writes and :meth:`from_arrays` reads."""
        arrays: dict[str, np.ndarray] = {
            "method": np.array(self.method),
            "train_xy": np.asarray(self.train_xy, dtype=np.float32),
            "fit_idx": np.asarray(self.fit_idx, dtype=np.int64),
            "seconds": np.array(float(self.seconds)),
            "params_json": np.array(json.dumps(self.params)),
        }
        for name, xy in self.extra_xy.items():
            arrays[_EXTRA_PREFIX + _check_name(name)] = np.asarray(xy, dtype=np.float32)
        return arrays

    @classmethod
    def from_arrays(cls, z: Mapping[str, np.ndarray]) -> Projection:
        """The map of :meth:`to_arrays`'s arrays; ConfigError when they are not a saved projection."""
        try:
            return cls(
                method=str(z["method"]),
                train_xy=np.asarray(z["train_xy"]),
                extra_xy={k[len(_EXTRA_PREFIX):]: np.asarray(z[k]) for k in z if k.startswith(_EXTRA_PREFIX)},
                fit_idx=np.asarray(z["fit_idx"]),
                seconds=float(z["seconds"]),
                params=json.loads(str(z["params_json"])),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ConfigError(f"The arrays are not a saved projection ({exc}).") from exc

    def save(self, path: str | os.PathLike) -> Path:
        """Write the map to ``path`` (.npz, uncompressed for a fast load) with the engine's atomic
        writer (:mod:`eos_core.store._atomic`): a reader never sees a half-written map. Returns ``path``."""
        from ..store._atomic import atomic_write

        path = Path(path)
        with atomic_write(path) as fh:
            np.savez(fh, **self.to_arrays())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Projection:
        """Read a map written by :meth:`save` (``allow_pickle=False``).

        Raises
        ------
        FileNotFoundError
            No file at ``path``.
        ConfigError
            The file is not a saved projection.
        """
        try:
            with np.load(Path(path), allow_pickle=False) as z:
                return cls.from_arrays({k: z[k] for k in z.files})
        except FileNotFoundError:
            raise
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise ConfigError(f"{path} is not a saved projection ({exc}).") from exc


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigError(f"Extra set names must be letters, digits, '_', '.' or '-', got {name!r}.")
    return name


# --------------------------------------------------------------------------------------------
# validation and the rows to fit on
# --------------------------------------------------------------------------------------------
def _check_emb(emb: Any, what: str, width: int | None = None) -> np.ndarray:
    """C-contiguous float32 (N, D) array; ConfigError on wrong rank/width or NaN/inf."""
    arr = np.ascontiguousarray(emb, dtype=np.float32)
    if arr.ndim != 2:
        raise ConfigError(f"The {what} embeddings must be a 2-D (samples, features) array, got shape {arr.shape}.")
    if width is not None and arr.shape[1] != width:
        raise ConfigError(f"The {what} embeddings have {arr.shape[1]} features, the training ones {width}.")
    if not np.isfinite(arr).all():
        raise ConfigError(f"The {what} embeddings contain NaN or infinite values; the model may have diverged.")
    return arr


def fit_rows(n: int, max_fit: int, seed: int, labels: np.ndarray | None = None) -> np.ndarray:
    """Rows to fit a map on: all ``n`` rows up to ``max_fit``, else a seeded subsample.

    Parameters
    ----------
    n : int
        Number of training rows.
    max_fit : int
        Row budget.
    seed : int
        Subsample seed.
    labels : np.ndarray, (n,) int, optional
        With labels, the subsample is stratified so small classes are kept whole (see
        :func:`eos_core.data.snapshot_subsample`); without, uniform.

    Returns
    -------
    np.ndarray, (F,) int64
        Sorted row indices.
    """
    if int(max_fit) < _MIN_FIT_ROWS:
        raise ConfigError(f"max_fit must be at least {_MIN_FIT_ROWS}, got {max_fit!r}.")
    if n <= max_fit:
        return np.arange(n, dtype=np.int64)
    from ..data._subsample import snapshot_subsample

    # Without labels every row is its own stratum-free draw: one label for all rows.
    return snapshot_subsample(labels if labels is not None else np.zeros(n, np.int64), int(max_fit), seed)


# --------------------------------------------------------------------------------------------
# exact neighbours for umap-learn
# --------------------------------------------------------------------------------------------
def _nn_estimator(base: np.ndarray) -> tuple[Any, str]:
    """The engine's exact search fitted on ``base`` (F, D), and the backend it runs on (``nn_backend``)."""
    # Lazy import: faiss is loaded through eos_core.neighbors, which sets an OpenBLAS hint first.
    from ..neighbors._factory import make_nn_estimator, nn_backend

    return make_nn_estimator(1, device="auto").fit(base), nn_backend("auto")


def _knn_graph(nn, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact kNN of the fitted rows in the layout umap-learn's ``precomputed_knn`` expects.

    Returns
    -------
    indices : np.ndarray, (F, k) int32
        Column 0 is the row itself (umap-learn requires it, even with exact duplicates), then
        its k-1 nearest other rows.
    dists : np.ndarray, (F, k) float32
        Matching Euclidean distances, column 0 exactly 0.
    """
    n = nn.n_samples_fit_
    dist, idx = nn.kneighbors(None, n_neighbors=k - 1)  # X=None: each row excluded from its own list
    self_idx = np.arange(n, dtype=np.int32)[:, None]
    # int32 like pynndescent, so fit and transform share one compiled numba signature.
    indices = np.hstack([self_idx, idx.astype(np.int32)])
    dists = np.hstack([np.zeros((n, 1), np.float32), dist.astype(np.float32)])
    return indices, dists


class _ExactSearchIndex:
    """The part of pynndescent's ``NNDescent`` that ``UMAP.transform`` uses, on the engine's exact search.

    ``UMAP.transform`` calls ``index.query(X, k, epsilon=...)`` and reads ``index._angular_trees``
    (to choose epsilon, which an exact search ignores).
    """

    _angular_trees = False

    def __init__(self, nn) -> None:
        self._nn = nn

    def query(self, X: np.ndarray, k: int = 10, epsilon: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(indices (M, k) int32, dists (M, k) float32) of the k nearest fitted rows, as NNDescent."""
        dist, idx = self._nn.kneighbors(np.ascontiguousarray(X, dtype=np.float32), n_neighbors=k)
        return idx.astype(np.int32), dist.astype(np.float32)


# --------------------------------------------------------------------------------------------
# the two methods
# --------------------------------------------------------------------------------------------
def _auto_epochs(n_fit: int) -> int:
    return 500 if n_fit <= _SMALL_FIT else 200


def _umap_reducer(x_fit: np.ndarray, *, seed: int, n_neighbors: int, min_dist: float, n_epochs: int
                  ) -> tuple[Any, str]:
    """A fitted ``umap.UMAP`` on ``x_fit`` (F, D) with exact kNN and an exact transform index, and the
    neighbour-search backend that ran (one of ``eos_core.neighbors.BACKENDS``)."""
    import umap  # heavy import (numba), kept out of module import

    if os.environ.get("EOS_NUMBA_CACHE", "1") != "0":
        enable_umap_disk_cache()
    k = min(int(n_neighbors), len(x_fit) - 1)
    nn, backend = _nn_estimator(x_fit)
    knn_idx, knn_dist = _knn_graph(nn, k)
    reducer = umap.UMAP(
        n_neighbors=k,
        min_dist=float(min_dist),
        n_epochs=int(n_epochs),
        random_state=int(seed),
        transform_seed=int(seed),
        n_jobs=1,  # a seed forces one thread anyway; saying so avoids umap-learn's warning
        precomputed_knn=(knn_idx, knn_dist, _ExactSearchIndex(nn)),
    )
    with warnings.catch_warnings():
        # "precomputed_knn[2] ... is not an NNDescent object": it is an exact stand-in on purpose.
        warnings.filterwarnings("ignore", message=r".*knn_search_index.*")
        # Disconnected kNN components (well separated classes) are expected, and handled by
        # umap-learn's multi-component layout; sklearn's spectral step warns about them.
        warnings.filterwarnings("ignore", message=r".*not fully connected.*")
        reducer.fit(x_fit)
    return reducer, backend


def _umap_place(reducer, x: np.ndarray) -> np.ndarray:
    """Place rows (M, D) into a fitted UMAP map -> (M, 2) float32; M may be 0."""
    if len(x) == 0:
        return np.empty((0, 2), np.float32)
    return np.asarray(reducer.transform(x), dtype=np.float32)


def _fit_umap(
    x: np.ndarray, fit_idx: np.ndarray, extra: dict[str, np.ndarray], *,
    seed: int, n_neighbors: int, min_dist: float, n_epochs: int | None,
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    epochs = _auto_epochs(len(fit_idx)) if n_epochs is None else int(n_epochs)
    reducer, backend = _umap_reducer(x[fit_idx], seed=seed, n_neighbors=n_neighbors, min_dist=min_dist, n_epochs=epochs)
    train_xy = np.empty((len(x), 2), np.float32)
    train_xy[fit_idx] = reducer.embedding_
    rest = np.setdiff1d(np.arange(len(x)), fit_idx, assume_unique=True)
    train_xy[rest] = _umap_place(reducer, x[rest])
    extra_xy = {name: _umap_place(reducer, arr) for name, arr in extra.items()}
    import umap

    params = {
        "n_neighbors": int(reducer.n_neighbors),
        "min_dist": float(min_dist),
        "n_epochs": epochs,
        "knn": backend,
        "umap_version": str(umap.__version__),
    }
    return train_xy, extra_xy, params


def _fit_pca(
    x: np.ndarray, fit_idx: np.ndarray, extra: dict[str, np.ndarray], *, seed: int
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    from sklearn.decomposition import PCA

    if x.shape[1] < 2:
        raise ConfigError(f"A 2-D PCA map needs embeddings with at least 2 features, got {x.shape[1]}.")
    pca = PCA(n_components=2, random_state=seed).fit(x[fit_idx])

    def place(a: np.ndarray) -> np.ndarray:
        return pca.transform(a).astype(np.float32) if len(a) else np.empty((0, 2), np.float32)

    params = {"explained_variance_ratio": [float(v) for v in pca.explained_variance_ratio_]}
    return place(x), {name: place(arr) for name, arr in extra.items()}, params


def fit_projection(
    train_emb: np.ndarray,
    *,
    method: str = "umap",
    extra: Mapping[str, np.ndarray] | None = None,
    seed: int = 0,
    max_fit: int = 10000,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    train_y: np.ndarray | None = None,
    n_epochs: int | None = None,
) -> Projection:
    """Fit a 2-D map on training embeddings and place every train and extra row into it.

    Parameters
    ----------
    train_emb : np.ndarray, (N, D)
        Training embeddings (converted to float32).
    method : {"umap", "pca"}
        UMAP (umap-learn, exact kNN) or PCA (instant preview).
    extra : dict[str, np.ndarray], optional
        Name -> (M, D) embeddings placed into the fitted map, e.g. ``{"test": ..., "synthetic_eos": ...}``.
        Names: letters, digits, ``_ . -``.
    seed : int
        Seeds the subsample, UMAP's layout and its transform (same inputs -> same map).
    max_fit : int
        At most this many training rows are used to fit; the others are placed by ``transform``.
    n_neighbors : int
        UMAP neighbourhood size (capped at F - 1).
    min_dist : float
        UMAP minimum distance in the map.
    train_y : np.ndarray, (N,) int, optional
        Training labels; when given, the fit subsample keeps small classes whole.
    n_epochs : int, optional
        UMAP layout epochs; None: 500 up to 2,000 fitted rows, 200 above (see module docstring).

    Returns
    -------
    Projection
        ``train_xy`` (N, 2), ``extra_xy`` with one (M, 2) array per extra set, ``fit_idx``.

    Raises
    ------
    ConfigError
        Unknown method, NaN/inf or mismatched embeddings, fewer than 4 training rows.
    """
    t0 = time.perf_counter()
    if method not in PROJECTION_METHODS:
        raise ConfigError(f"Unknown projection method {method!r}; choose one of {', '.join(PROJECTION_METHODS)}.")
    x = _check_emb(train_emb, "training")
    if len(x) < _MIN_FIT_ROWS:
        raise ConfigError(f"A map needs at least {_MIN_FIT_ROWS} training embeddings, got {len(x)}.")
    if int(n_neighbors) < 2:
        raise ConfigError(f"n_neighbors must be at least 2, got {n_neighbors!r}.")
    if n_epochs is not None and int(n_epochs) < 3:  # transform runs n_epochs // 3 epochs
        raise ConfigError(f"n_epochs must be at least 3, got {n_epochs!r}.")
    if not (0.0 <= float(min_dist) and math.isfinite(float(min_dist))):
        raise ConfigError(f"min_dist must be a non-negative number, got {min_dist!r}.")
    labels = None
    if train_y is not None:
        labels = np.asarray(train_y)
        if labels.shape != (len(x),):
            raise ConfigError(f"train_y must have one label per training embedding ({len(x)}), "
                              f"got shape {labels.shape}.")
    extras = {_check_name(k): _check_emb(v, f"{k!r}", x.shape[1]) for k, v in (extra or {}).items()}
    fit_idx = fit_rows(len(x), max_fit, seed, labels)
    if method == "umap":
        train_xy, extra_xy, params = _fit_umap(
            x, fit_idx, extras, seed=seed, n_neighbors=n_neighbors, min_dist=min_dist, n_epochs=n_epochs
        )
    else:
        train_xy, extra_xy, params = _fit_pca(x, fit_idx, extras, seed=seed)
    params = {"method": method, "seed": int(seed), "max_fit": int(max_fit), "n_fit": int(len(fit_idx)), **params}
    return Projection(
        method=method, train_xy=train_xy, extra_xy=extra_xy, fit_idx=fit_idx,
        seconds=time.perf_counter() - t0, params=params,
    )


# Re-exported: the disk cache and warm-up of umap-learn's numba code live in _umap_cache.py.
from ._umap_cache import enable_umap_disk_cache, warm_up_umap  # noqa: E402
