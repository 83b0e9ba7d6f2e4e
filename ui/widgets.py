"""Small page helpers shared by the pages: explanations, errors, the run picker, the sidebar
job line, the phase-1 preamble of pages 2 and 3, and the banner for a job that died."""

from __future__ import annotations

import traceback
from typing import Any

import streamlit as st

from eos_core.errors import EOSError
from ui import cache, state
from ui.jobs import can_control, current_job

SETUP_PAGE = "app_pages/1_setup.py"


def explain(text: str, *, title: str = "What am I looking at?") -> None:
    with st.expander(title, expanded=False):
        st.markdown(text)


def show_error(err: BaseException) -> None:
    """A user error as one clear line; an unexpected one with its traceback folded away."""
    if isinstance(err, EOSError):
        st.error(str(err), icon="⚠️")
    else:
        st.error(f"Something went wrong ({type(err).__name__}): {err}", icon="⚠️")
        with st.expander("Technical details"):
            st.code("".join(traceback.format_exception(err)), language="text")


def run_picker(*, need: str | None = "embeddings", where=None, key: str = "run_pick") -> Any | None:
    """A selectbox of past runs; returns the chosen ``RunRecord`` (or ``None`` when there are none).

    The choice is shared by every page (session + URL). ``need`` filters to runs that have the
    artifacts the page shows.
    """
    where = where or st
    runs = cache.list_runs(need=need)
    chosen = state.current_run_id()
    damaged = cache.damaged_runs().get(chosen or "")
    if damaged:  # the run in the URL cannot be read: say why in one sentence, then show another
        where.error(damaged, icon="⚠️")
    if not runs:
        if damaged:
            st.stop()
        return None
    ids = [r.id for r in runs]
    by_id = {r.id: r for r in runs}
    cur = chosen if chosen in by_id else ids[0]
    if chosen is None:
        state.set_run(cur)
    widget_key = f"{key}_widget"
    # Keep the widget in step with the shared choice (it may have changed on another page).
    if st.session_state.get(widget_key) != cur:
        st.session_state[widget_key] = cur

    def _changed() -> None:
        state.set_run(st.session_state[widget_key])

    where.selectbox("Run", ids, key=widget_key, format_func=lambda i: cache.run_label(by_id[i]),
                    on_change=_changed, help="Past runs from the run store (newest first). "
                    "The run you pick here stays picked on every page and in the page URL.")
    bad = st.session_state.pop(state.BAD_RUN_KEY, None)
    known = chosen is None or chosen in by_id or any(r.id == chosen for r in cache.list_runs(need=None))
    if bad or not known:  # a link to a run this store does not hold
        where.warning(f"There is no run “{bad or chosen}” in this run store; showing the newest run.", icon="ℹ️")
        state.set_run(cur)
    elif chosen is not None and chosen != cur and not damaged:
        where.caption(f"The run chosen elsewhere ({chosen}) has nothing to show here yet; showing the newest run "
                      "that has.")
    return by_id[cur]


def damaged_runs_note() -> None:
    """One line per run the last listing skipped as damaged (its sentence names the repair command)."""
    for why in cache.damaged_runs().values():
        st.caption(f"⚠️ {why}")


def require_phase1(hint: str = "") -> tuple[Any, Any]:
    """The chosen run and its phase-1 view, or a friendly stop when there is none (pages 2 and 3)."""
    rec = run_picker(need="embeddings")
    if rec is None:
        st.info("No trained run yet. Train one on **Setup & train** first" + (f" — {hint}" if hint else "."))
        st.page_link(SETUP_PAGE, label="Go to Setup & train", icon="🏋️")
        st.stop()
    try:
        return rec, cache.load_phase1(rec.id)
    except EOSError as err:
        show_error(err)
        st.stop()


def sidebar_status() -> None:
    """A one-line reminder in the sidebar while this session's job runs (drawn on every page); it
    offers Cancel only to a browser that may cancel (:func:`ui.jobs.can_control`)."""
    job = current_job()
    if job is None or not job.active:
        return
    last = job.last("train")
    text = (f"epoch {last['epoch']}/{last['epochs']}" if last and job.last() is last
            else (job.last() or {}).get("phase", job.status))
    where = ("Progress and Cancel are on *Setup & train*." if can_control(job) else
             "Progress is on *Setup & train*; only the browser that started it can cancel it.")
    st.sidebar.caption(f"⏳ Training in the background: {job.label} · {text}. {where}")


