"""Page 4 — phase 3: the re-trained head's accuracy for every oversampler."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from eos_core.errors import EOSError
from eos_core.evaluation import MIN_SEEDS, control_missed_classes
from eos_core.events import RunDone
from ui import cache, jobs, selection, training, widgets
from ui.figures import common, heads
from ui.labels import CONTROL_METHOD, DELTA_COLUMNS, METRIC_COLUMNS, STAR_NOTE, groups_note, method_name
from ui.results import run_seed, run_verdict, seed_runs

st.title("Head accuracy")
widgets.explain("""
**What am I looking at?** After oversampling the embeddings (phase 2), only the network's last
linear layer — the *head* — is re-trained on the balanced embeddings (phase 3), once per
oversampler, and scored on the balanced test set. Two heads are not oversamplers:

* **phase-1 head** — the CNN's own classifier, trained in phase 1 on the imbalanced images.
* **cRT** — a head *re-trained* with the very same recipe and seed as every oversampler's head, on
  the real embeddings only. It is **the control**: an oversampler's difference from cRT
  (**Δ vs cRT**, same phase 1, same head seed) is what the oversampling adds; a difference from the
  phase-1 head would mix in the effect of re-training the head.

* **Balanced accuracy** is the mean recall over classes: every class counts the same, however
  small. **G-mean** (geometric mean of recalls) drops sharply when any class is poorly recognised.
  **Macro-F1** averages the per-class F1 scores. The ★ marks the best balanced accuracy **on the
  test set**: a reading of this run, not a model selection (nothing here was tuned on a
  validation set).
* The **recall heatmap** shows, per class (largest → smallest), which oversampler helps which
  class; the minority classes on the right are where oversampling should make a difference.
* The **confusion matrix** shows where each class's test images go (rows: true class).
* Runs of the **same configuration with other seeds** (each its own phase 1) give each method's
  mean and, better, the mean of its paired Δ vs cRT with a 95 % t-interval: an interval that
  contains 0 means the seeds do not show a difference from cRT.

