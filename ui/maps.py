"""The run's 2-D map (UMAP of the embeddings), saved with the run, and its PCA preview.

Moved as-is from the old ``app_state`` (issue 8): a later step moves the map fitting into the
engine (``eos_core``) so CLI runs get a map too; until then this module fits it after a training
job (:mod:`ui.training`) or in a light background job when page 2 opens a run without one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from ui import cache
from ui.jobs import Job, registry
from ui.warmup import import_engine

MAP_NAME = "projection_umap"  # <run>/projection_umap.npz, written by Projection.save
MAP_ROWS_NAME = "projection_umap_rows"  # <run>/projection_umap_rows.npz: synthetic rows in the map
# UMAP's transform costs ~0.25 ms per row here: the map places a fixed random sample of at most
# this many synthetic points per oversampler (30k rows would add ~7.5 s to every map).
MAP_SYNTHETIC_MAX = 3000


def map_path(store, run_id: str) -> Path:
    return store.run_dir(run_id) / f"{MAP_NAME}.npz"


def _proj_arrays(proj) -> dict[str, np.ndarray]:
    """``train``, ``test`` and any ``synthetic_<method>`` (N×2 float32) from a Projection."""
    out = {"train": np.asarray(proj.train_xy, dtype=np.float32)}
    for name, xy in (proj.extra_xy or {}).items():
        out[name] = np.asarray(xy, dtype=np.float32)
    return out


def map_sample(n: int, *, seed: int = 0, cap: int | None = None) -> np.ndarray:
    """Sorted rows of a synthetic set that go into the saved map: all of them up to ``cap``
    (default :data:`MAP_SYNTHETIC_MAX`), else a seeded uniform sample (the class mix of the
    sample follows the set's)."""
    cap = MAP_SYNTHETIC_MAX if cap is None else int(cap)
    if n <= cap:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, size=cap, replace=False)).astype(np.int64)


def compute_and_save_map(store, run_id: str, *, p1=None) -> dict[str, np.ndarray]:
    """Fit the run's UMAP map on the training embeddings, place the test embeddings and a sample
    of every saved oversampler's synthetic points (:func:`map_sample`) into it, and save it with
    the run (the sampled row ids beside it, so provenance still maps)."""
    from eos_core.projection import fit_projection

    if p1 is None:
        p1 = cache.read_phase1(store, run_id)
    emb = p1.embeddings
    extra = {"test": emb.test_emb}
    rows_of: dict[str, np.ndarray] = {}
    for m in (store.load_json(run_id, "methods") if store.has(run_id, "methods", ".json") else {}):
        if store.has(run_id, f"synthetic_{m}", ".npz"):
            x = store.load_arrays(run_id, f"synthetic_{m}")["X_syn"]
            if len(x):
                rows = map_sample(len(x), seed=cache.run_seed(p1))
                rows_of[f"synthetic_{m}"] = rows
                extra[f"synthetic_{m}"] = x[rows]
    proj = fit_projection(emb.train_emb, method="umap", extra=extra, seed=cache.run_seed(p1), train_y=emb.train_y)
    # The rows first: the map file's presence marks a complete map.
    store.save_arrays(run_id, MAP_ROWS_NAME, **rows_of)
    proj.save(map_path(store, run_id))
    return {**_proj_arrays(proj), **{f"{k}_rows": v for k, v in rows_of.items()}}


@st.cache_data(max_entries=16, show_spinner=False)
def saved_map(root: str, run_id: str, mtime: float) -> dict[str, np.ndarray]:
    """The saved map's arrays, plus ``synthetic_<m>_rows`` (the rows of each synthetic set it
    placed; absent for maps saved before sampling, which placed every row)."""
    from eos_core.projection import Projection

    store = cache.store_for(root)
    out = _proj_arrays(Projection.load(map_path(store, run_id)))
    if store.has(run_id, MAP_ROWS_NAME, ".npz"):
        try:
            out.update({f"{k}_rows": v for k, v in store.load_arrays(run_id, MAP_ROWS_NAME).items()})
        except (OSError, ValueError):
            pass
    return out


@st.cache_data(max_entries=8, show_spinner="Computing a PCA preview…")
def pca_map(root: str, run_id: str, version: float) -> dict[str, np.ndarray]:
    from eos_core.projection import fit_projection

    p1 = cache.phase1_cached(root, run_id, version)
    emb = p1.embeddings
    return _proj_arrays(fit_projection(emb.train_emb, method="pca", extra={"test": emb.test_emb}, seed=0))


def get_map(run_id: str, *, start: bool = True) -> tuple[dict[str, np.ndarray], str, Job | None]:
    """The run's 2-D map: ``(arrays, kind, job)``.

    ``kind="umap"`` when the saved UMAP map exists (loaded in well under a second); otherwise a
    PCA preview (``kind="pca"``) while a background job computes and saves the UMAP map (shared
    by every session looking at this run).
    """
    store, root = cache.get_store(), cache.runs_root()
    path = map_path(store, run_id)
    if path.exists():
        return saved_map(root, run_id, path.stat().st_mtime), "umap", None
    job = registry().find(f"map:{root}:{run_id}")
    if job is not None and job.status in ("finished", "cancelled") and not path.exists():
        registry().forget(job.id)  # the map file went away (run folder cleaned): compute again
        job = None
    if job is None and start:
        import_engine()

        def work(j: Job) -> dict:
            compute_and_save_map(cache.plain_store(root), run_id)
            return {"run_id": run_id}

        job = registry().submit("map", f"UMAP map of {run_id}", work, key=f"map:{root}:{run_id}", heavy=False)
        job.run_id = run_id
    if job is not None and job.status == "finished" and path.exists():
        return saved_map(root, run_id, path.stat().st_mtime), "umap", None
    return pca_map(root, run_id, cache.version(store, run_id)), "pca", job

