"""Which background job of the app made a run: ``job.json`` in the run folder.

The app's jobs live in the server's memory, so after a restart a page URL's ``job=<id>`` names
nothing. The id recorded with the run tells a job that once ran here (its run says what it kept)
from an id this store never saw (a mistyped or foreign link).
"""

from __future__ import annotations

import re

from ..errors import EOSError
from ._store import RunStore

JOB_ARTIFACT = "job"  # job.json: {"job": "<16 hex digits>"}
JOB_ID_RE = re.compile(r"^[0-9a-f]{16}$")


def tag_run(store: RunStore, run_id: str, job_id: str) -> None:
    """Record that app job ``job_id`` made run ``run_id`` (a seeds job tags each of its runs)."""
    store.save_json(run_id, JOB_ARTIFACT, {"job": str(job_id)})


def job_of_run(store: RunStore, run_id: str) -> str | None:
    """The job id recorded with ``run_id``; None when none is (a CLI run) or it is unreadable."""
    try:
        if not store.has(run_id, JOB_ARTIFACT, ".json"):
            return None
        obj = store.load_json(run_id, JOB_ARTIFACT)
    except EOSError:
        return None
    job = obj.get("job") if isinstance(obj, dict) else None
    return job if isinstance(job, str) and JOB_ID_RE.match(job) else None


def run_of_job(store: RunStore, job_id: str, *, hint: str | None = None, limit: int = 500) -> str | None:
    """The newest run that ``job_id`` made, or None.

    Parameters
    ----------
    hint : str, optional
        A run to try first (the page URL's ``run=``, which follows the job's run).
    limit : int
        Runs read at most, newest first (one small file each).
    """
    if not JOB_ID_RE.match(str(job_id)):
        return None
    if hint and job_of_run(store, hint) == job_id:
        return hint
    try:
        runs = store.list_runs()[:limit]
    except EOSError:
        return None
    return next((r.id for r in runs if job_of_run(store, r.id) == job_id), None)
