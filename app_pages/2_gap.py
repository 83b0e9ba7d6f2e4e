"""Page 2 — the train-vs-test gap in embedding space, per class."""

from __future__ import annotations

import numpy as np
import streamlit as st

from eos_core.errors import EOSError
from eos_core.gap import GapReport
from ui import cache, jobs, selection, widgets
from ui.figures import common
from ui.figures import gap as gapfig
from ui.figures import maps as mapfig
from ui.labels import (
    DEFAULT_GAP_MEASURE,
    GAP_LABELS,
    GAP_MEASURES,
    GAP_NAMES,
    GAP_NO_EFFECT,
    HEAD_RECALL_GAP_LABEL,
    SIGNIFICANCE,
)
from ui.map_component import map_chart
from ui.results import run_verdict

st.title("Embedding gap")
widgets.explain("""
**What am I looking at?** Every image becomes a point: the CNN's *embedding* (the features its
last layer reads) squeezed to 2-D with UMAP. Points of one colour are one class. **Circles are
training images, squares test images.**

For a large class the training points are spread out and the test points fall among them. For a
**minority class** the network has seen only a few examples, so the training points huddle in a tight
clump while the test points of the same class scatter around it — often into other classes'
territory, which is exactly where they get misclassified. That difference is the
**generalization gap in embedding space**, and it is wider for smaller classes.

* The legend lists classes from the **smallest** to the largest (with their number of points);
  the smallest classes are drawn on top. Click a legend entry to hide a class, double-click to show
  only that class. **Train points are circles, test points squares.**
* **Hover** a point to see its image; **click** it for its card and its nearest training images;
  **box** or **lasso** (chart toolbar) selects many: a summary, all their images page by page, a CSV.
* **Gap per class** measures the gap in the embedding itself, three ways. Each compares a test
  point and a training point of the class against the *same number* of the class's other training
  points, so it reads "no gap" (ratio 1, difference 0) on average when train and test come from one
  distribution, whatever the class size. The grey **null band** is what the measure reads when the
  class's train/test labels are reshuffled (5–95 % of the reshuffles): a value above the band is a
  gap chance does not explain (ringed: one-sided permutation p < 0.05). Spearman's ρ between class
  size and gap is negative when smaller classes have bigger gaps; its p-value is a permutation test too.
* The **head's recall gap** (train recall − test recall of the phase-1 classifier) is shown apart:
  the head was fitted to those training images, so there is no null band for it.
* **Watch the gap open** shows the per-class gap over the training epochs (the toggle replays it
  as an animation).
""")

rec, p1 = widgets.require_phase1("a digits run takes well under a minute.")

# The engine's verdict on this run (eos_core.evaluation._verdict), the gap first; the rest is on Head accuracy.
verdict = run_verdict(rec)
widgets.verdict_panel(verdict, lead="gap")
if verdict["oversampling"]["call"] == "not yet a verdict":
    st.page_link("app_pages/4_heads.py", label="Train more seeds for a verdict on Head accuracy", icon="🎯")

classes = list(p1.classes)
counts = np.asarray(p1.train_counts)
train_sizes = dict(zip(classes, map(int, counts), strict=True))  # the maps rank classes by training size
emb = p1.embeddings
n_train = len(emb.train_y)
train_pred = np.asarray(emb.train_logits).argmax(1)
test_pred = np.asarray(emb.test_logits).argmax(1)

# ------------------------------------------------------------------------------------------ map
st.subheader("Train and test embeddings in one map")
c1, c2 = st.columns([1, 1])
cap = c1.number_input("Max points per split", min_value=200, max_value=1_000_000, step=5000, value=50_000,
                      key="gap_cap", persist_state="session",
                      help="Above this, points are sampled per class; the smallest classes are always kept whole.")
below = common.below_median_classes(counts)
only_minority = c2.toggle("Only minority classes", key="gap_only_min", persist_state="session",
                          help="Show only the classes with fewer training images than the median class "
                               f"({float(np.median(counts)):g} images): "
                               f"{', '.join(classes[c] for c in below) or 'none'}.")

try:
    arrays, kind, map_job = selection.run_map(rec.id)
except EOSError as err:
    widgets.show_error(err)
    st.stop()

if kind == "pca":
    if map_job is not None and map_job.status == "failed":
        st.warning(f"The UMAP map could not be computed ({map_job.error}); showing the PCA map instead.")
        if st.button("Try the UMAP map again", key="gap_retry_map"):
            jobs.registry().forget(map_job.id)
            st.rerun()
    else:

        @st.fragment(run_every=1.0)
        def wait_for_umap() -> None:
            arrays_now, kind_now, _ = selection.run_map(rec.id, start=False)
            if kind_now == "umap":
                st.rerun()
            st.caption("⏳ This is a quick **PCA preview**. The UMAP map is being computed in the background "
                       "and saved with the run; it replaces this map by itself when ready.")

        wait_for_umap()

gap_train, gap_test = selection.run_gaps(rec.id)
points = mapfig.gap_points(arrays["train"], emb.train_y, arrays["test"], emb.test_y, classes=classes,
                           train_pred=train_pred, test_pred=test_pred, gap_train=gap_train, gap_test=gap_test,
                           cap=int(cap), seed=0)
if only_minority:
    points = points[points["label"].isin(below)].reset_index(drop=True)
try:
    data = cache.data_for_run(cache.config_of(rec))
    images = selection.image_source(data.x_train, p1.train_idx, data.x_test)
except EOSError as err:
    images = None
    st.warning(f"Images unavailable: {err}")


