"""Page 1 — choose data and imbalance, train in the background, see per-class results."""

from __future__ import annotations

import time
import warnings

import pandas as pd
import streamlit as st

from eos_core.config import DataConfig, HeadConfig, RunConfig, TrainConfig
from eos_core.data import data_display_name
from eos_core.errors import EOSError
from eos_core.events import EpochDone, MapStarted
from ui import cache, jobs, labels, state, training, uploads, widgets
from ui.figures import heads
from ui.figures import training as training_figs
from ui.figures.gap import gap_over_epochs
from ui.results import gap_column, per_class_results
from ui.setup_form import (
    AUGMENT_CHOICES,
    PRESET_KEY,
    apply_preset,
    augment_label,
    describe,
    overall_fraction,
    restore_form,
)

st.title("Setup & train")
widgets.explain("""
**What happens here.** You pick an image dataset and make its *training* set imbalanced: the
largest class keeps `n_max` images and the smallest keeps `n_max / ρ` (ρ is the *imbalance
ratio*). With the **exp** profile class sizes shrink smoothly from the first to the last class;
with **step**, half the classes are large and half are small. The *test* set is left balanced, so
every class counts equally in the scores.

Then three phases run in the background (you can switch pages meanwhile):

1. **Train a CNN** on the imbalanced images (the loss can already fight imbalance: focal, LDAM-DRW,
   class-balanced).
2. **Take the embeddings** (the features just before the last layer) and **oversample** the small
   classes there — e.g. EOS puts each synthetic point on the segment between a minority example
   and one of its nearest *enemies* (a neighbour from another class).
3. **Re-train only the last linear layer** (the head) on the balanced embeddings, once per
   oversampler, and score it on the test set. **cRT** re-trains the head the same way on the real
   embeddings only (no oversampling): it is the control every oversampler is compared with, and
   it is always run.

The bar chart shows how many training images each class will keep *before* you train.
""")

# The engine's defaults are the form's (one source of truth with the CLI).
DEFAULT = RunConfig()

job = jobs.current_job()
restore_form(job)  # a reload while a job runs: the form shows that job's config

