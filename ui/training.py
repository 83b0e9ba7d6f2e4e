"""Training jobs: the engine's pipeline (``eos_core.pipeline.run_pipeline``) in a background job.

The app runs exactly what the CLI's ``run`` command runs — :func:`train_runs` calls
``run_pipeline`` once per seed with the job's ``progress`` and ``cancel`` — so a run trained here
and one trained from the CLI with the same config hold the same numbers. The app adds only the
run's UMAP map (:mod:`ui.maps`) after the pipeline, and progress events of its own
(``{"phase": "seed", ...}``, ``"phase1_done"``, ``"methods_done"``, ``"map"``).
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from ui import cache
from ui.jobs import Job, submit_followed
from ui.warmup import import_engine, pin_torch_threads


class _RecordingStore:
    """The run store, telling ``on_create`` the id of the run the pipeline creates.

    The pipeline creates its run inside ``run_phase1``; the job needs the id at once (to follow
    the run while phase 1 trains, and to name it if the job dies), not when phase 1 returns.
    """

    def __init__(self, store: Any, on_create: Callable[[str], None]) -> None:
        self._store = store
        self._on_create = on_create

    def create_run(self, *args: Any, **kwargs: Any) -> str:
        run_id = self._store.create_run(*args, **kwargs)
        self._on_create(run_id)
        return run_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def train_runs(cfg_dict: dict, seeds: list[int] | None, *, store: Any, data_dir: str | None = None,
               progress: Callable[[dict], None] | None = None, cancel: threading.Event | None = None,
               with_map: bool = False) -> list[str]:
    """Run the pipeline for ``cfg_dict`` (once, or once per seed with every seed replaced).

    Parameters
    ----------
    cfg_dict : dict
        A ``RunConfig`` as a dict.
    seeds : list of int or None
        None: the config as is; else one run per seed (``data``, ``train`` and ``head`` seeds set).
    store : RunStore
    progress : callable, optional
        Receives the engine's events, plus ``{"phase": "run", "run_id"}`` when a run is created
        and ``{"phase": "seed", "seed", "index", "total"}`` before each seed.
    cancel : threading.Event, optional
        Checked by the engine between epochs and methods, and here between seeds.
    with_map : bool
        Also compute and save each run's UMAP map (page 2 then opens without a job).

    Returns
    -------
    list of str
        The ids of the finished runs, in seed order.
    """
    from eos_core import pipeline
    from eos_core.config import RunConfig
    from eos_core.errors import Cancelled

    def emit(event: dict) -> None:
        if progress is not None:
            progress(event)

    recording = _RecordingStore(store, lambda rid: emit({"phase": "run", "run_id": rid}))
    configs = [cfg_dict] if seeds is None else [cache.with_seed(cfg_dict, s) for s in seeds]
    done: list[str] = []
    for i, d in enumerate(configs):
        if cancel is not None and cancel.is_set():
            raise Cancelled("Cancelled by the user.")
        if seeds is not None:
            emit({"phase": "seed", "seed": int(seeds[i]), "index": i, "total": len(seeds)})
        cfg = RunConfig.from_dict(d)
        cfg.validate()
        result = pipeline.run_pipeline(cfg, store=recording, data_dir=data_dir, progress=progress, cancel=cancel)
        run_id = result.phase1.run_id
        emit({"phase": "methods_done", "run_id": run_id})
        if with_map and run_id:
            from ui.maps import compute_and_save_map

            emit({"phase": "map"})
            try:
                compute_and_save_map(store, run_id)
            except Exception:  # noqa: BLE001 — the map can be computed later on page 2
                emit({"phase": "map_failed", "detail": traceback.format_exc(limit=3)})
        done.append(run_id)
    return done


def _label(cfg_dict: dict) -> str:
    d = cfg_dict.get("data", {})
    return f"{d.get('dataset', '?')} · ρ={cache.fmt_ratio(d.get('ratio'))}"


def start_training(cfg_dict: dict, *, meta: dict | None = None) -> Job:
    """Phases 1–3 for ``cfg_dict`` then the run's UMAP map, in a background job this session
    follows and this browser controls. ``meta`` (classes, train counts) feeds the live charts."""
    root, ddir = cache.runs_root(), cache.data_dir()

    def work(job: Job) -> dict:
        pin_torch_threads()
        ids = train_runs(cfg_dict, None, store=cache.plain_store(root), data_dir=ddir, progress=job.push,
                         cancel=job.cancel, with_map=True)
        return {"run_id": ids[0], "run_ids": ids}

    import_engine()  # torch in the script thread, never first in a worker (see ui.warmup)
    return submit_followed("train", _label(cfg_dict), work, config=cfg_dict, result={"meta": meta or {}})


def start_seeds(cfg_dict: dict, seeds: list[int], *, meta: dict | None = None) -> Job:
    """Train the same config for several seeds, one after the other, in one background job."""
    root, ddir = cache.runs_root(), cache.data_dir()

    def work(job: Job) -> dict:
        pin_torch_threads()
        ids = train_runs(cfg_dict, list(seeds), store=cache.plain_store(root), data_dir=ddir, progress=job.push,
                         cancel=job.cancel)
        return {"run_ids": ids, "run_id": None}

    import_engine()
    label = f"{cfg_dict['data']['dataset']} · seeds {', '.join(map(str, seeds))}"
    return submit_followed("seeds", label, work, config=cfg_dict, result={"meta": meta or {}})


def free_seeds(taken: set[int], n: int) -> list[int]:
    """The ``n`` smallest non-negative seeds not in ``taken``."""
    seeds, s = [], 0
    while len(seeds) < n:
        if s not in taken:
            seeds.append(s)
        s += 1
    return seeds
