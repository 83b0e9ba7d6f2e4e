"""Training jobs: the engine's pipeline (``eos_core.pipeline.run_pipeline``) in a background job.

The app runs exactly what the CLI's ``run`` command runs — :func:`train_runs` calls
``run_pipeline`` once per seed with the job's ``progress`` and ``cancel`` — so a run trained here
and one trained from the CLI with the same config hold the same numbers. The app adds only the
background job around it (its log, its cancel button, the seeds one after the other); even the UMAP
map is computed by ``run_pipeline`` itself. Progress is the engine's typed events
(:mod:`eos_core.events`), kept in the job's log as their ``to_dict()`` form; each run records the
job that made it (:mod:`eos_core.store._job_tags`), so a ``job=`` link outliving a server restart is told
from one that never existed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ui import cache
from ui.jobs import Job, submit_followed
from ui.warmup import import_engine, pin_torch_threads


def train_runs(cfg_dict: dict, seeds: list[int] | None, *, store: Any, data_dir: str | None = None,
               progress: Callable[[dict], None] | None = None, cancel: threading.Event | None = None,
               with_map: bool = True) -> list[str]:
    """Run the pipeline for ``cfg_dict`` (once, or once per seed with every seed replaced).

    Parameters
    ----------
    cfg_dict : dict
        A ``RunConfig`` as a dict.
    seeds : list of int or None
        None: the config as is; else one run per seed (``data``, ``train`` and ``head`` seeds set).
    store : RunStore
    progress : callable, optional
        Receives every engine event (:mod:`eos_core.events`) as its ``to_dict()``, plus
        ``SeedStarted`` before each seed and ``RunDone`` after each run's phase 3.
    cancel : threading.Event, optional
        Checked by the engine per training and embedding batch, per method and head epoch, and
        here between seeds.
    with_map : bool
        Let ``run_pipeline`` compute and save each run's UMAP map (page 2 then opens without a job).

    Returns
    -------
    list of str
        The ids of the finished runs, in seed order.
    """
    from eos_core import pipeline
    from eos_core.config import RunConfig
    from eos_core.errors import Cancelled
    from eos_core.events import Event, RunDone, SeedStarted

    def emit(event: Event) -> None:
        if progress is not None:
            progress(event.to_dict())

    base = RunConfig.from_dict(cfg_dict)
    configs = [base] if seeds is None else [base.with_seed(s) for s in seeds]
    done: list[str] = []
    for i, cfg in enumerate(configs):
        if cancel is not None and cancel.is_set():
            raise Cancelled("Cancelled by the user.")
        if seeds is not None:
            emit(SeedStarted(int(seeds[i]), i, len(seeds)))
        cfg.validate()
        result = pipeline.run_pipeline(cfg, store=store, data_dir=data_dir, progress=emit, cancel=cancel,
                                       with_map=with_map)
        run_id = result.phase1.run_id
        emit(RunDone(run_id))
        done.append(run_id)
    return done


def _label(cfg_dict: dict) -> str:
    d = cfg_dict.get("data", {})
    return f"{cache.dataset_label(d)} · ρ={cache.fmt_ratio(d.get('ratio'))}"


def _job_progress(job: Job, store: Any) -> Callable[[dict], None]:
    """The job's log as the engine's progress callback (events as dicts); each ``RunCreated``
    also tags its run with the job id (:mod:`eos_core.store._job_tags`)."""
    from eos_core.errors import EOSError
    from eos_core.events import RunCreated
    from eos_core.store import tag_run

    def progress(info: dict) -> None:
        if info.get("phase") == RunCreated.kind:
            try:
                tag_run(store, info["run_id"], job.id)
            except EOSError:  # only the message for a stale job= link needs the tag: train on
                pass
        job.push(info)

    return progress


def _note_stop_reason(job: Job, store: Any) -> None:
    """After a cancel: a run cancelled because the server stopped says so in the run store (the
    engine records every cancel as the user's)."""
    from eos_core.errors import EOSError

    if job.stop_reason and job.run_id:
        try:
            if store.get_run(job.run_id).status == "cancelled":
                store.cancel_run(job.run_id, message=job.stop_reason)
        except EOSError:  # the run stays recorded as cancelled, with the engine's words
            pass


def _job_work(cfg_dict: dict, seeds: list[int] | None) -> Callable[[Job], dict]:
    """The body of a training job: :func:`train_runs` with the job's log and cancel event."""
    root, ddir = cache.runs_root(), cache.data_dir()

    def work(job: Job) -> dict:
        from eos_core.errors import Cancelled

        pin_torch_threads()
        store = cache.plain_store(root)
        try:
            ids = train_runs(cfg_dict, seeds, store=store, data_dir=ddir, progress=_job_progress(job, store),
                             cancel=job.cancel)
        except Cancelled:
            _note_stop_reason(job, store)
            raise
        return {"run_id": ids[0] if seeds is None else None, "run_ids": ids}

    return work


def start_training(cfg_dict: dict, *, meta: dict | None = None) -> Job:
    """Phases 1–3 for ``cfg_dict`` then the run's UMAP map, in a background job this session
    follows and this browser controls. ``meta`` (classes, train counts) feeds the live charts."""
    work = _job_work(cfg_dict, None)
    import_engine()  # torch in the script thread, never first in a worker (see ui.warmup)
    return submit_followed("train", _label(cfg_dict), work, config=cfg_dict, result={"meta": meta or {}})


def start_seeds(cfg_dict: dict, seeds: list[int], *, meta: dict | None = None) -> Job:
    """Train the same config for several seeds, one after the other, in one background job."""
    work = _job_work(cfg_dict, list(seeds))
    import_engine()
    label = f"{cache.dataset_label(cfg_dict['data'])} · seeds {', '.join(map(str, seeds))}"
    return submit_followed("seeds", label, work, config=cfg_dict, result={"meta": meta or {}})


def free_seeds(taken: set[int], n: int) -> list[int]:
    """The ``n`` smallest non-negative seeds not in ``taken``."""
    seeds, s = [], 0
    while len(seeds) < n:
        if s not in taken:
            seeds.append(s)
        s += 1
    return seeds


def start_study(study_cfg: dict) -> Job:
    """A ratio study (``eos_core.study.run_study``: every (ρ, seed) of the grid through
    ``run_pipeline``) in one background job this session follows and this browser controls.
    ``study_cfg`` is a ``StudyConfig`` dict; the job's result holds ``study_id`` and ``run_ids``."""
    from eos_core.study import StudyConfig

    cfg = StudyConfig.from_dict(study_cfg)
    cfg.validate()  # a bad grid fails here, in the page, with one sentence
    root, ddir = cache.runs_root(), cache.data_dir()

    def work(job: Job) -> dict:
        from eos_core.errors import Cancelled
        from eos_core.study import run_study

        pin_torch_threads()
        store = cache.plain_store(root)
        progress = _job_progress(job, store)
        try:
            res = run_study(cfg, store=store, data_dir=ddir, progress=lambda e: progress(e.to_dict()),
                            cancel=job.cancel)
        except Cancelled:
            _note_stop_reason(job, store)
            raise
        return {"study_id": res.record.study_id, "run_ids": [r["run_id"] for r in res.record.runs], "run_id": None}

    import_engine()
    d = study_cfg["base"]["data"]
    label = (f"{d.get('dataset', '?')} · ratio study ρ " + ", ".join(cache.fmt_ratio(r) for r in cfg.ratios)
             + f" · {len(cfg.seeds)} seed(s)")
    return submit_followed("study", label, work, config=None, result={})