# ------------------------------------------------------------------------------------------ form
left, right = st.columns([1, 1.4], gap="large")
with left:
    from eos_core.presets import PRESETS, what_you_should_see

    preset = st.selectbox("Preset", list(PRESETS), index=None, key=PRESET_KEY, on_change=apply_preset,
                          placeholder="choose a preset to fill the form…",
                          format_func=lambda n: f"{n} — {PRESETS[n].title}",
                          help="A preset sets every field below; change any of them afterwards to override it.")
    if preset:
        st.caption(f"**{PRESETS[preset].title}.** {PRESETS[preset].summary}")
        st.info(f"**What you should see.** {what_you_should_see(preset)}")
        if PRESETS[preset].needs_folder and st.session_state.get("setup_dataset") == "folder":
            st.caption(f"{PRESETS[preset].needs_folder} is not downloaded on this server: give a folder of images "
                       "with train/ and test/ sub-folders (such as the JPEG stand-in cifar10-jpeg) in the Data "
                       "block below.")
    st.subheader("Data")
    dataset = st.selectbox("Dataset", labels.DATASETS, format_func=labels.DATASET_LABELS.get, key="setup_dataset",
                           persist_state="session",
                           help="digits is bundled and instant; the others load from EOS_DATA_DIR "
                                "(downloaded there when online).")
    folder = folder_name = None
    if dataset == "folder":
        source = st.radio("Images from", ["zip", "local"], horizontal=True, key="setup_source",
                          persist_state="session",
                          format_func={"zip": "a .zip upload", "local": "a folder on this machine"}.get,
                          help="Either one sub-folder of images per class, or train/ and test/ folders that "
                               "each hold one sub-folder per class (then both are used as given).")
        prev = None
        if source == "zip":
            up = st.file_uploader("Image folder as a .zip (class folders, or train/ and test/ with class folders)",
                                  type=["zip"], key="setup_zip")
            prev = st.session_state.get("eos_upload")
            if up is not None and (not prev or prev.get("file_id") != up.file_id):
                try:
                    st.session_state["eos_upload"] = prev = uploads.from_upload(up.getvalue(), up.name, up.file_id)
                except EOSError as err:
                    st.session_state.pop("eos_upload", None)
                    prev = None
                    widgets.show_error(err)
        elif not uploads.server_is_local():
            st.info(uploads.NOT_LOCAL, icon="🔒")
        else:
            typed = st.text_input("Folder on this machine", key="setup_local_folder", persist_state="session",
                                  placeholder="e.g. ~/data/cifar10-jpeg",
                                  help="The path of an image folder on the computer that runs this app, as the "
                                       "CLI's --folder takes it. Press Enter to read it.")
            prev = st.session_state.get("eos_local")
            if typed.strip() and (not prev or prev.get("typed") != typed):
                try:
                    st.session_state["eos_local"] = prev = {**uploads.from_local_folder(typed), "typed": typed}
                except EOSError as err:
                    st.session_state.pop("eos_local", None)
                    prev = None
                    widgets.show_error(err)
            elif not typed.strip():
                prev = None
        if prev:
            folder, folder_name = prev["folder"], prev.get("display_name")
            st.caption(f"Using **{prev['name']}**: {len(prev['classes'])} classes. {uploads.layout_sentence(prev)}")
            try:  # the same cached counts as the chart on the right
                given = cache.dataset_counts(dataset, folder, cache.data_dir())
                with st.expander("Images per class, as given", expanded=len(given["classes"]) <= 12):
                    st.table(pd.DataFrame(uploads.counts_rows(given)).set_index("class"))
            except EOSError:
                pass  # the chart's place shows the error
    profile = st.radio("Profile", list(labels.PROFILES), horizontal=True, key="setup_profile", persist_state="session",
                       index=list(labels.PROFILES).index(DEFAULT.data.profile),
                       format_func=lambda p: p.replace("_", " "),
                       help=" · ".join(f"{p.replace('_', ' ')}: {t}" for p, t in labels.PROFILE_LABELS.items()))
    as_is = profile == "as_is"
    ratio = st.select_slider("Imbalance ratio ρ = n_max / n_min (log scale)", options=list(labels.LOG_RATIOS),
                             value=DEFAULT.data.ratio if DEFAULT.data.ratio in labels.LOG_RATIOS else 50,
                             key="setup_ratio", persist_state="session", disabled=as_is,
                             format_func=lambda v: f"{v:g}",
                             help="Ignored with the 'as is' profile: the dataset keeps its own class counts.")
    if as_is:
        st.caption("Profile **as is**: every class keeps its own training images; ρ is not used.")
    cap_on = st.checkbox("Cap the largest class", key="setup_cap_on", persist_state="session",
                         help="Keeps demos on big datasets small and fast.")
    cap = st.number_input("Images in the largest class", min_value=2, max_value=100_000, value=500, step=100,
                          key="setup_cap", persist_state="session", disabled=not cap_on)

    st.subheader("Training")
    c1, c2 = st.columns(2)
    model = c1.selectbox("Model", list(labels.MODELS), key="setup_model", persist_state="session",
                         index=list(labels.MODELS).index(DEFAULT.train.model),
                         format_func=lambda m: labels.MODEL_LABELS.get(m, m),
                         help="auto: on a GPU, ResNet-32 for colour images of 32 px or more; on a CPU always the "
                              "small CNN (ResNet-32 takes minutes per epoch on a CPU).")
    loss = c2.selectbox("Loss", list(labels.LOSSES), key="setup_loss", persist_state="session",
                        index=list(labels.LOSSES).index(DEFAULT.train.loss),
                        format_func=lambda m: labels.LOSS_LABELS.get(m, m))
    # No min/max on these two: the engine's validate() judges the value (Train stays off on a bad one).
    epochs = c1.number_input("Epochs", value=DEFAULT.train.epochs, step=1, key="setup_epochs",
                             persist_state="session",
                             help=f"The engine's default ({DEFAULT.train.epochs}) lets phase 1 fit (memorise) its "
                                  "training set, every class included, as the paper's does; fewer epochs leave the "
                                  "smallest classes unfitted.")
    seed = c2.number_input("Seed", value=DEFAULT.seed, step=1, key="setup_seed",
                           persist_state="session", help="Same config, other seeds → error bars on Head accuracy.")
    augment = c1.selectbox("Augmentation (shift / flip)", list(AUGMENT_CHOICES), key="setup_augment",
                           persist_state="session", index=0, format_func=lambda c: augment_label(c, dataset),
                           help="Random shifts (and flips where they keep the class) of each phase-1 batch. "
                                "Off lets phase 1 memorise its training set sooner, as the paper's does.")
    methods = st.multiselect("Methods (phases 2–3)", list(labels.METHODS),
                             default=[m for m in DEFAULT.methods if m in labels.METHODS], key="setup_methods",
                             persist_state="session", format_func=labels.method_name,
                             help="\n".join(f"* {labels.METHOD_LABELS[m]}" for m in labels.METHODS))
    st.caption(f"{len(methods)} chosen: {', '.join(map(labels.method_name, methods)) or 'none'}. "
               f"**{labels.method_name(labels.CONTROL_METHOD)}** (re-trained head, no oversampling) is always run "
               "as the control, chosen or not: every method is also shown as its difference from it.")
    k = st.slider("k neighbours (SMOTE family and EOS)", 1, 30, DEFAULT.k_neighbors, key="setup_k",
                  persist_state="session")

