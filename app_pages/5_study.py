"""Page 5 — a ratio study: one config at several imbalance ratios, the gap and Δ vs cRT against ρ."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from eos_core.config import DataConfig, RunConfig, TrainConfig
from eos_core.errors import EOSError
from eos_core.run_labels import ratio_label
from eos_core.store import RUN_ID_RE
from eos_core.study import StudyConfig
from ui import cache, jobs, labels, state, studies, training, widgets
from ui.figures import study as study_figs

st.title("Ratio study")
widgets.explain("""
**What is a ratio study?** The same experiment trained at several imbalance ratios ρ (and, if
you like, several seeds): every run is an ordinary saved run (open any of them on the other
pages), and the study puts their numbers side by side.

* **Gap by class size, one line per ρ.** The paper's first claim is that *the smaller a class,
  the wider its gap* between training and test embeddings. Each point is one class: its number of
  training images (log scale) and its gap, averaged over the study's seeds. The pale vertical
  bar through a point is its *null band*: where 90 % of the values fall when the class's own
  train and test images are reshuffled (no real gap). A point above its band is a real gap.
  At ρ = 1 every class has the same size, so its points stand in one column.
* **Δ balanced accuracy vs cRT against ρ.** cRT re-trains the head on the real embeddings only
  (the control). Each method's line is its balanced accuracy minus cRT's in the same run, averaged
  over seeds; with two or more seeds the whiskers are the 95 % Student-t interval. An interval
  that crosses the dashed 0 line does not show a difference from cRT.