def lost_job_summary(run_id: str | None) -> tuple[str | None, str]:
    """``(status, text)``: the run's status in the store and one paragraph on what a job that is
    gone left for ``run_id`` (phase 1 complete or not, which methods' heads were kept)."""
    if not run_id:
        return None, "It stopped before it created a run, so nothing was kept."
    store = cache.get_store()
    try:
        rec = store.get_run(run_id)
    except EOSError:
        return None, f"Its run {run_id} is not in the run store."
    phase1 = cache.has(store, run_id, "phase1")
    try:
        methods = list(cache.methods_summary(run_id))
    except EOSError as err:  # a damaged methods.json: its one sentence
        return rec.status, str(err)
    kept = "phase 1 is complete" if phase1 else "phase 1 did not finish"
    kept += f"; re-trained heads kept for {', '.join(methods)}" if methods else "; no re-trained head was kept"
    return rec.status, f"Its run **{run_id}** ({cache.run_label(rec)}) is *{rec.status}*: {kept}."


def lost_job_banner() -> None:
    """A URL's ``job=`` the server does not know (:func:`ui.state.sync_session` records it): a job
    of a run in the store (``job.json``) stopped when the server restarted (jobs live in memory):
    name the run and what it kept; an id no run records never existed here: say so."""
    lost = st.session_state.get(state.LOST_JOB_KEY)
    if not lost:
        return
    if "made" not in lost:  # once per session: it reads one small file per run
        from eos_core.store import run_of_job

        lost["made"] = run_of_job(cache.get_store(), lost["job"], hint=lost.get("run"))
    run = lost["made"]
    status, text = lost_job_summary(run)
    if run is None:
        st.warning(f"No job {lost['job']} exists on this server, and no run in the store was made by it. "
                   "Start one with **Train** on *Setup & train*.", icon="⚠️")
    elif status == "finished":
        st.info(f"The job {lost['job']} is no longer on this server (it restarted since). " + text, icon="ℹ️")
    else:
        st.warning(f"The training job {lost['job']} stopped when the server restarted. " + text
                   + " Train again to redo what is missing.", icon="⚠️")
    if st.button("Dismiss", key="dismiss_lost_job"):
        st.session_state[state.LOST_JOB_KEY] = None
        st.rerun()


def method_notices(method_label: str, notes: list[str], *, key: str) -> None:
    """An oversampler's warnings as ONE collapsed notice with counts (ADASYN warns twice per class
    it skips, in two wordings: 20 boxes became one): each wording once, with the classes it named."""
    from ui.results import group_notices

    if not notes:
        return
    groups = group_notices(notes)
    classes = sorted({c for _, cls in groups for c in cls})
    what = f"{len(notes)} notice{'s' if len(notes) > 1 else ''}" + (
        f" about {len(classes)} class{'es' if len(classes) > 1 else ''}" if classes else "")
    with st.expander(f"{method_label}: {what}", icon="⚠️", expanded=False, key=key):
        for wording, cls in groups:
            named = f" — class{'es' if len(cls) > 1 else ''} {', '.join(cls)}" if cls else ""
            times = len(cls) if cls else sum(1 for n in notes if n == wording)
            st.markdown(f"- **{max(times, 1)}×** {wording}{named}")


VERDICT_TITLES = {"gap": "Does the gap widen for smaller classes?",
                  "oversampling": "Does EOS beat the other oversamplers?"}


def verdict_panel(v: dict, *, lead: str) -> None:
    """The engine's verdict (``eos_core.evaluation._verdict``), its sentences as written there, ``lead`` first;
    the oversampling part is headed by its call."""
    with st.container(border=True, key="verdict"):
        for i, part in enumerate([lead, *(p for p in ("gap", "oversampling") if p != lead)]):
            head = ("**Verdict.** " if i == 0 else "") + VERDICT_TITLES[part]
            if part == "oversampling":
                head += f" **{v[part]['call'][:1].upper() + v[part]['call'][1:]}.**"
            with st.container(key=f"verdict_{part}"):
                st.markdown(head)
                st.markdown(v[part]["sentence"])