# ------------------------------------------------------------------------------------------ counts
counts_info = None
with right:
    st.subheader("Class sizes before training")
    if dataset == "folder" and folder is None:
        st.info("Upload a .zip of your images, or name a folder (**Images from**, on the left), to see their class "
                "sizes; Train waits for them.")
    else:
        try:
            info = cache.dataset_counts(dataset, folder, cache.data_dir())
            from eos_core.data import class_counts

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                train_n = class_counts(info["train"], float(ratio), profile,
                                       max_per_class=int(cap) if cap_on else None)
            counts_info = {"classes": info["classes"], "train": train_n.tolist(), "test": info["test"]}
            log_y = st.toggle("log scale", value=float(ratio) >= 20, key="setup_logy")
            st.plotly_chart(training_figs.count_bars(info["classes"], train_n, info["test"], log_y=log_y),
                            key="counts_chart", config={"displaylogo": False})
            st.caption(f"{int(train_n.sum())} training images ({int(train_n.max())} in the largest class, "
                       f"{int(train_n.min())} in the smallest) · {int(sum(info['test']))} test images · "
                       f"{info['image_size']}×{info['image_size']}, {info['channels']} channel(s).")
            for w in caught:
                st.warning(str(w.message).replace("keeping one sample each", "each keeps a single image"))
            if train_n.min() < 2:
                st.warning("Some classes keep a single image: oversamplers need at least two per class to "
                           "interpolate. Lower ρ or raise the class cap.")
        except EOSError as err:
            widgets.show_error(err)

# ------------------------------------------------------------------------------------------ job
running = job is not None and job.active
in_control = jobs.can_control(job)


def build_config() -> RunConfig:
    cfg = RunConfig(
        data=DataConfig(dataset=dataset, ratio=float(ratio), profile=profile,
                        max_per_class=int(cap) if cap_on else None, folder=folder, seed=int(seed),
                        display_name=folder_name),
        train=TrainConfig(model=model, loss=loss, epochs=int(epochs), seed=int(seed),
                          augment=AUGMENT_CHOICES[augment]),
        head=HeadConfig(seed=int(seed)),
        methods=list(methods), k_neighbors=int(k),
    )
    cfg.validate()
    return cfg


