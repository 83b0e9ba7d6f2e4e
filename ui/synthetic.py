"""Synthetic points of a run on page 3: the saved sets (or resampled for another k), their
positions on the map, their nearest real neighbours and quality figures.

The numbers come from the engine: ``eos_core.oversampling.resample`` (the samplers the pipeline
used), ``eos_core.neighbors`` and ``eos_core.gap.method_quality`` (closure, 1-NN recall, enemy and
partner shares: what the pipeline stores per method); this module caches them per run version and k. Points the
saved map did not place go where the engine's ``eos_core.maps.place_by_neighbors`` puts them
(:func:`place_synthetic`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from ui import cache
from ui.labels import method_name
from ui.maps import map_mtime, pca_map, saved_map


@st.cache_data(max_entries=24, show_spinner="Over-sampling the embeddings…")
def _synthetic(root: str, run_id: str, version: float, method: str, k: int) -> dict[str, np.ndarray]:
    from eos_core.store import load_synthetic, synthetic_arrays

    store = cache.store_for(root)
    p1 = cache.phase1_cached(root, run_id, version)
    if int(k) == int(p1.config.k_neighbors) and store.has(run_id, f"synthetic_{method}", ".npz"):
        arr = load_synthetic(store, run_id, method)
    else:
        from eos_core.oversampling import resample

        e = p1.embeddings
        arr = synthetic_arrays(*resample(method, e.train_emb, e.train_y, k_neighbors=int(k),
                                         random_state=cache.run_seed(p1)))
    return {k_: np.asarray(v) for k_, v in arr.items()}


def synthetic(run_id: str, method: str, k: int) -> dict[str, np.ndarray]:
    """``X_syn, y_syn, base, partner, r`` for one oversampler and k: the saved arrays when the run
    used this k, else resampled (and cached)."""
    store = cache.get_store()
    return _synthetic(cache.runs_root(), run_id, cache.version(store, run_id), method, int(k))


@st.cache_resource(max_entries=4, show_spinner=False)
def _train_index(root: str, run_id: str, version: float):
    from eos_core.neighbors import make_nn_estimator

    p1 = cache.phase1_cached(root, run_id, version)
    return make_nn_estimator(10, device="cpu").fit(p1.embeddings.train_emb)


def nearest_real(run_id: str, X: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """``(dist, idx)`` of the k nearest real training embeddings (rows of ``train_emb``)."""
    store = cache.get_store()
    nn = _train_index(cache.runs_root(), run_id, cache.version(store, run_id))
    if len(X) == 0:
        return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
    return nn.kneighbors(np.asarray(X, dtype=np.float32), n_neighbors=k)


@st.cache_data(max_entries=24, show_spinner="Placing the synthetic points on the map…")
def _placed(root: str, run_id: str, version: float, method: str, k: int, map_kind: str,
            mtime: float) -> np.ndarray:
    from eos_core.maps import place_by_neighbors

    X = _synthetic(root, run_id, version, method, k)["X_syn"]
    arrays = (saved_map(root, run_id, mtime) if map_kind == "umap" else pca_map(root, run_id, version))
    p1 = cache.phase1_cached(root, run_id, version)
    return place_by_neighbors(p1.embeddings.train_emb, arrays["train"], X, k=10,
                              nn=_train_index(root, run_id, version))


def place_synthetic(run_id: str, method: str, k: int, map_kind: str) -> np.ndarray:
    """2-D positions ``(S, 2)`` of the synthetic points on the run's map; NaN rows are not on it.

    The saved UMAP map already holds the run's synthetic sets (at the run's k) placed by UMAP's
    ``transform`` — a seeded sample of at most ``eos_core.maps.MAP_SYNTHETIC_MAX`` rows per
    oversampler, the other rows are NaN. Otherwise (another k, or the PCA preview) every point
    goes where ``eos_core.maps.place_by_neighbors`` puts it (the distance-weighted mean map
    position of its 10 nearest real training embeddings)."""
    store = cache.get_store()
    mtime = map_mtime(store, run_id)
    if map_kind == "umap" and mtime and int(k) == int(cache.load_phase1(run_id).config.k_neighbors):
        arrays = saved_map(cache.runs_root(), run_id, mtime)
        saved = arrays.get(f"synthetic_{method}")
        n = len(synthetic(run_id, method, k)["y_syn"])
        if saved is not None:
            rows = arrays.get(f"synthetic_{method}_rows")
            if rows is None and len(saved) == n:
                return saved
            if rows is not None and len(rows) == len(saved) and (len(rows) == 0 or int(rows.max()) < n):
                out = np.full((n, 2), np.nan, np.float32)
                out[rows] = saved
                return out
    return _placed(cache.runs_root(), run_id, cache.version(store, run_id), method, int(k), map_kind, mtime)


@st.cache_data(max_entries=24, show_spinner="Measuring the synthetic points…")
def _quality(root: str, run_id: str, version: float, method: str, k: int) -> dict[str, Any]:
    from eos_core.gap import method_quality
    from eos_core.oversampling import NO_SYNTHETIC

    p1 = cache.phase1_cached(root, run_id, version)
    e = p1.embeddings
    # The run's own k: the values the pipeline stored in methods.json; the engine computes them only
    # for another k or a method the run lacks.
    stored = cache.methods_summary(run_id, root).get(method) if int(k) == int(p1.config.k_neighbors) else None
    if method in NO_SYNTHETIC:
        syn = {"X_syn": np.zeros((0, e.train_emb.shape[1]), np.float32), "y_syn": np.zeros(0, np.int64),
               "base": None, "partner": None}
    else:
        syn = _synthetic(root, run_id, version, method, k)
    return method_quality(e.train_emb, e.train_y, syn["X_syn"], syn["y_syn"], e.test_emb, e.test_y,
                          num_classes=len(p1.classes), base=syn["base"], partner=syn["partner"], stored=stored)


def synthetic_quality(run_id: str, method: str, k: int) -> dict[str, Any]:
    """:func:`eos_core.gap.method_quality` of one oversampler at ``k``: per class ``nn_gap_closed``
    (with ``nn_gap_closed_note``), ``nn1_recall`` and ``nn1_recall_change``, the share of synthetic points
    whose nearest real neighbour is an enemy (overall and per class), ``partner_share``, ``n`` synthetic
    points and ``source`` ("stored": methods.json at the run's k; "computed": for another k)."""
    store = cache.get_store()
    return _quality(cache.runs_root(), run_id, cache.version(store, run_id), method, int(k))


def quality_source(quality: dict[str, dict[str, Any]], k: int, run_k: int) -> str:
    """The caption saying where page 3's quality figures come from, method by method.

    ``quality`` maps method -> :func:`synthetic_quality`'s dict (its ``"source"``). At the run's k a
    method the run did not train is computed now, not read from ``methods.json``: the caption names it.
    """
    if int(k) != int(run_k):
        return (f"k = {k} differs from the run's k = {run_k}: these values are computed now by the engine's "
                "functions on the resampled points.")
    computed = [method_name(m) for m, q in quality.items() if q.get("source") == "computed"]
    stored = f"Values stored with the run (methods.json, k = {run_k})"
    if not computed:
        return stored
    if len(computed) == len(quality):
        return (f"None of these methods was trained in this run: their values are computed now by the engine's "
                f"functions at the run's k = {run_k}.")
    return (f"{stored}, except {', '.join(computed)}: not trained in this run, computed now by the engine's "
            "functions at the same k.")