def thumbs(rows) -> list[bytes]:
    return [common.thumbnail_png(im) for im in images(rows["image"].to_numpy())]


def neighbours(pid):
    if images is None:
        return None
    pid = int(pid)
    query = emb.train_emb[pid] if pid < n_train else emb.test_emb[pid - n_train]
    return selection.nearest_training(rec.id, query, k=8, classes=classes, train_y=emb.train_y,
                                      png_of=lambda r: [common.thumbnail_png(im) for im in images(r)],
                                      skip_row=pid if pid < n_train else None)


map_col, gallery_col = st.columns([3, 1.3], gap="medium")
with map_col:
    sel = map_chart(points, images, color_by="class", key="gap_map", height=600,
                    class_colors=mapfig.class_colors(classes), class_sizes=train_sizes,
                    title=f"{'UMAP' if kind == 'umap' else 'PCA preview'} of the embeddings · {len(points):,} points")
    st.caption("Markers: train ● circle, test ■ square. Hover a point for its image; **click** a point for its card "
               "and nearest training images; **box** or **lasso** (toolbar) to select many. Colour by class, split, "
               "prediction, correct/incorrect or *gap* (distance to the nearest training point of the same class). "
               "Legend: smallest class first (training images); the smallest groups of points are drawn on top and "
               "classes below the median size are outlined.")
with gallery_col:
    st.markdown("**Selection**")
    selection.selection_panel(points, sel, key="gap_sel", thumbs=thumbs if images is not None else None,
                              neighbours=neighbours)

# ------------------------------------------------------------------------------------------ gap bars
st.subheader("Gap per class, with its null band")
gap_report = GapReport.from_dict(p1.gap, len(classes))
null = gapfig.gap_null(gap_report)
gdf = gapfig.gap_frame(classes, counts, gapfig.gap_columns(gap_report))
available = [m for m in GAP_MEASURES if m in gdf.columns and gdf[m].notna().any()]
if not available:
    st.info("This run has no per-class gap measurements.")
else:
    # The engine's Spearman correlations and permutation p-values (gap.json), never recomputed here.
    rho = {m: gap_report.size_gap_spearman.get(m) for m in available}
    rho_p = {m: gap_report.size_gap_spearman_p.get(m) for m in available}
    st.plotly_chart(gapfig.gap_bars(gdf, metrics=available, rho=rho, rho_p=rho_p, null=null), key="gap_bars",
                    config={"displaylogo": False})
    settings = gap_report.null
    st.markdown("\n".join(f"* **{GAP_NAMES[m]}**: {GAP_LABELS[m]}." for m in available))
    st.caption(
        f"Grey bar: the null band, 5–95 % of the measure over {settings.get('permutations', 'several')} reshuffles "
        f"of train/test membership within the class (sizes kept; at most {settings.get('cap_per_side', '?')} "
        f"points per side). Red ring: one-sided permutation p < {SIGNIFICANCE:g} (test points farther from the "
        "training points than reshuffles give; a dot just above its band can have p ≈ 0.05 and no ring); "
        "each class is its own test, so even with no gap at all about 1 class in 20 would be ringed by chance. "
        "Dashed line: no gap. Spearman(size, gap) in each panel title, with its own permutation "
        "p-value: negative means the smaller the class, the wider its gap.")
    if "head_recall_gap" in gdf.columns:
        st.markdown("**The head's recall gap (not an embedding measure)**")
        st.plotly_chart(gapfig.head_gap_bars(gdf), key="gap_head", config={"displaylogo": False})
        st.caption(f"{HEAD_RECALL_GAP_LABEL.capitalize()}.")
    with st.expander("Gap table (values, bands, p-values as stored in gap.json)"):
        st.dataframe(gdf, hide_index=True, key="gap_table",
                     column_config={c: st.column_config.NumberColumn(format="%.4f")
                                    for c in gdf.columns if gdf[c].dtype.kind == "f"})
        st.download_button("Download CSV", gdf.to_csv(index=False), file_name=f"gap_{rec.id}.csv",
                           mime="text/csv", key="gap_csv")

# ------------------------------------------------------------------------------------------ over epochs
st.subheader("Watch the gap open")
hist = [h for h in (p1.history or []) if h.get("gap")]
if not hist:
    st.info("This run kept no per-epoch gap snapshots (turn on gap snapshots in the training config).")
else:
    options = [m for m in GAP_MEASURES if m in hist[-1]["gap"]]
    metric = st.segmented_control("Gap measure", options,
                                  default=DEFAULT_GAP_MEASURE if DEFAULT_GAP_MEASURE in options else options[0],
                                  key="gap_epoch_metric", format_func=GAP_NAMES.get) or options[0]
    st.plotly_chart(gapfig.gap_over_epochs(hist, classes=classes, train_counts=counts, metric=metric),
                    key="gap_epochs", config={"displaylogo": False})
    st.caption(f"{GAP_NAMES[metric].capitalize()}: {GAP_LABELS[metric]}. Measured on the embeddings after each "
               f"epoch; dashed line: no gap ({GAP_NO_EFFECT[metric]:g}). Per-epoch snapshots have no null band "
               "(the permutation test runs once, on the final embeddings, above).")
    # The animation (one frame per epoch) is built and drawn only when asked for.
    if st.toggle("Replay as an animation (bars per class, epoch by epoch)", key="gap_animate"):
        st.plotly_chart(gapfig.gap_animation(hist, classes=classes, train_counts=counts, metric=metric),
                        key="gap_anim", config={"displaylogo": False})
        st.caption("Press ▶ to replay the training; drag the slider to stop at an epoch. Bars start at the "
                   "no-gap value: up is a gap.")
