"""Session and URL state: the chosen run and this session's jobs, mirrored in the page URL.

* ``st.session_state[RUN_KEY]`` mirrored in ``st.query_params["run"]``: a run chosen on one page
  stays chosen on the others and survives a reload.
* ``st.session_state[JOBS_KEY]`` (the job ids this browser session follows) mirrored in
  ``st.query_params["job"]``, so a reload re-attaches to the job. Following a job is not
  controlling it: on a localhost-only server (:func:`local_server`) every browser may cancel,
  else :func:`browser_key` says who may (see :mod:`ui.jobs`).
"""

from __future__ import annotations

import binascii
import hashlib
import ipaddress

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from eos_core.store import JOB_ID_RE, RUN_ID_RE
from ui.job_registry import registry

RUN_KEY = "eos_run_id"
JOBS_KEY = "eos_job_ids"
LOST_JOB_KEY = "eos_lost_job"
_XSRF_COOKIE = "_streamlit_xsrf"


BAD_RUN_KEY = "eos_bad_run_param"


def sync_session() -> None:
    """Restore the run / job ids from the URL into the session (after a reload) and write the
    session's choices back into the URL (page switches drop query parameters)."""
    ss = st.session_state
    if RUN_KEY not in ss:
        q = st.query_params.get("run")
        ss[RUN_KEY] = q if isinstance(q, str) and RUN_ID_RE.match(q) else None
        # a run id in the URL that is no run id at all: the run picker says so instead of switching silently
        ss[BAD_RUN_KEY] = q[:40] if isinstance(q, str) and q and ss[RUN_KEY] is None else None
    if JOBS_KEY not in ss:
        q = st.query_params.get("job")
        known = isinstance(q, str) and JOB_ID_RE.match(q) is not None
        ss[JOBS_KEY] = [q] if known and registry().get(q) else []
        # A well-formed id the registry does not know: the server restarted under that job (jobs
        # live in memory). The URL's run is the job's run (pages set it as soon as the job has
        # created one, and clear it when a job starts): ui.widgets.lost_job_banner names it.
        ss[LOST_JOB_KEY] = {"job": q, "run": ss[RUN_KEY]} if known and not ss[JOBS_KEY] else None
    write_query_params()


def write_query_params() -> None:
    """Put the session's run and newest job into the URL (and nothing stale)."""
    ss = st.session_state
    want = {}
    if ss.get(RUN_KEY):
        want["run"] = ss[RUN_KEY]
    if ss.get(JOBS_KEY):
        want["job"] = ss[JOBS_KEY][-1]
    for k in ("run", "job"):
        if k in want:
            if st.query_params.get(k) != want[k]:
                st.query_params[k] = want[k]
        elif k in st.query_params:
            del st.query_params[k]


def current_run_id() -> str | None:
    sync_session()
    return st.session_state.get(RUN_KEY)


def set_run(run_id: str | None) -> None:
    st.session_state[RUN_KEY] = run_id
    write_query_params()


def session_job_ids() -> list[str]:
    sync_session()
    return list(st.session_state.get(JOBS_KEY, []))


def follow_job(job_id: str) -> None:
    """Make ``job_id`` this session's newest job (kept in the session and the URL)."""
    ids = [j for j in st.session_state.get(JOBS_KEY, []) if j != job_id] + [job_id]
    st.session_state[JOBS_KEY] = ids[-20:]
    write_query_params()


def unfollow_jobs() -> None:
    st.session_state[JOBS_KEY] = []
    write_query_params()


def is_loopback(address: str | None) -> bool:
    """Whether a ``server.address`` value listens on this machine only: ``localhost`` or a loopback
    IP. Unset or empty (every interface), a host name or a Unix socket: False (may be shared)."""
    if not isinstance(address, str) or not address.strip():
        return False
    a = address.strip().strip("[]")
    if a.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(a).is_loopback
    except ValueError:
        return False


def local_server() -> bool:
    """Whether this server listens on localhost only (Streamlit's ``server.address``; the app's
    ``.streamlit/config.toml`` sets ``localhost``): one person on one machine, so every browser
    there is that person's and may cancel any job."""
    try:
        return is_loopback(st.get_option("server.address"))
    except Exception:  # noqa: BLE001 — no config (bare import): not known to be local
        return False


def xsrf_token(cookie: str | None) -> bytes | None:
    """The secret token inside Streamlit's ``_streamlit_xsrf`` cookie, or None.

    The cookie is tornado's version-2 XSRF format, ``2|<mask hex>|<masked token hex>|<time>``,
    re-masked on every page load while the token stays the same for the browser: the token, not
    the cookie text, identifies the browser.
    """
    if not cookie:
        return None
    parts = cookie.strip("\"'").split("|")
    if len(parts) != 4 or parts[0] != "2":
        return None
    try:
        mask, masked = binascii.a2b_hex(parts[1]), binascii.a2b_hex(parts[2])
    except (binascii.Error, ValueError):
        return None
    if not mask or not masked:
        return None
    return bytes(b ^ mask[i % len(mask)] for i, b in enumerate(masked))


def browser_key() -> str:
    """Who may control a job: the browser that started it.

    A job id travels in the page URL (so a reload re-attaches), and a URL is easy to share; so the
    id alone must not give control (issue 10). The key is a hash of the browser's XSRF token, a
    per-browser secret cookie the Streamlit server sets (never in a URL): a reload or a reconnect
    in the same browser keeps control, another browser opening the same URL follows the job
    read-only. Without the cookie (XSRF protection off, the test harness) it falls back to the
    Streamlit session id: a reload then follows read-only.
    """
    try:
        token = xsrf_token(st.context.cookies.get(_XSRF_COOKIE))
    except Exception:  # noqa: BLE001 — no request context (bare script run, tests)
        token = None
    if token:
        return "browser:" + hashlib.sha256(token).hexdigest()[:24]
    ctx = get_script_run_ctx()
    return "session:" + (ctx.session_id if ctx is not None else "none")
