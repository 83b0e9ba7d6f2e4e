"""The UMAP map: umap-learn on exact neighbours (:func:`fit_umap`, used by
:func:`eos_core.maps.fit_projection`).

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
2-core box). Two remedies:

* :func:`~eos_core.maps.enable_umap_disk_cache` (:mod:`eos_core.maps._umap_cache`) turns on numba's
  on-disk cache for umap-learn's jitted functions (umap-learn declares ``cache=True`` on almost none
  of them, so ``NUMBA_CACHE_DIR`` alone changes nothing). Numba's own rules pick the folder:
  ``$NUMBA_CACHE_DIR`` if set, else ``__pycache__`` beside umap-learn's sources when writable, else
  the user cache folder. A fresh process that finds the cache makes its first map without compiling
  (first tiny fit ~6 s -> ~0.3 s). :func:`fit_umap` calls it once per process; set
  ``EOS_NUMBA_CACHE=0`` to opt out.
* :func:`~eos_core.maps.warm_up_umap` (:mod:`eos_core.maps._projection`) compiles (or loads)
  everything on a tiny problem, meant for a background thread at app start.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from ._umap_cache import enable_umap_disk_cache

__all__ = ["fit_umap"]

# n_epochs=None: full umap-learn default quality up to this many fitted rows, 200 epochs above.
_SMALL_FIT = 2000


# --------------------------------------------------------------------------------------------
# exact neighbours for umap-learn
# --------------------------------------------------------------------------------------------
def _nn_estimator(base: np.ndarray) -> tuple[Any, str]:
    """The engine's exact search fitted on ``base`` (F, D), and the backend it runs on (``nn_backend``)."""
    # deferred: the neighbour search imports sklearn and faiss (seconds); a PCA map or a saved map needs neither
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
# fitting and placing
# --------------------------------------------------------------------------------------------
def _auto_epochs(n_fit: int) -> int:
    return 500 if n_fit <= _SMALL_FIT else 200


def _umap_reducer(x_fit: np.ndarray, *, seed: int, n_neighbors: int, min_dist: float, n_epochs: int
                  ) -> tuple[Any, str]:
    """A fitted ``umap.UMAP`` on ``x_fit`` (F, D) with exact kNN and an exact transform index, and the
    neighbour-search backend that ran (one of ``eos_core.neighbors.BACKENDS``)."""
    import umap  # deferred: umap-learn loads numba (seconds); a PCA map or a saved map needs neither

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


def fit_umap(
    x: np.ndarray, fit_idx: np.ndarray, extra: dict[str, np.ndarray], *,
    seed: int, n_neighbors: int, min_dist: float, n_epochs: int | None,
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    """A UMAP map fitted on rows ``fit_idx`` of ``x`` (N, D), every row of ``x`` and of each extra set placed in it.

    Returns
    -------
    train_xy : np.ndarray, (N, 2) float32
    extra_xy : dict[str, np.ndarray]
        Name -> (M, 2) float32.
    params : dict
        JSON-ready fitting parameters (``n_neighbors``, ``min_dist``, ``n_epochs``, ``knn``, ``umap_version``).
    """
    epochs = _auto_epochs(len(fit_idx)) if n_epochs is None else int(n_epochs)
    reducer, backend = _umap_reducer(x[fit_idx], seed=seed, n_neighbors=n_neighbors, min_dist=min_dist, n_epochs=epochs)
    train_xy = np.empty((len(x), 2), np.float32)
    train_xy[fit_idx] = reducer.embedding_
    rest = np.setdiff1d(np.arange(len(x)), fit_idx, assume_unique=True)
    train_xy[rest] = _umap_place(reducer, x[rest])
    extra_xy = {name: _umap_place(reducer, arr) for name, arr in extra.items()}
    params = {
        "n_neighbors": int(reducer.n_neighbors),
        "min_dist": float(min_dist),
        "n_epochs": epochs,
        "knn": backend,
        "umap_version": _umap_version(),
    }
    return train_xy, extra_xy, params


def _umap_version() -> str:
    import umap  # deferred: umap-learn loads numba (seconds); only a fitted UMAP map records its version

    return str(umap.__version__)
