"""A run's 2-D map, computed by the engine as the last step of a run and saved with it.

:func:`compute_map` fits the UMAP map of :mod:`eos_core.maps._projection` on the training embeddings
and places the test embeddings and a seeded sample of each saved oversampler's synthetic points
into it with UMAP's own ``transform``; :mod:`eos_core.store._results` writes and reads it. Points the map
did not place (another k on page 3, or a PCA preview) go where :func:`place_by_neighbors` puts
them: the distance-weighted mean map position of their nearest real training embeddings (the
estimate UMAP's transform starts from), found with :func:`eos_core.neighbors.make_nn_estimator`.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from ..data._subsample import snapshot_subsample
from ..errors import Cancelled
from ..events import MapDone, MapStarted, Progress, emit
from ..store._results import (
    MapArrays,
    Phase1Result,
    load_map,
    load_method_summary,
    load_phase1,
    load_synthetic,
    save_map,
)
from ..store._store import RunStore
from ._projection import fit_projection

__all__ = ["MAP_SYNTHETIC_MAX", "compute_map", "map_sample", "place_by_neighbors"]

# UMAP's transform costs ~0.25 ms per row on the 2-core box: the map places a seeded sample of at
# most this many synthetic points per oversampler (30k rows would add ~7.5 s to every map).
MAP_SYNTHETIC_MAX = 3000


def map_sample(y: np.ndarray, *, seed: int = 0, cap: int | None = None) -> np.ndarray:
    """Sorted rows of a synthetic set (labels ``y``, (S,)) that go into the saved map: all of them
    up to ``cap`` (default :data:`MAP_SYNTHETIC_MAX`), else the stratified sample of
    :func:`eos_core.data.snapshot_subsample` (small classes kept whole)."""
    cap = MAP_SYNTHETIC_MAX if cap is None else int(cap)
    return snapshot_subsample(np.asarray(y), cap, seed) if len(y) else np.zeros(0, np.int64)


def compute_map(store: RunStore, run_id: str, *, p1: Phase1Result | None = None, synthetic_cap: int | None = None,
                progress: Progress | None = None, cancel: threading.Event | None = None) -> MapArrays:
    """Fit the run's UMAP map and save it with the run (:func:`eos_core.store.save_map`).

    Parameters
    ----------
    store : RunStore
    run_id : str
        A run with a finished phase 1; every oversampler in its ``methods.json`` is placed.
    p1 : Phase1Result, optional
        The run's phase 1 when already in memory (else read from the store).
    synthetic_cap : int, optional
        Synthetic points placed per oversampler (default :data:`MAP_SYNTHETIC_MAX`).
    progress : callable, optional
        Receives :class:`~eos_core.events.MapStarted` then :class:`~eos_core.events.MapDone`.
    cancel : threading.Event, optional
        Checked before the fit (the UMAP fit itself cannot be interrupted).

    Returns
    -------
    MapArrays
        The saved map, as :func:`eos_core.store.load_map` returns it.
    """
    if cancel is not None and cancel.is_set():
        raise Cancelled("Cancelled before the map was computed.")
    emit(progress, MapStarted())
    t0 = time.perf_counter()
    if p1 is None:
        p1 = load_phase1(store, run_id)
    seed = int(p1.config.train.seed)
    emb = p1.embeddings
    extra = {"test": emb.test_emb}
    rows_of: dict[str, np.ndarray] = {}
    for m in load_method_summary(store, run_id):
        if store.has(run_id, f"synthetic_{m}", ".npz"):
            arr = load_synthetic(store, run_id, m)
            if len(arr["X_syn"]):
                rows_of[m] = map_sample(arr["y_syn"], seed=seed, cap=synthetic_cap)
                extra[f"synthetic_{m}"] = arr["X_syn"][rows_of[m]]
    proj = fit_projection(emb.train_emb, method="umap", extra=extra, seed=seed, train_y=emb.train_y)
    save_map(store, run_id, proj, rows_of)
    emit(progress, MapDone(time.perf_counter() - t0))
    return load_map(store, run_id)


def place_by_neighbors(train_emb: np.ndarray, train_xy: np.ndarray, x: np.ndarray, *, k: int = 10,
                       nn=None) -> np.ndarray:
    """Map positions of new rows: the inverse-distance weighted mean position of their ``k``
    nearest training embeddings.

    Parameters
    ----------
    train_emb : np.ndarray, (N, D) float32
        The embeddings the map's ``train_xy`` belongs to.
    train_xy : np.ndarray, (N, 2)
        Their map coordinates.
    x : np.ndarray, (M, D)
        Rows to place.
    k : int
        Neighbours per row (capped at N).
    nn : fitted estimator, optional
        A k-NN estimator already fitted on ``train_emb`` (else one from ``make_nn_estimator``).

    Returns
    -------
    np.ndarray, (M, 2) float32
    """
    if len(x) == 0:
        return np.zeros((0, 2), np.float32)
    if nn is None:
        from ..neighbors._factory import make_nn_estimator  # deferred: imports sklearn and faiss (seconds)

        nn = make_nn_estimator(k).fit(np.ascontiguousarray(train_emb, dtype=np.float32))
    dist, idx = nn.kneighbors(np.ascontiguousarray(x, dtype=np.float32), n_neighbors=min(int(k), len(train_xy)))
    w = 1.0 / (np.asarray(dist, dtype=np.float64) + 1e-6)  # an exact duplicate lands on its twin
    w /= w.sum(axis=1, keepdims=True)
    xy = np.asarray(train_xy, dtype=np.float64)[idx]  # (M, k, 2)
    return (w[:, :, None] * xy).sum(axis=1).astype(np.float32)
