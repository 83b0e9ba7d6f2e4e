"""The run's 2-D map as the pages read it: the saved UMAP map, or a PCA preview.

The engine computes and saves the map as the last step of a run (``eos_core.maps.compute_map``,
CLI runs included) and owns its format (``eos_core.store.load_map``); this module only reads
it. For an older run saved without a map, :func:`get_map` starts a light background job that calls
the same engine function, and shows a PCA preview meanwhile.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from ui import cache
from ui.jobs import Job, registry
from ui.warmup import import_engine


def map_mtime(store, run_id: str) -> float:
    """Modification time of the run's saved map (0.0 when there is none): the cache key of a map."""
    from eos_core.store import MAP_NAME

    path = store.run_dir(run_id) / f"{MAP_NAME}.npz"
    return path.stat().st_mtime if path.exists() else 0.0


@st.cache_data(max_entries=16, show_spinner=False)
def saved_map(root: str, run_id: str, mtime: float) -> dict[str, np.ndarray]:
    """The saved map as arrays by name: ``train`` (N, 2), ``test`` (M, 2), ``synthetic_<m>``
    (S_m, 2) and ``synthetic_<m>_rows`` (S_m,), the rows of each synthetic set it placed."""
    from eos_core.store import load_map

    m = load_map(cache.store_for(root), run_id)
    if m is None:
        return {}
    out = {"train": m.train, "test": m.test}
    for name, xy in m.synthetic.items():
        out[f"synthetic_{name}"] = xy
        out[f"synthetic_{name}_rows"] = m.synthetic_rows[name]
    return out


@st.cache_data(max_entries=8, show_spinner="Computing a PCA preview…")
def pca_map(root: str, run_id: str, version: float) -> dict[str, np.ndarray]:
    from eos_core.maps import fit_projection

    p1 = cache.phase1_cached(root, run_id, version)
    emb = p1.embeddings
    proj = fit_projection(emb.train_emb, method="pca", extra={"test": emb.test_emb}, seed=0)
    return {"train": proj.train_xy, "test": proj.extra_xy["test"]}


def get_map(run_id: str, *, start: bool = True) -> tuple[dict[str, np.ndarray], str, Job | None]:
    """The run's 2-D map: ``(arrays, kind, job)``.

    ``kind="umap"`` when the saved UMAP map exists (loaded in well under a second); otherwise (a
    run saved before maps were part of runs, or whose map failed) a PCA preview (``kind="pca"``)
    while a background job computes and saves the UMAP map with the engine (shared by every
    session looking at this run).
    """
    store, root = cache.get_store(), cache.runs_root()
    mtime = map_mtime(store, run_id)
    if mtime:
        return saved_map(root, run_id, mtime), "umap", None
    job = registry().find(f"map:{root}:{run_id}")
    if job is not None and job.status in ("finished", "cancelled"):
        registry().forget(job.id)  # the map file went away (run folder cleaned): compute again
        job = None
    if job is None and start:
        import_engine()

        def work(j: Job) -> dict:
            from eos_core.maps import compute_map

            compute_map(cache.plain_store(root), run_id, progress=lambda ev: j.push(ev.to_dict()), cancel=j.cancel)
            return {"run_id": run_id}

        job = registry().submit("map", f"UMAP map of {run_id}", work, key=f"map:{root}:{run_id}", heavy=False)
        job.run_id = run_id
    mtime = map_mtime(store, run_id)
    if job is not None and job.status == "finished" and mtime:
        return saved_map(root, run_id, mtime), "umap", None
    return pca_map(root, run_id, cache.version(store, run_id)), "pca", job

