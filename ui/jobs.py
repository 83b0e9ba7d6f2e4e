"""Background jobs as a browser session sees them: which it follows, sees and may cancel.

The jobs themselves (:class:`Job`, the process-wide :class:`JobManager` that :func:`registry` holds,
its thread pools and cancel events) live in :mod:`ui.job_registry`; they are re-exported here, so
pages import every job name from this module.

Who sees and cancels a job. On a server that listens on localhost only (:func:`ui.state.local_server`,
the app's default: one person, one machine) every browser sees the running training jobs on *Setup &
train* and can cancel them — a closed and reopened browser re-attaches without a link. On a server
shared on a network a job records the :func:`ui.state.browser_key` of the browser that started it:
only that browser controls it (cancel); any session that knows its id (a shared ``job=`` URL)
follows it read-only.

Stopping the server (SIGTERM, Ctrl-C) cancels every job (:mod:`ui.shutdown`); the workers are
daemon threads (:mod:`ui.worker_pool`) so the process does not wait for a step that cannot stop.
"""

from __future__ import annotations

from collections.abc import Callable

from ui import state
from ui.job_registry import Job, JobManager, registry

__all__ = ["TRAINING_KINDS", "Job", "JobManager", "registry", "visible_jobs", "current_job", "can_control",
           "submit_followed", "cancel_job", "dismiss"]

TRAINING_KINDS = ("train", "seeds", "study")  # the jobs a page follows (maps are light jobs of their own)


def visible_jobs() -> list[Job]:
    """The running and queued training jobs this session sees and may cancel (running first): every
    one on a localhost-only server, else those this browser started."""
    local, me = state.local_server(), state.browser_key()
    return [j for j in registry().active(TRAINING_KINDS) if local or (j.owner is not None and j.owner == me)]


def current_job() -> Job | None:
    """The job this browser session shows: the newest active job it follows (re-attached after a
    reload via the URL), else the first active job it may see (:func:`visible_jobs`, then followed:
    a reopened browser re-attaches without a link), else the newest job it follows."""
    followed = [j for j in map(registry().get, reversed(state.session_job_ids())) if j is not None]
    for j in followed:
        if j.active:
            return j
    seen = visible_jobs()
    if seen:
        state.follow_job(seen[0].id)
        return seen[0]
    return followed[0] if followed else None


def can_control(job: Job | None) -> bool:
    """Whether this session may cancel ``job``: any browser on a localhost-only server, else only
    the browser that started it (issue 10: a job id travels in URLs)."""
    if job is None:
        return False
    return state.local_server() or (job.owner is not None and job.owner == state.browser_key())


def submit_followed(kind: str, label: str, fn: Callable[[Job], dict | None], **kwargs) -> Job:
    """Submit a job owned by this browser and follow it in this session (and the URL)."""
    job = registry().submit(kind, label, fn, owner=state.browser_key(), **kwargs)
    state.follow_job(job.id)
    return job


def cancel_job(job: Job) -> bool:
    """Cancel ``job`` if this session controls it; returns whether the request was made."""
    if not can_control(job):
        return False
    registry().cancel(job)
    return True


def dismiss() -> None:
    """Stop following this session's jobs (the results panel goes away)."""
    state.unfollow_jobs()

