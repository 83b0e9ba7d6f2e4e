"""Ratio studies on the app side: read saved study records, name them, describe a running study job.

The records are small JSON files written by :mod:`eos_core.study` (the engine owns them and their
summary); this module only reads them for page 5 and words what a study job is doing.
"""

from __future__ import annotations

import time
from typing import Any

from eos_core.errors import EOSError
from eos_core.events import EpochDone, MethodStarted
from eos_core.names import DATASET_NAMES
from eos_core.run_labels import ratio_label, run_labels
from ui import cache
from ui.jobs import Job
from ui.labels import method_name


def list_studies() -> tuple[list[Any], list[str]]:
    """``(records newest first, ids of damaged records)`` of the current runs folder."""
    from eos_core.study import list_studies as engine_list

    damaged: list[str] = []
    return engine_list(cache.get_store(), damaged=damaged), damaged


def load_study(study_id: str) -> Any:
    """One study record (``eos_core.study.StudyRecord``); ``DamagedStudy`` with one sentence."""
    from eos_core.study import load_study as engine_load

    return engine_load(cache.get_store(), study_id)


def study_status(rec: Any) -> str:
    """The study's status as it is now (``eos_core.study.current_status``: "interrupted" after a crash)."""
    from eos_core.study import current_status

    return current_status(cache.get_store(), rec)


def study_label(rec: Any) -> str:
    """One line naming a study by what it is: dataset, ratios, seeds, epochs, status, date."""
    base = rec.config.base
    ratios = ", ".join(f"{r:g}" for r in rec.config.ratios)
    n = len(rec.config.seeds)
    when = time.strftime("%m-%d %H:%M", time.localtime(rec.created))
    return (f"{DATASET_NAMES.get(base.data.dataset, base.data.dataset)} · ρ {ratios} · {n} seed{'s' if n > 1 else ''}"
            f" · {base.train.epochs} epochs · {study_status(rec)} · {when}")


def study_run_labels(rec: Any) -> dict[str, str]:
    """run id -> its label among the study's runs (what differs: "ρ=10 · seed 1")."""
    store = cache.get_store()
    configs, ids = [], []
    for r in rec.runs:
        try:
            configs.append(store.get_run(r["run_id"]).config)
        except EOSError:  # a deleted run: named from the record
            configs.append({"data": {"ratio": r["ratio"], "seed": r["seed"]},
                            "train": {"seed": r["seed"]}, "head": {"seed": r["seed"]}})
        ids.append(r["run_id"])
    return dict(zip(ids, run_labels(configs), strict=True))


def progress_fraction(job: Job) -> float:
    """The share of a study job done: finished runs plus the current run's phase-1 epochs."""
    run = job.last("study_run")
    if run is None:
        return 0.0
    start = job.progress.index(run)
    epoch = next((p for p in reversed(job.progress[start:]) if p.get("phase") == EpochDone.kind), None)
    inner = 0.8 * epoch["epoch"] / max(1, epoch["epochs"]) if epoch else 0.0
    if any(p.get("phase") == MethodStarted.kind for p in job.progress[start:]):
        inner = 0.9
    return min(1.0, (run["index"] + inner) / max(1, run["total"]))


def describe(job: Job) -> str:
    """One line on where a study job is: which run (by its ρ and seed) and which phase."""
    if job.status == "queued":
        return "Waiting for another training job on this server to finish…"
    run = job.last("study_run")
    if run is None:
        return "starting…"
    text = f"Run {run['index'] + 1}/{run['total']} · {ratio_label(run['ratio'])} · seed {run['seed']}"
    last = job.last()
    if last is not None and last.get("phase") == EpochDone.kind:
        return text + f" · phase 1, epoch {last['epoch']}/{last['epochs']}"
    if last is not None and last.get("phase") == MethodStarted.kind:
        return text + f" · phases 2–3, {method_name(last['name'])} ({last['index'] + 1}/{last['total']})"
    return text
