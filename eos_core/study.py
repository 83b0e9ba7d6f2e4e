"""A ratio study: one config trained at several imbalance ratios ρ (and seeds), then summarised.

The paper's first claim is that the smaller a class, the wider its train/test gap in embedding
space; its second, that EOS helps most where that gap is wide. A study makes both visible across
ρ: :func:`run_study` runs :func:`eos_core.pipeline.run_pipeline` once per (ρ, seed) of the grid,
each a normal saved run, and keeps a small study record (``<runs>/studies/<id>.json``, written by
the engine's atomic writer after every run, so a crash keeps what finished). :func:`summarize`
computes every number the study view draws from the runs' own saved files: per ρ, each class's
gap by training size (mean over seeds, with the mean of the per-seed null bands) and each
method's paired difference from cRT (:func:`eos_core.evaluation.aggregate`, t-intervals over seeds).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import RunConfig
from .errors import Cancelled, ConfigError, EOSError
from .evaluation._compare import aggregate
from .events import Event, Progress, StudyRunStarted, emit
from .names import GAP_MEASURES
from .store._atomic import atomic_write_bytes
from .store._index import RUN_ID_RE
from .store._results import load_gap, load_method_summary, load_phase1_summary
from .store._store import RunStore, new_run_id

__all__ = ["DamagedStudy", "StudyConfig", "StudyRecord", "StudyResult", "StudyRunStarted", "current_status",
           "list_studies", "load_study", "run_study", "save_study", "summarize"]

STUDIES = "studies"   # the folder of study records inside the runs folder
MAX_GRID = 60         # runs in one study: a typo like --ratios 1,10,100 --seeds 0-99 is refused, not queued
STATUSES = ("running", "finished", "failed", "cancelled")
_log = logging.getLogger(__name__)


class DamagedStudy(EOSError):
    """A study record that cannot be read (other studies and every run keep working)."""


@dataclass
class StudyConfig:
    """The grid: ``base`` trained at every ratio of ``ratios`` for every seed of ``seeds``.

    ``with_map`` is off by default: a study is read through its numbers, and a run's map is made
    on demand when the run is opened on the Embedding gap page (UMAP costs seconds per run).
    """

    base: RunConfig = field(default_factory=RunConfig)
    ratios: list[float] = field(default_factory=lambda: [1.0, 10.0, 100.0])
    seeds: list[int] = field(default_factory=lambda: [0])
    with_map: bool = False

    def validate(self) -> None:
        if not isinstance(self.ratios, (list, tuple)) or not self.ratios:
            raise ConfigError("A ratio study needs at least one imbalance ratio.")
        if len({float(r) for r in self.ratios}) != len(self.ratios):
            raise ConfigError(f"The study's ratios must be distinct, got {list(self.ratios)!r}.")
        if not isinstance(self.seeds, (list, tuple)) or not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"The study's seeds must be distinct and at least one, got {self.seeds!r}.")
        if self.base.data.profile == "as_is":
            raise ConfigError("A ratio study needs the exp or step profile: the as_is profile ignores ρ.")
        if len(self.ratios) * len(self.seeds) > MAX_GRID:
            raise ConfigError(f"A study runs at most {MAX_GRID} runs; {len(self.ratios)} ratios × "
                              f"{len(self.seeds)} seeds is {len(self.ratios) * len(self.seeds)}.")
        for ratio, seed in self.grid():  # each run's own rules (ratio in [1, 1000], seed range, ...)
            self.run_config(ratio, seed).validate()

    def grid(self) -> list[tuple[float, int]]:
        """``(ratio, seed)`` in run order: ratios as given, every seed of one ratio together."""
        return [(float(r), int(s)) for r in self.ratios for s in self.seeds]

    def run_config(self, ratio: float, seed: int) -> RunConfig:
        """The base config at ``ratio`` with its one seed set to ``seed`` (:meth:`RunConfig.with_seed`)."""
        base = dataclasses.replace(self.base, data=dataclasses.replace(self.base.data, ratio=float(ratio)))
        return base.with_seed(seed)

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base.to_dict(), "ratios": [float(r) for r in self.ratios],
                "seeds": [int(s) for s in self.seeds], "with_map": bool(self.with_map)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StudyConfig:
        if not isinstance(d, dict):
            raise ConfigError(f"A StudyConfig must be a JSON object (a dict), got {type(d).__name__}.")
        ratios, seeds = d.get("ratios", []), d.get("seeds", [0])
        if not isinstance(ratios, (list, tuple)) or not all(isinstance(r, (int, float)) for r in ratios):
            raise ConfigError(f"The study's ratios must be a list of numbers, got {ratios!r}.")
        if not isinstance(seeds, (list, tuple)) or not all(isinstance(s, int) and not isinstance(s, bool)
                                                           for s in seeds):
            raise ConfigError(f"The study's seeds must be a list of integers, got {seeds!r}.")
        return cls(base=RunConfig.from_dict(d.get("base", {})), ratios=[float(r) for r in ratios],
                   seeds=[int(s) for s in seeds], with_map=bool(d.get("with_map", False)))


@dataclass
class StudyRecord:
    """What ``<runs>/studies/<study_id>.json`` holds.

    ``runs`` lists ``{"ratio", "seed", "run_id"}`` for every run the study created (a failed or
    cancelled run too: the store knows its status); ``summary`` is :func:`summarize`'s dict of the
    finished ones, refreshed after every run.
    """

    study_id: str
    created: float
    config: StudyConfig
    runs: list[dict[str, Any]] = field(default_factory=list)
    status: str = "running"
    message: str = ""
    updated: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"study_id": self.study_id, "created": self.created, "updated": self.updated,
                "status": self.status, "message": self.message, "config": self.config.to_dict(),
                "runs": list(self.runs), "summary": self.summary}


@dataclass
class StudyResult:
    record: StudyRecord
    results: list[Any]  # one eos_core.pipeline.PipelineResult per finished run, in grid order


# --------------------------------------------------------------------------- the record on disk

def _path(store: RunStore, study_id: str) -> Path:
    if not isinstance(study_id, str) or not RUN_ID_RE.match(study_id):
        raise DamagedStudy(f"{str(study_id)[:40]!r} is not a study id.")  # user text never becomes a path
    return store.root / STUDIES / f"{study_id}.json"


def save_study(store: RunStore, record: StudyRecord) -> None:
    """Write the record atomically (a reader sees the old or the new file, never half of one)."""
    path = _path(store, record.study_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    record.updated = time.time()
    atomic_write_bytes(path, json.dumps(record.to_dict(), allow_nan=False).encode())


def load_study(store: RunStore, study_id: str) -> StudyRecord:
    """The saved record of ``study_id``; :class:`DamagedStudy` (one sentence) when missing or unreadable."""
    path = _path(store, study_id)
    try:
        d = json.loads(path.read_text())
    except FileNotFoundError:
        raise DamagedStudy(f"There is no study {study_id} in the runs folder.") from None
    except (OSError, ValueError, UnicodeDecodeError):
        raise DamagedStudy(f"Study {study_id} cannot be read: its record is damaged; its runs are still "
                           "listed with the other runs.") from None
    try:
        if not isinstance(d, dict) or d.get("study_id") != study_id or d.get("status") not in STATUSES \
                or not isinstance(d.get("runs"), list) or not isinstance(d.get("summary"), dict):
            raise ValueError("fields")
        runs = [{"ratio": float(r["ratio"]), "seed": int(r["seed"]), "run_id": str(r["run_id"])} for r in d["runs"]]
        return StudyRecord(study_id=study_id, created=float(d["created"]), config=StudyConfig.from_dict(d["config"]),
                           runs=runs, status=d["status"], message=str(d.get("message", "")),
                           updated=float(d.get("updated", d["created"])), summary=d["summary"])
    except (KeyError, TypeError, ValueError, ConfigError):
        raise DamagedStudy(f"Study {study_id} cannot be read: its record is damaged; its runs are still "
                           "listed with the other runs.") from None


def list_studies(store: RunStore, *, damaged: list[str] | None = None) -> list[StudyRecord]:
    """Every readable study, newest first; the ids of unreadable ones are appended to ``damaged``."""
    folder = store.root / STUDIES
    if not folder.is_dir():
        return []
    out = []
    for p in folder.glob("*.json"):
        if not RUN_ID_RE.match(p.stem):
            continue
        try:
            out.append(load_study(store, p.stem))
        except DamagedStudy:
            if damaged is not None:
                damaged.append(p.stem)
    return sorted(out, key=lambda r: (r.created, r.study_id), reverse=True)


def current_status(store: RunStore, record: StudyRecord) -> str:
    """The record's status, or ``"interrupted"`` when it says running but its newest run's process
    stopped (the store reports a run whose heartbeat ended ``interrupted``): a study's own record
    is written by its process, which cannot write after it died."""
    if record.status != "running" or not record.runs:
        return record.status
    try:
        newest = store.get_run(record.runs[-1]["run_id"]).status
    except EOSError as err:  # its newest run was deleted or is damaged: the record is all there is
        _log.debug("Study %s: status from its record (%s).", record.study_id, err)
        return record.status
    return "interrupted" if newest == "interrupted" else record.status


# --------------------------------------------------------------------------- the summary

def _mean(values: Sequence[float | None]) -> float | None:
    """Mean of the finite values (None when there is none: the measure is undefined for the class)."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return math.fsum(vals) / len(vals) if vals else None