Downloads: tables as CSV, figures as HTML (interactive, opens offline). For a PNG, use the camera
icon in a figure's toolbar (top right of the chart).
""")

rec = widgets.run_picker(need="methods")
if rec is None:
    st.info("No run with re-trained heads yet. Train one on **Setup & train** (choose at least one oversampler).")
    st.page_link(widgets.SETUP_PAGE, label="Go to Setup & train", icon="🏋️")
    st.stop()

summary = cache.methods_summary(rec.id)
meta = cache.phase1_summary(rec.id)
if not summary:
    st.info("This run has no phase-3 results yet.")
    st.stop()
classes = list(meta.get("classes") or [])
counts = np.asarray(meta.get("train_counts") or [])
if not len(classes):
    first = next(iter(summary.values()))
    classes = [str(i) for i in range(len(first.get("per_class_recall", [])))]
    counts = np.ones(len(classes), int)


def html_button(fig, name: str, key: str) -> None:
    st.download_button("Download figure (HTML)", lambda: common.figure_html(fig), file_name=f"{name}_{rec.id}.html",
                       mime="text/html", key=key, icon="⬇️")


same, repeated, runs_methods = seed_runs(rec)  # this run first; a repeated seed is no new draw
job = jobs.current_job()
busy = job is not None and job.active


def train_more_seeds(n: int) -> None:
    """The same configuration with the ``n`` smallest unused seeds, in one background job."""
    seeds = training.free_seeds({run_seed(r) for r in same}, n)
    try:
        training.start_seeds(cache.config_of(rec), seeds, meta={"classes": classes, "train": counts.tolist()})
        st.success(f"Training seeds {', '.join(map(str, seeds))} in the background: this page updates itself "
                   "as each one finishes (progress on **Setup & train**).")
    except EOSError as err:
        widgets.show_error(err)


def right_aligned(columns) -> dict:
    """Number columns held as text (so an empty cell reads "—", not "None"), aligned as numbers."""
    return {c: st.column_config.TextColumn(alignment="right") for c in columns}


# ------------------------------------------------------------------------------------------ verdict
verdict = run_verdict(rec, runs_methods)
widgets.verdict_panel(verdict, lead="oversampling")
missing = MIN_SEEDS - verdict["oversampling"]["seeds"]
if verdict["oversampling"]["call"] == "not yet a verdict" and missing > 0:
    if st.button(f"Train {missing} more seed{'s' if missing > 1 else ''} of this configuration for a verdict",
                 key="verdict_seeds_button", disabled=busy, type="primary",
                 help="Each seed is its own phase 1 and phase 3 with the same settings; runs in the background."):
        train_more_seeds(missing)
        job = jobs.current_job()
        busy = job is not None and job.active


# ------------------------------------------------------------------------------------------ table
st.subheader("Test scores per method")
table = heads.metrics_table(summary)
st.dataframe(heads.metrics_view(table), hide_index=True, key="metrics_table",
             column_config=right_aligned(DELTA_COLUMNS.values()))
st.caption(f"{STAR_NOTE} · the best value of each score is highlighted · Δ vs cRT: the method's score minus "
           "cRT's in this run (same phase 1, same head seed); cRT itself has none.")
missed = control_missed_classes(summary)
if missed:
    names = ", ".join(f"“{classes[c]}”" if c < len(classes) else str(c) for c in missed)
    st.caption(f"⚠️ cRT's head gets recall 0 on {names} (too few training images for a fresh head), so cRT's "
               "g-mean is 0 and every Δ g-mean is just the method's own g-mean: compare balanced accuracy here.")
for m in summary:  # what an oversampler skipped (e.g. ADASYN on a class without enemies nearby)
    widgets.method_notices(method_name(m), selection.method_warnings(summary, m), key=f"notices_{m}")
d1, d2 = st.columns([1, 3])
d1.download_button("Download table (CSV)", table.to_csv(index=False), file_name=f"head_metrics_{rec.id}.csv",
                   mime="text/csv", key="metrics_csv", icon="⬇️")
groups = {m: (r.get("groups") or {}) for m, r in summary.items()}
if any(v for g in groups.values() for v in g.values() if v is not None):
    gdf = pd.DataFrame([{"method": method_name(m), **{k: g.get(k) for k in ("many", "medium", "few")}}
                        for m, g in groups.items()])
    with st.expander("Recall by class-size group (many / medium / few training images)"):
        st.caption(groups_note())
        st.dataframe(gdf.round(4), hide_index=True, key="groups_table")

# ------------------------------------------------------------------------------------------ recall
st.subheader("Recall per class")
recalls = {m: r["per_class_recall"] for m, r in summary.items() if r.get("per_class_recall") is not None}
if recalls:
    heat = heads.recall_heatmap(recalls, classes=classes, train_counts=counts)
    st.plotly_chart(heat, key="recall_heatmap", config={"displaylogo": False})
    html_button(heat, "recall_heatmap", "recall_html")

# ------------------------------------------------------------------------------------------ confusion
st.subheader("Confusion matrices")
names = list(summary)
best = (heads.best_methods(table) or names)[0]
default = list(dict.fromkeys([m for m in (CONTROL_METHOD, best) if m in names]))
show = st.multiselect("Methods", names, default=default, key="confusion_methods",
                      format_func=method_name)
normalize = st.toggle("Row-normalised (share of each true class)", value=True, key="confusion_norm")
cols = st.columns(min(max(len(show), 1), 3))
for i, m in enumerate(show):
    conf = summary[m].get("confusion")
    if conf is None:
        continue
    with cols[i % len(cols)]:
        fig = heads.confusion_figure(conf, classes=classes, normalize=normalize,
                                 title=f"{method_name(m)} · balanced acc "
                                       f"{summary[m].get('balanced_accuracy', float('nan')):.3f}")
        st.plotly_chart(fig, key=f"confusion_{m}", config={"displaylogo": False})
        html_button(fig, f"confusion_{m}", f"confusion_html_{m}")

# ------------------------------------------------------------------------------------------ seeds
st.subheader("Several seeds")
rows, seen_seeds = [], set()
repeats = len(repeated)
for r in same:
    seed = run_seed(r)
    try:
        res = cache.methods_summary(r.id)
    except EOSError as err:  # another run of this config is damaged: say so, keep the others
        st.caption(str(err))
        continue
    if not res:
        continue
    seen_seeds.add(seed)
    for m, v in res.items():
        rows.append({"run": r.id, "seed": seed, "method": m, **{k: v.get(k) for k in METRIC_COLUMNS}})
per_seed = pd.DataFrame(rows)
n_seeds = len(runs_methods)
agg = None
if n_seeds >= 2:
    from eos_core.evaluation import aggregate

    try:
        agg = aggregate(runs_methods)  # the engine's paired deltas and t-intervals (what the CLI prints)
    except EOSError as err:
        widgets.show_error(err)
if agg is not None:
    metric = st.segmented_control("Metric", list(METRIC_COLUMNS), default="balanced_accuracy",
                                  format_func=METRIC_COLUMNS.get, key="seed_metric") or "balanced_accuracy"
    atab = heads.aggregate_table(agg, metric)
    long = per_seed.rename(columns={metric: "value"})[["method", "seed", "value"]]
    control = per_seed[per_seed["method"] == CONTROL_METHOD].set_index("run")[metric]
    long_delta = per_seed.assign(value=per_seed[metric] - per_seed["run"].map(control))[["method", "seed", "value"]]
    s1, s2 = st.columns(2)
    with s1:
        fig_d = heads.interval_plot(atab, metric=metric, delta=True, per_seed=long_delta,
                                    title=f"Δ vs cRT, mean and 95 % interval over {n_seeds} seeds")
        st.plotly_chart(fig_d, key="seeds_delta", config={"displaylogo": False})
    with s2:
        fig = heads.interval_plot(atab, metric=metric, delta=False, per_seed=long,
                                  title=f"{METRIC_COLUMNS[metric]}, mean and 95 % interval over {n_seeds} seeds")
        st.plotly_chart(fig, key="seeds_scores", config={"displaylogo": False})
    st.caption(f"Dots: mean over {n_seeds} runs of this configuration, seeds {', '.join(map(str, sorted(seen_seeds)))} "
               "(each its own phase 1"
               + (f"; {repeats} repeated run(s) of a seed left out" if repeats else "") + "); "
               "whiskers: 95 % Student-t interval of the mean (eos_core.evaluation.aggregate); open grey circles: "
               "single seeds. Left: each seed's paired difference from cRT, so what differs between phase-1 runs "
               "cancels; an interval that crosses the dashed 0 line means no difference from cRT is shown. "
               "The value axis fits the values; it does not start at 0.")
    view = atab.assign(method=[method_name(m) for m in atab["method"]]).rename(columns={
        "n": "seeds", "mean": f"{METRIC_COLUMNS[metric]} mean", "low": "95 % low", "high": "95 % high",
        "delta_mean": "Δ vs cRT mean", "delta_low": "Δ 95 % low", "delta_high": "Δ 95 % high"})
    st.dataframe(heads.seeds_view(view), hide_index=True, key="seeds_table",
                 column_config=right_aligned(c for c in view.columns if view[c].dtype.kind == "f"))
    d1, d2 = st.columns([1, 1])
    with d1:
        html_button(fig_d, "seeds_delta", "seeds_html")
    with d2:
        st.download_button("Download per-seed table (CSV)", per_seed.to_csv(index=False),
                           file_name=f"head_metrics_seeds_{rec.id}.csv", mime="text/csv", key="seeds_csv",
                           icon="⬇️")
elif n_seeds < 2:
    st.caption("Only one seed of this configuration"
               + (f" ({repeats} more run(s) repeat its seed: the same draw again, left out)" if repeats else "")
               + ": train it with other seeds to get 95 % intervals.")
c1, c2 = st.columns([1, 3])
n_more = c1.number_input("More seeds", 1, 10, 2, key="more_seeds")
if c2.button(f"Train {int(n_more)} more seed(s) of this configuration", key="more_seeds_button", disabled=busy,
             help="Runs in the background; follow it on Setup & train. Finished runs appear here."):
    train_more_seeds(int(n_more))
    job = jobs.current_job()
    busy = job is not None and job.active


def seeds_done(j) -> int:
    return sum(1 for p in list(j.progress) if p.get("phase") == RunDone.kind)


if busy and job.kind == "seeds":
    seen = seeds_done(job)

    @st.fragment(run_every=2.0)
    def watch_seeds() -> None:
        """While this session's seeds job runs, rerun the page when a seed finishes or the job ends,
        so the verdict and this section update without a reload."""
        if not job.active or seeds_done(job) != seen:
            st.rerun()
        st.caption(f"⏳ {job.label}: {seen} finished so far. This page updates itself as each seed finishes.")

    watch_seeds()
elif busy:
    st.caption(f"A training job is running: {job.label} ({job.status}); its progress is on **Setup & train**.")

# ------------------------------------------------------------------------------------------ compare
with st.expander("Compare with other runs"):
    others = [r for r in cache.list_runs(need="methods") if r.id != rec.id]
    pick = st.multiselect("Runs", [r.id for r in others], key="compare_runs",
                          format_func=lambda i: next(cache.run_label(r) for r in others if r.id == i))
    if pick:
        from eos_core.run_labels import run_labels

        chosen, results = [rec], [summary]
        for rid in pick:
            try:
                results.append(cache.methods_summary(rid))
                chosen.append(next(r for r in others if r.id == rid))
            except EOSError as err:  # a damaged run: its one sentence, the others still compare
                st.caption(str(err))
        names = run_labels([r.config for r in chosen])  # columns named by what differs: "ρ=10 · seed 1"
        cdf = pd.DataFrame({name: {method_name(m): v.get("balanced_accuracy") for m, v in res.items()}
                            for name, res in zip(names, results, strict=True)})
        cdf.index.name = "method"
        st.caption("Balanced accuracy per method (rows) and run (columns, named by what differs between the runs; "
                   "the first column is the run chosen above).")
        st.dataframe(cdf.round(4), key="compare_table")
        st.download_button("Download (CSV)", cdf.to_csv(), file_name="compare_runs.csv", mime="text/csv",
                           key="compare_csv")
