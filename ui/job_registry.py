"""The process-wide job registry: :class:`Job` (a unit of background work with a cancel event) and
:class:`JobManager` (``concurrent.futures`` futures on two pools of daemon threads), one of which
:func:`registry` holds for every session.

*Heavy* jobs (training) run on ``$EOS_MAX_JOBS`` workers (default 1: the CPU cores are shared by every
browser session; the rest wait as ``queued``) and *light* jobs (maps) on their own small pool. Every
job has a ``cancel`` event (passed to the engine's ``cancel=``) and a ``done`` event set when it ends
whatever the outcome, so a page or a test awaits it instead of polling.

This module knows nothing of browser sessions: who sees and cancels a job is :mod:`ui.jobs`, built
on it and on :mod:`ui.state`.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from eos_core.errors import Cancelled, EOSError
from ui.shutdown import stop_jobs_at_exit
from ui.worker_pool import WorkerPool

CANCELLED_TEXT = "Cancelled — nothing from this job was lost; finished runs stay in the store."


@dataclass
class Job:
    """A unit of background work. Fields are written by the worker thread and read by pages."""

    id: str
    kind: str
    label: str
    key: str | None = None
    owner: str | None = None  # ui.state.browser_key() of the starting browser
    config: dict | None = None  # the RunConfig dict a training job runs (restores the form)
    status: str = "queued"  # queued | running | finished | failed | cancelled
    stop_reason: str | None = None  # why it was cancelled, for the run store (None: by the user)
    progress: list[dict] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    run_id: str | None = None
    error: str | None = None
    detail: str | None = None
    result: dict = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    future: Future | None = field(default=None, repr=False)
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def push(self, info: dict) -> None:
        """The engine's ``progress`` callback: keep every report (they are small dicts)."""
        info = dict(info)
        info.setdefault("t", time.time())
        with self._changed:
            self.progress.append(info)
            if info.get("run_id"):  # the newest run of the job (several for a seeds job)
                self.run_id = info["run_id"]
            self._changed.notify_all()

    def wait_for_phase(self, phase: str, timeout: float | None = None) -> dict | None:
        """Block until a progress event of ``phase`` arrived (returns it) or the job ended or
        ``timeout`` passed (returns None)."""
        with self._changed:
            self._changed.wait_for(lambda: self.last(phase) is not None or self.done.is_set(), timeout)
            return self.last(phase)

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")

    def last(self, phase: str | None = None) -> dict | None:
        for p in reversed(self.progress):
            if phase is None or p.get("phase") == phase:
                return p
        return None

    def end(self, status: str | None = None, error: str | None = None) -> None:
        """Mark the job ended (optionally with a status and message) and wake every waiter."""
        with self._changed:
            if status is not None:
                self.status, self.error = status, error
            self.finished = time.time()
            self.done.set()
            self._changed.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has ended (True) or ``timeout`` seconds passed (False)."""
        return self.done.wait(timeout)


class JobManager:
    """Process-wide registry of jobs on two pools of daemon threads (heavy and light)."""

    def __init__(self, max_concurrent: int = 1, max_light: int = 2) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._heavy = WorkerPool(max_concurrent, "eos-job")
        self._light = WorkerPool(max_light, "eos-light")

    def get(self, job_id: str | None) -> Job | None:
        if not job_id:
            return None
        with self._lock:
            return self._jobs.get(job_id)

    def find(self, key: str) -> Job | None:
        """The newest job with this dedupe key (whatever its status)."""
        with self._lock:
            found = [j for j in self._jobs.values() if j.key == key]
        return max(found, key=lambda j: j.created) if found else None

    def active(self, kinds: tuple[str, ...] | None = None) -> list[Job]:
        """Running then queued jobs (of ``kinds``), newest first within each."""
        with self._lock:
            found = [j for j in self._jobs.values() if j.active and (kinds is None or j.kind in kinds)]
        return sorted(found, key=lambda j: (j.status == "running", j.created), reverse=True)

    def forget(self, job_id: str) -> None:
        """Drop a finished job from the registry (e.g. to retry a failed map)."""
        with self._lock:
            j = self._jobs.get(job_id)
            if j is not None and not j.active:
                del self._jobs[job_id]

    def submit(self, kind: str, label: str, fn: Callable[[Job], dict | None], *, key: str | None = None,
               heavy: bool = True, owner: str | None = None, config: dict | None = None,
               result: dict | None = None) -> Job:
        """Queue ``fn(job)``; its returned dict is merged into ``job.result``."""
        job = Job(id=secrets.token_hex(8), kind=kind, label=label, key=key, owner=owner, config=config,
                  result=dict(result or {}))
        with self._lock:
            self._jobs[job.id] = job
            self._prune()
        job.future = (self._heavy if heavy else self._light).submit(self._run, job, fn)
        return job

    def cancel(self, job: Job, reason: str | None = None) -> None:
        """Ask a job to stop: a queued job never starts, a running one stops at its next check.
        ``reason`` (default: the user) is what a training job records in the run store."""
        if reason is not None and job.stop_reason is None:
            job.stop_reason = reason
        job.cancel.set()
        if job.future is not None and job.future.cancel():  # still queued: it will never run
            job.end("cancelled", CANCELLED_TEXT)

    def shutdown(self, message: str, timeout: float) -> list[Job]:
        """Cancel every job and wait up to ``timeout`` seconds in all for them to end.

        Returns
        -------
        list of Job
            The jobs still running at the deadline.
        """
        jobs = self.active()
        for j in jobs:
            self.cancel(j, message)
        deadline = time.monotonic() + timeout
        for j in jobs:
            j.wait(max(0.0, deadline - time.monotonic()))
        return [j for j in jobs if not j.done.is_set()]

    @staticmethod
    def _run(job: Job, fn: Callable[[Job], dict | None]) -> None:
        if job.cancel.is_set():
            job.end("cancelled", CANCELLED_TEXT)
            return
        try:
            job.status, job.started = "running", time.time()
            result = fn(job)
            if job.cancel.is_set() and result is None:
                raise Cancelled("Cancelled by the user.")
            job.result = {**job.result, **(result or {})}
            job.status = "finished"
        except Cancelled:
            job.status, job.error = "cancelled", CANCELLED_TEXT
        except EOSError as err:
            job.status, job.error = "failed", str(err)
        except Exception as err:  # noqa: BLE001 — shown to the user as one line, details folded
            job.status = "failed"
            job.error = f"Unexpected error ({type(err).__name__}): {err}"
            job.detail = traceback.format_exc()
        finally:
            job.end()

    def _prune(self, keep: int = 200) -> None:
        if len(self._jobs) <= keep:
            return
        done = sorted((j for j in self._jobs.values() if not j.active), key=lambda j: j.created)
        for j in done[: len(self._jobs) - keep]:
            self._jobs.pop(j.id, None)


_REGISTRY: JobManager | None = None
_REGISTRY_LOCK = threading.Lock()


def registry() -> JobManager:
    """The process's job manager (a plain singleton, not a Streamlit cache: worker threads and
    tests reach it outside a script run)."""
    global _REGISTRY
    with _REGISTRY_LOCK:
        if _REGISTRY is None:
            _REGISTRY = JobManager(int(os.environ.get("EOS_MAX_JOBS", "1")))
            stop_jobs_at_exit(_REGISTRY)  # the server stops: its jobs are cancelled, not waited for
        return _REGISTRY