def _ratio_summary(ratio: float, runs: list[dict[str, Any]], phase1: list[dict], gaps: list[dict],
                   methods: list[dict]) -> dict[str, Any]:
    rows = [g["per_class"] for g in gaps]
    n_classes = len(rows[0])

    def per_class(key: str) -> list[float | None]:
        return [_mean([r[c].get(key) for r in rows]) for c in range(n_classes)]

    agg = aggregate(methods)
    return {
        "ratio": ratio,
        "seeds": [r["seed"] for r in runs],
        "run_ids": [r["run_id"] for r in runs],
        "classes": phase1[0]["classes"],
        # class sizes depend on the dataset and ρ only (imbalance.class_counts), not on the seed
        "train_count": [int(r["train_count"]) for r in rows[0]],
        "gap": {m: per_class(m) for m in GAP_MEASURES},
        "gap_p5": {m: per_class(f"{m}_p5") for m in GAP_MEASURES},
        "gap_p95": {m: per_class(f"{m}_p95") for m in GAP_MEASURES},
        "size_gap_spearman": {m: _mean([(g.get("size_gap_spearman") or {}).get(m) for g in gaps])
                              for m in GAP_MEASURES},
        # each seed's permutation p-value of that correlation (a mean of p-values is no p-value)
        "size_gap_spearman_p": {m: [(g.get("size_gap_spearman_p") or {}).get(m) for g in gaps] for m in GAP_MEASURES},
        "n_seeds": agg["n_seeds"],
        "methods": agg["methods"],
    }