st.divider()
try:  # the engine's own rule judges the form: an out-of-range value disables Train and says why
    form_cfg, form_error = build_config(), None
except EOSError as err:
    form_cfg, form_error = None, err
if form_error is not None:
    widgets.show_error(form_error)
elif counts_info is not None and not running:
    try:
        est = cache.phase1_estimate(form_cfg.train.to_dict(), int(sum(counts_info["train"])), info["channels"],
                                    info["image_size"], len(counts_info["classes"]), int(sum(counts_info["test"])))
        (st.warning if est.warn else st.caption)(est.sentence())
    except EOSError as err:
        widgets.show_error(err)
b1, b2, b3 = st.columns([1, 1, 4])
start = b1.button("Train", type="primary", key="train_button", icon="▶️",
                  disabled=running or (dataset == "folder" and folder is None) or counts_info is None
                  or form_error is not None,
                  help="Runs phase 1 and then phases 2–3 for the chosen oversamplers in the background.")
if start:
    try:
        cfg = build_config()
        if not methods:
            st.warning("No oversampler chosen: only phase 1 will run.")
        job = training.start_training(cfg.to_dict(), meta=counts_info)
        st.session_state["eos_form_job"] = job.id  # this form is the job's config already
        state.set_run(None)  # the results below follow the new run, not the previous one
        running, in_control = True, True
    except EOSError as err:
        widgets.show_error(err)
if running and in_control and b2.button("Cancel", key="cancel_button", icon="⏹️"):
    jobs.cancel_job(job)
    st.toast("Cancelling… the current step stops at the next check.")
elif running and not in_control:
    b3.caption("This job was started from another browser: you can follow it here; only that browser can "
               "cancel it.")
for other in [j for j in jobs.visible_jobs() if job is None or j.id != job.id]:  # e.g. queued seeds
    o1, o2 = st.columns([5, 1])
    o1.caption(f"Also {other.status} on this server: {other.label}.")
    if o2.button("Cancel", key=f"cancel_{other.id}", icon="⏹️"):
        jobs.cancel_job(other)
        st.toast(f"Cancelling {other.label}…")


@st.fragment(run_every=1.0 if running else None)
def job_panel(was_running: bool) -> None:
    j = jobs.current_job()
    if j is None:
        return
    if j.run_id and st.session_state.get("eos_adopted") != [j.id, j.run_id]:
        # Follow the job's run once it exists (in the URL at once: a reload or a server restart
        # still knows it); once per run, so picking another run below is not undone.
        st.session_state["eos_adopted"] = [j.id, j.run_id]
        state.set_run(j.run_id)
    if j.active:
        st.progress(overall_fraction(j), text=describe(j))
        elapsed = time.time() - (j.started or j.created)
        st.caption(f"Job {j.label} · {elapsed:.0f} s · you can switch pages; this page re-attaches to the job.")
    meta = j.result.get("meta") or {}
    seed = j.last("seed")
    start = j.progress.index(seed) if seed else 0
    hist = [p for p in j.progress[start:] if p.get("phase") == EpochDone.kind]
    if hist and meta:
        g1, g2 = st.columns(2)
        with g1:
            st.plotly_chart(training_figs.training_curve(hist, height=420), key="train_curve")
        with g2:
            if any(h.get("gap") for h in hist):
                measure = labels.DEFAULT_GAP_MEASURE
                st.plotly_chart(gap_over_epochs(hist, classes=meta.get("classes"), train_counts=meta["train"],
                                                metric=measure, height=420, legend="below",
                                                title=f"Per-class gap while training: {labels.GAP_NAMES[measure]}"),
                                key="live_gap")
                st.caption(f"{labels.GAP_NAMES[measure].capitalize()}: {labels.GAP_LABELS[measure]}. Dashed line: "
                           "no gap. Per-epoch snapshots have no null band; the band and p-values of the final "
                           "embeddings are on **Embedding gap**.")
            else:
                st.caption("No gap snapshots in this run's history.")
    if was_running and not j.active:
        st.rerun()  # full rerun: stop polling and show the results
    if j.active and j.run_id and j.last(MapStarted.kind) and st.session_state.get("eos_results_shown") != j.run_id:
        # Phases 1-3 are saved once the map starts: show the results now, not after the map.
        st.session_state["eos_results_shown"] = j.run_id
        st.rerun()


