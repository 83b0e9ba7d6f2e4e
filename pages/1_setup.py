"""Page 1 — choose data and imbalance, train in the background, see per-class results."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import streamlit as st

import app_plots as P
import app_state as S
from eos_core.config import LOSSES, METHODS, MODELS, PROFILES, DataConfig, HeadConfig, RunConfig, TrainConfig
from eos_core.errors import EOSError

S.ensure_router()  # first: a deep link opened before app.py ever ran
S.sync_session()
st.title("Setup & train")
S.explain("""
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
   oversampler, and score it on the test set.

The bar chart shows how many training images each class will keep *before* you train.
""")

DATASETS = list(S.DATASET_LABELS)

# ------------------------------------------------------------------------------------------ form
left, right = st.columns([1, 1.4], gap="large")
with left:
    st.subheader("Data")
    dataset = st.selectbox("Dataset", DATASETS, format_func=S.DATASET_LABELS.get, key="setup_dataset",
                           persist_state="session",
                           help="digits is bundled and instant; the others load from EOS_DATA_DIR "
                                "(downloaded there when online).")
    folder = None
    if dataset == "folder":
        up = st.file_uploader("Image folder as a .zip (one sub-folder of images per class)", type=["zip"],
                              key="setup_zip")
        prev = st.session_state.get("eos_upload")
        if up is not None:
            if not prev or prev.get("file_id") != up.file_id:
                try:
                    path, names = S.extract_image_zip(up.getvalue())
                    st.session_state["eos_upload"] = prev = {"file_id": up.file_id, "folder": path,
                                                             "classes": names, "name": up.name}
                except EOSError as err:
                    st.session_state.pop("eos_upload", None)
                    prev = None
                    S.show_error(err)
        if prev:
            folder = prev["folder"]
            st.caption(f"Using **{prev['name']}** — {len(prev['classes'])} classes: "
                       + ", ".join(prev["classes"][:12]) + (" …" if len(prev["classes"]) > 12 else ""))
    ratio = st.select_slider("Imbalance ratio ρ = n_max / n_min (log scale)", options=list(P.LOG_RATIOS), value=50,
                             key="setup_ratio", persist_state="session",
                             format_func=lambda v: f"{v:g}")
    profile = st.radio("Profile", list(PROFILES), horizontal=True, key="setup_profile", persist_state="session",
                       help="exp: sizes shrink geometrically class by class; step: half large, half small.")
    cap_on = st.checkbox("Cap the largest class", key="setup_cap_on", persist_state="session",
                         help="Keeps demos on big datasets small and fast.")
    cap = st.number_input("Images in the largest class", min_value=2, max_value=100_000, value=500, step=100,
                          key="setup_cap", persist_state="session", disabled=not cap_on)

    st.subheader("Training")
    c1, c2 = st.columns(2)
    model = c1.selectbox("Model", list(MODELS), key="setup_model", persist_state="session",
                         help="auto: a small CNN for small images, ResNet-32 for 32×32 colour images.")
    loss = c2.selectbox("Loss", list(LOSSES), key="setup_loss", persist_state="session",
                        format_func={"ce": "cross-entropy", "focal": "focal", "ldam_drw": "LDAM-DRW",
                                     "cb": "class-balanced"}.get)
    epochs = c1.number_input("Epochs", min_value=1, max_value=1000, value=10, key="setup_epochs",
                             persist_state="session")
    seed = c2.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, key="setup_seed",
                           persist_state="session", help="Same config, other seeds → error bars on Head accuracy.")
    methods = st.multiselect("Oversamplers (phases 2–3)", list(METHODS), default=list(METHODS), key="setup_methods",
                             persist_state="session", format_func=P.method_name,
                             help="none: the phase-1 head (baseline) · ROS: random over-sampling (copies) · "
                                  "SMOTE / Borderline-SMOTE / ADASYN: interpolate within a class · "
                                  "EOS: interpolate toward the nearest enemies (other classes).")
    k = st.slider("k neighbours (SMOTE family and EOS)", 1, 30, 10, key="setup_k", persist_state="session")

# ------------------------------------------------------------------------------------------ counts
counts_info = None
with right:
    st.subheader("Class sizes before training")
    if dataset == "folder" and folder is None:
        st.info("Upload a .zip of your images to see their class sizes.")
    else:
        try:
            info = S.dataset_counts(dataset, folder, S.data_dir())
            from eos_core.imbalance import class_counts

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                train_n = class_counts(info["train"], float(ratio), profile,
                                       max_per_class=int(cap) if cap_on else None)
            counts_info = {"classes": info["classes"], "train": train_n.tolist(), "test": info["test"]}
            log_y = st.toggle("log scale", value=float(ratio) >= 20, key="setup_logy")
            st.plotly_chart(P.count_bars(info["classes"], train_n, info["test"], log_y=log_y),
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
            S.show_error(err)

# ------------------------------------------------------------------------------------------ job
job = S.current_job()
running = job is not None and job.active


def build_config() -> RunConfig:
    cfg = RunConfig(
        data=DataConfig(dataset=dataset, ratio=float(ratio), profile=profile,
                        max_per_class=int(cap) if cap_on else None, folder=folder, seed=int(seed)),
        train=TrainConfig(model=model, loss=loss, epochs=int(epochs), seed=int(seed)),
        head=HeadConfig(seed=int(seed)),
        methods=list(methods), k_neighbors=int(k),
    )
    cfg.validate()
    return cfg


st.divider()
b1, b2, b3 = st.columns([1, 1, 4])
start = b1.button("Train", type="primary", key="train_button", icon="▶️",
                  disabled=running or (dataset == "folder" and folder is None) or counts_info is None,
                  help="Runs phase 1 and then phases 2–3 for the chosen oversamplers in the background.")
if start:
    try:
        cfg = build_config()
        if not methods:
            st.warning("No oversampler chosen: only phase 1 will run.")
        job = S.start_training(cfg.to_dict(), meta=counts_info)
        running = True
    except EOSError as err:
        S.show_error(err)
if running and b2.button("Cancel", key="cancel_button", icon="⏹️"):
    job.cancel.set()
    st.toast("Cancelling… the current step stops at the next check.")

PHASE_TEXT = {"start": "starting", "data": "loading the data", "embed": "computing the embeddings",
              "phase1_done": "phase 1 finished", "methods_done": "oversamplers finished",
              "map": "computing the UMAP map for the Embedding gap page"}


def overall_fraction(j: S.Job) -> float:
    last = j.last()
    if last is None:
        return 0.0
    seed = j.last("seed")
    if seed:  # several runs in one job: each run is an equal share
        return min(1.0, (seed["index"] + _fraction(last)) / max(1, seed["total"]))
    return _fraction(last)


def _fraction(last: dict) -> float:
    ph = last.get("phase")
    if ph == "train":
        return 0.05 + 0.7 * last["epoch"] / max(1, last["epochs"])
    if ph == "method":
        return 0.78 + 0.17 * last["index"] / max(1, last["total"])
    return {"start": 0.0, "data": 0.02, "embed": 0.76, "phase1_done": 0.78, "methods_done": 0.95,
            "map": 0.96, "map_failed": 0.99}.get(ph, 0.0)


def describe(j: S.Job) -> str:
    if j.status == "queued":
        return "Waiting for another training job on this server to finish…"
    last = j.last()
    if last is None:
        return "starting…"
    seed = j.last("seed")
    prefix = f"Seed {seed['seed']} ({seed['index'] + 1}/{seed['total']}) · " if seed else ""
    return prefix + _describe(last)


def _describe(last: dict) -> str:
    ph = last.get("phase")
    if ph == "train":
        return (f"Phase 1 · epoch {last['epoch']}/{last['epochs']} · loss {last['loss']:.4f} · "
                f"train acc {last['train_acc']:.3f} · test balanced acc {last['test_bacc']:.3f}")
    if ph == "method":
        name = S.METHOD_LABELS.get(last["name"], last["name"])
        return f"Phases 2–3 · {name} ({last['index'] + 1}/{last['total']})"
    return PHASE_TEXT.get(ph, ph or "")


@st.fragment(run_every=1.0 if running else None)
def job_panel(was_running: bool) -> None:
    j = S.current_job()
    if j is None:
        return
    if j.active:
        st.progress(overall_fraction(j), text=describe(j))
        elapsed = time.time() - (j.started or j.created)
        st.caption(f"Job {j.label} · {elapsed:.0f} s · you can switch pages; this page re-attaches to the job.")
    meta = j.result.get("meta") or {}
    seed = j.last("seed")
    start = j.progress.index(seed) if seed else 0
    hist = [p for p in j.progress[start:] if p.get("phase") == "train"]
    if hist and meta:
        g1, g2 = st.columns(2)
        with g1:
            st.plotly_chart(P.training_curve(hist, height=420), key="train_curve")
        with g2:
            if any(h.get("gap") for h in hist):
                st.plotly_chart(P.gap_over_epochs(hist, classes=meta.get("classes"), train_counts=meta["train"],
                                                  title="Per-class gap (spread ratio) while training", height=420,
                                                  legend="below"),
                                key="live_gap")
            else:
                st.caption("No gap snapshots in this run's history.")
    if was_running and not j.active:
        st.rerun()  # full rerun: stop polling and show the results


if job is not None:
    job_panel(running)

# ------------------------------------------------------------------------------------------ results
if job is not None and not job.active:
    if job.status == "finished":
        rid = job.result.get("run_id") or job.run_id
        if rid and S.current_run_id() != rid and st.session_state.get("eos_adopted") != job.id:
            st.session_state["eos_adopted"] = job.id
            S.set_run(rid)
        took = (job.finished or 0) - (job.started or 0)
        done = job.result.get("run_ids") or ([rid] if rid else [])
        what = f"Run {done[0]}" if len(done) == 1 else f"{len(done)} runs ({', '.join(done)})"
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
        S.forget_job()
        st.rerun()

run_id = S.current_run_id()
meta = S.load_json(run_id, "phase1") if run_id else None
if meta:
    summary = S.load_json(run_id, "methods", {}) or {}
    st.subheader("Per-class results")
    st.caption(f"Run {run_id} · test recall per class of the phase-1 head (*none*) and of each re-trained head "
               "(one column per oversampler).")
    df = pd.DataFrame({"class": meta["classes"], "train n": meta["train_counts"], "test n": meta["test_counts"],
                       "train recall": np.round(np.asarray(meta.get("train_recall", []), dtype=float), 3)
                       if meta.get("train_recall") else np.nan})
    for name, m in summary.items():
        rec = m.get("per_class_recall")
        if rec is not None:
            df[P.method_name(name)] = np.round(np.asarray(rec, dtype=float), 3)
    spread = P.gap_values(S.load_json(run_id, "gap", {}), len(df)).get("spread_ratio")
    if spread is not None:
        df["gap (spread ratio)"] = np.round(np.asarray(spread, dtype=float), 3)
    st.dataframe(df, hide_index=True, key="results_table",
                 column_config={c: st.column_config.NumberColumn(format="%.3f")
                                for c in df.columns if df[c].dtype.kind == "f"})
    if summary:
        st.markdown("**Test scores per oversampler** · ★ best balanced accuracy · best value of each score "
                    "highlighted")
        st.dataframe(P.metrics_view(P.metrics_table(summary)), hide_index=True, key="results_summary")

with st.expander("Past runs in the store", expanded=False):
    try:
        runs = S.list_runs()
        if runs:
            st.dataframe(pd.DataFrame([{"run": r.id, "what": S.run_label(r), "status": r.status,
                                        "message": r.message} for r in runs]), hide_index=True)
            pick = st.selectbox("Open a run on the other pages", [r.id for r in runs], key="past_pick",
                                index=None, placeholder="choose a run…",
                                format_func=lambda i: next(S.run_label(r) for r in runs if r.id == i))
            if pick and pick != S.current_run_id():
                S.set_run(pick)
                st.rerun()
        else:
            st.caption(f"No runs yet in {S.runs_root()}.")
    except EOSError as err:
        S.show_error(err)