def summarize(store: RunStore, runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The study's numbers, read from its finished runs' saved files.

    Parameters
    ----------
    store : RunStore
    runs : sequence of ``{"ratio", "seed", "run_id"}`` (a record's ``runs``)

    Returns
    -------
    dict
        ``{"measures": GAP_MEASURES, "ratios": [per ratio, ascending]}``; per ratio: ``ratio``,
        ``seeds``, ``run_ids`` (the finished runs used), ``classes``, ``train_count`` (C,),
        ``gap`` / ``gap_p5`` / ``gap_p95``: ``{measure: (C,) mean over seeds of the class's value,
        and of its null band's 5th / 95th percentile}`` (None where undefined),
        ``size_gap_spearman``: ``{measure: mean over seeds}``, ``n_seeds``, and ``methods``:
        :func:`eos_core.evaluation.aggregate`'s per-method dict (``metrics`` and ``delta_vs_crt``
        intervals; an interval needs two seeds). Runs that did not finish are left out.
    """
    by_ratio: dict[float, list[tuple[dict, dict, dict, dict]]] = {}
    for r in runs:
        try:
            if store.get_run(r["run_id"]).status != "finished":
                continue
            p1 = load_phase1_summary(store, r["run_id"])
            gap, methods = load_gap(store, r["run_id"]), load_method_summary(store, r["run_id"])
        except EOSError as err:  # a deleted or damaged run: the study shows the others
            _log.warning("The study summary leaves out run %s: %s", r["run_id"], err)
            continue
        if gap.get("per_class") and methods:
            by_ratio.setdefault(float(r["ratio"]), []).append((r, p1, gap, methods))
    out = []
    for ratio in sorted(by_ratio):
        rows = by_ratio[ratio]
        out.append(_ratio_summary(ratio, [x[0] for x in rows], [x[1] for x in rows], [x[2] for x in rows],
                                  [x[3] for x in rows]))
    return {"measures": list(GAP_MEASURES), "ratios": out}


# --------------------------------------------------------------------------- running one

def run_study(cfg: StudyConfig, *, store: RunStore, data_dir: str | None = None, progress: Progress | None = None,
              cancel: threading.Event | None = None) -> StudyResult:
    """Run the whole grid, saving every run and the study record as it goes.

    Parameters
    ----------
    cfg : StudyConfig
    store : RunStore
        Every run is saved there, and the record under ``<store root>/studies/``.
    progress : callable, optional
        Receives :class:`StudyRunStarted` before each run, then that run's pipeline events.
    cancel : threading.Event, optional
        Passed to each run (checked between epochs and methods) and checked between runs; a
        cancelled study keeps its finished runs and is recorded ``"cancelled"``.

    Returns
    -------
    StudyResult
        The final record (status ``"finished"``) and every run's ``PipelineResult``.
    """
    from .pipeline import run_pipeline  # deferred: imports torch (seconds); listing studies needs none

    cfg.validate()
    record = StudyRecord(study_id=new_run_id(), created=time.time(), config=cfg)
    save_study(store, record)
    grid = cfg.grid()
    results = []
    try:
        for i, (ratio, seed) in enumerate(grid):
            if cancel is not None and cancel.is_set():
                raise Cancelled("Cancelled between the study's runs.")
            emit(progress, StudyRunStarted(record.study_id, ratio, seed, i, len(grid)))
            entry = {"ratio": ratio, "seed": seed, "run_id": None}

            def note_run(event: Event, entry: dict = entry) -> None:
                if getattr(event, "run_id", None) and entry["run_id"] is None:  # RunCreated: record it at once
                    entry["run_id"] = event.run_id
                    record.runs.append(entry)
                    save_study(store, record)
                emit(progress, event)

            res = run_pipeline(cfg.run_config(ratio, seed), store=store, data_dir=data_dir, progress=note_run,
                               cancel=cancel, with_map=cfg.with_map)
            results.append(res)
            record.summary = summarize(store, record.runs)
            save_study(store, record)
        record.status = "finished"
    except BaseException as err:
        record.status = "cancelled" if isinstance(err, (Cancelled, KeyboardInterrupt)) else "failed"
        record.message = str(err) if isinstance(err, EOSError) else f"{type(err).__name__}: {err}"
        record.summary = summarize(store, record.runs)
        save_study(store, record)
        raise
    save_study(store, record)
    return StudyResult(record, results)