if job is not None:
    job_panel(running)

# ------------------------------------------------------------------------------------------ results
if job is not None and not job.active:
    if job.status == "finished":
        took = (job.finished or 0) - (job.started or 0)
        done = job.result.get("run_ids") or ([job.run_id] if job.run_id else [])
        what = f"Run {done[0]}" if len(done) == 1 else f"{len(done)} runs ({', '.join(done)})"
        d = (job.config or {}).get("data") or {}
        what += f" ({data_display_name(d)})"
        st.success(f"{what} finished in {took:.0f} s. Open **Embedding gap**, **Synthetic inspector** or "
                   f"**Head accuracy** in the sidebar to explore it.")
    elif job.status == "cancelled":
        st.warning("Training was cancelled. Runs that finished before are still in the store.")
    elif job.status == "failed":
        st.error(job.error or "The job failed.", icon="⚠️")
        if job.detail:
            with st.expander("Technical details"):
                st.code(job.detail, language="text")
    if job.status != "finished" and st.button("Dismiss", key="dismiss_job"):
        jobs.dismiss()
        st.rerun()

run_id = state.current_run_id()
try:
    results = per_class_results(run_id) if run_id else None
except EOSError as err:  # a damaged run: one sentence instead of a table dropped without a word
    results = None
    widgets.show_error(err)
if results is not None:
    st.subheader("Per-class results")
    d = (cache.get_store().get_run(run_id).config or {}).get("data") or {}
    st.caption(f"Run {run_id} · {data_display_name(d)} · test recall per "
               "class of the phase-1 head and of each re-trained head (one column per method); "
               f"**{gap_column()}**: {labels.GAP_LABELS[labels.DEFAULT_GAP_MEASURE]} (bands and p-values on "
               "**Embedding gap**).")
    if job is not None and job.active and job.run_id == run_id and job.last(MapStarted.kind):
        st.caption("Phases 1–3 are saved; the run's 2-D map is still being computed (**Embedding gap** shows it "
                   "when it is ready).")
    st.dataframe(results.table, hide_index=True, key="results_table",
                 column_config={c: st.column_config.NumberColumn(format="%.3f")
                                for c in results.table.columns if results.table[c].dtype.kind == "f"})
    if results.methods:
        st.markdown(f"**Test scores per method** · {labels.STAR_NOTE} · best value of each score highlighted · "
                    "Δ: paired difference from cRT (same phase 1, same head seed)")
        st.dataframe(heads.metrics_view(heads.metrics_table(results.methods)), hide_index=True,
                     key="results_summary")

with st.expander("Past runs in the store", expanded=False):
    try:
        runs = cache.list_runs()
        widgets.damaged_runs_note()  # runs the store cannot read: named here, not left out silently
        if runs:
            st.dataframe(pd.DataFrame([{"run": r.id, "what": cache.run_label(r), "status": r.status,
                                        "message": r.message} for r in runs]), hide_index=True)
            pick = st.selectbox("Open a run on the other pages", [r.id for r in runs], key="past_pick",
                                index=None, placeholder="choose a run…",
                                format_func=lambda i: next(cache.run_label(r) for r in runs if r.id == i))
            if pick and pick != state.current_run_id():
                state.set_run(pick)
                st.rerun()
        else:
            st.caption(f"No runs yet in {cache.runs_root()}.")
    except EOSError as err:
        widgets.show_error(err)