* Nothing here is chosen by test results: the ratios, seeds and epochs are what you set.
""")

DEFAULT = RunConfig()
DEFAULT_RATIOS = [1.0, 10.0, 50.0]  # digits (the default dataset) at ρ=100 keeps 1-2 images in its smallest class


def study_from_url() -> str | None:
    q = st.query_params.get("study")
    return q if isinstance(q, str) and RUN_ID_RE.match(q) else None


# ------------------------------------------------------------------------------------------ form
job = jobs.current_job()
study_job = job if job is not None and job.kind == "study" else None
running = job is not None and job.active
with st.expander("Start a new study", expanded=not studies.list_studies()[0]):
    c1, c2, c3 = st.columns([1.2, 1.6, 1])
    dataset = c1.selectbox("Dataset", [d for d in labels.DATASETS if d != "folder"], key="study_dataset",
                           format_func=labels.DATASET_LABELS.get,
                           help="An image folder can be studied from the command line: "
                                "python -m eos_core study --dataset folder --folder … --ratios 1,10,100")
    profile = c1.radio("Profile", [p for p in labels.PROFILES if p != "as_is"], horizontal=True, key="study_profile",
                       help="as is keeps the dataset's own counts, so it has no ρ to vary.")
    ratios = c2.multiselect("Imbalance ratios ρ", list(labels.LOG_RATIOS), default=DEFAULT_RATIOS,
                            key="study_ratios", format_func=lambda v: f"{v:g}")
    methods = c2.multiselect("Methods (phases 2–3)", list(labels.METHODS), key="study_methods",
                             default=[m for m in DEFAULT.methods if m in labels.METHODS],
                             format_func=labels.method_name)
    epochs = c3.number_input("Epochs", min_value=1, max_value=1000, value=DEFAULT.train.epochs, key="study_epochs",
                             help="Phase-1 epochs of every run (the engine's default lets phase 1 fit its training "
                                  "set, as the paper's does).")
    n_seeds = c3.number_input("Seeds per ratio", min_value=1, max_value=5, value=1, key="study_seeds",
                              help="Two or more give 95 % intervals; seeds 0, 1, … are used.")
    n_runs = len(ratios) * int(n_seeds)
    st.caption(f"{n_runs} run(s): {len(ratios)} ratio(s) × {int(n_seeds)} seed(s), one after the other in the "
               "background. You can switch pages meanwhile.")
    start = st.button("Run study", type="primary", key="study_button", icon="▶️", disabled=running or not ratios)
    if start:
        try:
            base = RunConfig(data=DataConfig(dataset=dataset, profile=profile),
                             train=TrainConfig(model=DEFAULT.train.model, epochs=int(epochs)), methods=list(methods))
            cfg = StudyConfig(base=base, ratios=sorted(float(r) for r in ratios), seeds=list(range(int(n_seeds))))
            study_job = job = training.start_study(cfg.to_dict())
            running = True
        except EOSError as err:
            widgets.show_error(err)
if running and job is not None and job.kind != "study":
    st.caption(f"A training job is running ({job.label}); a study can start when it ends.")


@st.fragment(run_every=1.0 if running else None)
def job_panel(was_running: bool) -> None:
    j = jobs.current_job()
    if j is None or j.kind != "study":
        return
    if j.active:
        st.progress(studies.progress_fraction(j), text=studies.describe(j))
        elapsed = time.time() - (j.started or j.created)
        c1, c2 = st.columns([4, 1])
        c1.caption(f"Study {j.label} · {elapsed:.0f} s · finished runs are saved as they end.")
        if jobs.can_control(j) and c2.button("Cancel", key="study_cancel", icon="⏹️"):
            jobs.cancel_job(j)
            st.toast("Cancelling… the current run stops at its next check; finished runs are kept.")
    if was_running and not j.active:
        st.rerun()  # full rerun: the study below is now complete


if study_job is not None:
    job_panel(running)
    if not study_job.active:
        if study_job.status == "finished":
            took = (study_job.finished or 0) - (study_job.started or 0)
            st.success(f"The study finished in {took:.0f} s: {len(study_job.result.get('run_ids', []))} runs saved.")
        elif study_job.status == "cancelled":
            st.warning("The study was cancelled; its finished runs are kept and shown below.")
        elif study_job.status == "failed":
            st.error(study_job.error or "The study failed.", icon="⚠️")

# ------------------------------------------------------------------------------------------ picker
records, damaged = studies.list_studies()
if damaged:
    st.warning(f"{len(damaged)} study record(s) could not be read and are not listed (their runs still are).")
if not records:
    st.info("No study yet: choose the ratios above and press **Run study**.")
    st.stop()
by_id = {r.study_id: r for r in records}
if study_job is not None and study_job.last("study_run") and st.session_state.get("study_adopted") != study_job.id:
    st.session_state["study_adopted"] = study_job.id  # follow the new study once; picking another is kept
    st.session_state["study_pick"] = study_job.last("study_run")["study_id"]
wanted = st.session_state.get("study_pick") or study_from_url()
if wanted not in by_id:
    wanted = records[0].study_id
st.session_state["study_pick"] = wanted
chosen = st.selectbox("Study", list(by_id), key="study_pick", format_func=lambda i: studies.study_label(by_id[i]),
                      help="Saved studies in the runs folder, newest first. The chosen one is in the page URL.")
if st.query_params.get("study") != chosen:
    st.query_params["study"] = chosen
try:
    rec = studies.load_study(chosen)
except EOSError as err:
    widgets.show_error(err)
    st.stop()
summary = rec.summary
rows = summary.get("ratios", [])
if not rows:
    st.info("No run of this study has finished yet." if studies.study_status(rec) == "running" else
            "This study has no finished run to show.")
    st.stop()
n_seeds = max(r["n_seeds"] for r in rows)
n_used = sum(len(r["run_ids"]) for r in rows)
st.caption(f"{len(rec.runs)} run(s) in this study; the figures use the {n_used} finished one(s)."
           + (f" It ended {rec.status}: {rec.message}" if rec.status in ("failed", "cancelled") else "")
           + (" It was interrupted (its server or process stopped); its finished runs are kept."
              if studies.study_status(rec) == "interrupted" else ""))

# ------------------------------------------------------------------------------------------ (a) gap
st.subheader("The gap by class size, for each ρ")
measure = st.segmented_control("Gap measure", list(labels.GAP_MEASURES), default=labels.DEFAULT_GAP_MEASURE,
                               format_func=labels.GAP_NAMES.get, key="study_measure") or labels.DEFAULT_GAP_MEASURE
fig_gap = study_figs.gap_by_size(summary, measure)
st.plotly_chart(fig_gap, key="study_gap", config={"displaylogo": False})
rho = [(r["ratio"], min(r["train_count"]), max(r["train_count"]), r["size_gap_spearman"].get(measure),
        [p for p in (r.get("size_gap_spearman_p") or {}).get(measure, []) if p is not None]) for r in rows]
defined = [f"{ratio_label(r)} (class sizes {lo}–{hi}): {v:+.2f}"
           + (f", permutation p {'per seed ' if len(ps) > 1 else ''}{', '.join(f'{p:.3f}' for p in ps)}" if ps else "")
           for r, lo, hi, v, ps in rho if v is not None]
st.caption(f"{labels.GAP_NAMES[measure].capitalize()}: {labels.GAP_LABELS[measure]}. Each point is one class "
           "(mean over seeds); pale bars: the class's null band (5–95 % of train/test reshuffles, mean over seeds); "
           "dashed: no gap. Spearman correlation of class size and gap, mean over seeds: "
           + ("; ".join(defined) if defined else "undefined") + " (negative: the smaller the class, the wider the gap"
           + ("; undefined where every class has the same size" if len(defined) < len(rho) else "")
           + "; over a narrow range of sizes it says little).")

# ------------------------------------------------------------------------------------------ (b) delta
st.subheader("Δ vs cRT of every method, against ρ")
metric = st.segmented_control("Score", list(labels.METRIC_COLUMNS), default="balanced_accuracy",
                              format_func=labels.METRIC_COLUMNS.get, key="study_metric") or "balanced_accuracy"
fig_delta = study_figs.delta_vs_ratio(summary, metric)
st.plotly_chart(fig_delta, key="study_delta", config={"displaylogo": False})
st.caption(f"Each method's {labels.METRIC_COLUMNS[metric]} minus cRT's in the same run (same phase 1, same head "
           f"seed), mean over seeds"
           + (" with the 95 % Student-t interval (eos_core.evaluation.aggregate)" if n_seeds > 1 else
              "; one seed per ratio, so no interval: raise *Seeds per ratio* for error bars")
           + ". Dashed: 0 = cRT.")
table = pd.DataFrame([{"method": labels.method_name(m),
                       **{ratio_label(r["ratio"]): r["methods"][m]["delta_vs_crt"][metric]["mean"] for r in rows}}
                      for m in study_figs.delta_methods(summary)])
st.dataframe(table, hide_index=True, key="study_delta_table",
             column_config={c: st.column_config.NumberColumn(format="%+.4f") for c in table.columns if c != "method"})

# ------------------------------------------------------------------------------------------ runs
st.subheader("The study's runs")
names = studies.study_run_labels(rec)
store = cache.get_store()
run_rows = []
for r in rec.runs:
    try:
        status = store.get_run(r["run_id"]).status
    except EOSError:
        status = "deleted"
    m = cache.methods_summary(r["run_id"])
    p1 = cache.phase1_summary(r["run_id"]).get("metrics") or {}
    run_rows.append({"run": names[r["run_id"]], "ρ": r["ratio"], "seed": r["seed"], "status": status,
                     "phase-1 head balanced acc": p1.get("balanced_accuracy"),
                     "cRT balanced acc": (m.get(labels.CONTROL_METHOD) or {}).get("balanced_accuracy")})
st.dataframe(pd.DataFrame(run_rows), hide_index=True, key="study_runs")
pick = st.selectbox("Open a run on the other pages", list(names), index=None, key="study_open_run",
                    format_func=names.get, placeholder="choose a run…")
if pick and pick != state.current_run_id():
    state.set_run(pick)
    st.caption("Chosen: **Embedding gap**, **Synthetic inspector** and **Head accuracy** now show this run.")
