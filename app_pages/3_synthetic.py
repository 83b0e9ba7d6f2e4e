"""Page 3 — where do the synthetic points go? EOS beside SMOTE (or any other oversampler)."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import streamlit as st

from eos_core.errors import EOSError
from ui import cache, selection, synthetic, widgets
from ui.figures import closure as closurefig
from ui.figures import common
from ui.figures import maps as mapfig
from ui.labels import CLOSURE_LABELS, CONTROL_METHOD, METHOD_NAMES, METHODS, method_name
from ui.map_component import map_chart

st.title("Synthetic inspector")
widgets.explain("""
**What am I looking at?** Oversamplers invent new training points for the small classes, here in
embedding space (phase 2). Each map shows the minority classes' **training points (● circles)**,
their **test points (■ squares)** and the **synthetic points (◆ diamonds, same colour, drawn on top)**,
plus the **enemies** the synthetic points reach toward (partners from *other* classes, drawn as
training circles of their own class, the partner end of each segment marked ×).

* **SMOTE** draws a new point on the segment between a minority point and one of its nearest
  neighbours *of the same class*: the new points stay inside the class's (too small) training
  region.
* **EOS** (expansive over-sampling) draws it between a minority point `x` and one of its nearest
  **enemies** `e`: `x + r·(e − x)` with `r` uniform in [0, 1). The class's region *expands* toward
  its neighbours — where its test points actually landed (see *Embedding gap*).
* **EOS (as published)** is the partner choice of the authors' public code: it reads the partner one
  rank closer than the drawn enemy, so some partners are the base itself or a neighbour of the same
  class (the *partner share* below counts them).

Every oversampler that interpolates (EOS, the published EOS, SMOTE, Borderline-SMOTE, ADASYN) records
each point's **base**, **partner** and `r`: dashed segments go from base to partner for a random
sample of points and for the points you select. ROS only copies points (no segments). **Hover** a
synthetic point to see its base and partner images; **click** it for its card (`r`, the partner's
class) and its nearest real training images; **box/lasso** selects many (summary, images, CSV).
One id everywhere: train row r is `#r`, test row r is `#(n_train + r)`, synthetic row s is
`#(n_train + n_test + s)`.

Synthetic points live in the embedding, not in the map: the run's own oversamplers (at the run's k)
are placed into the saved UMAP map with UMAP's `transform`, like the test points (a fixed random
sample of at most 3000 points per oversampler, so the map stays quick to compute); for another k, or
on the PCA preview, each is drawn at the distance-weighted mean map position of its 10 nearest real
training points. Either way a segment in the map is only a sketch of the straight segment in the
embedding.

**Quality figures** (below the maps): how much of each class's nearest-neighbour gap the synthetic
points close, how the 1-NN test recall changes with them, the share of synthetic points whose nearest
real neighbour belongs to another class (EOS is *meant* to push toward enemies, but a very high
share means label noise) and, for the EOS variants, what their partners were.
""")

rec, p1 = widgets.require_phase1()

classes = list(p1.classes)
counts = np.asarray(p1.train_counts)
train_sizes = dict(zip(classes, map(int, counts), strict=True))  # the maps rank classes by training size
emb = p1.embeddings
n_train = len(emb.train_y)
minority = common.minority_classes(counts)
choices = [m for m in METHODS if m not in ("none", CONTROL_METHOD)]  # the methods that make synthetic points
run_k = int(p1.config.k_neighbors)

# Minority classes in the legend's order (smallest first), so buttons and legends agree.
minority = [c for c in common.order_by_size(counts) if c in set(minority)]
methods = st.multiselect("Oversamplers (side by side)", choices,
                         default=[m for m in ("eos", "smote") if m in choices], key="syn_methods",
                         persist_state="session", format_func=lambda m: METHOD_NAMES.get(m, m))
c1, c2, c3 = st.columns([1.2, 1, 1], gap="large")
k = c1.slider("k neighbours", 1, 30, run_k, key="syn_k",
              help=f"This run used k={run_k}; other values are resampled on the fly (and cached).")
cap = c2.number_input("Max points drawn per split", 200, 1_000_000, 20_000, step=1000, key="syn_cap",
                      help="Above this, points are sampled; the smallest classes are kept whole.")
n_seg = c3.number_input("Segments drawn (random sample)", 0, 500, 40, step=10, key="syn_nseg",
                        help="Base → partner segments of this many random synthetic points, plus those you select.")
show_cls = st.pills("Minority classes: every class smaller than the largest (training images per class, smallest "
                    "first)", minority, selection_mode="multi", default=minority, key="syn_classes",
                    format_func=lambda c: common.legend_name(classes[c], counts[c]),
                    help="Click a class to hide or show it in the maps.") or []
context = st.toggle("Show the other classes' training points too", value=False, key="syn_context")

if not minority:
    st.info("This run is balanced (ρ = 1): no class needs synthetic points.")
    st.stop()
if not methods:
    st.info("Choose at least one oversampler.")
    st.stop()

try:
    arrays, kind, _ = selection.run_map(rec.id)
except EOSError as err:
    widgets.show_error(err)
    st.stop()
if kind == "pca":
    st.caption("⏳ Map: PCA preview while the UMAP map is computed (open *Embedding gap* to follow it).")

train_xy, test_xy = np.asarray(arrays["train"]), np.asarray(arrays["test"])
n_test = len(emb.test_y)
methods_json = cache.methods_summary(rec.id)
try:
    data = cache.data_for_run(cache.config_of(rec))
    images = selection.image_source(data.x_train, p1.train_idx, data.x_test)
except EOSError as err:
    images = None
    st.warning(f"Images unavailable for thumbnails: {err}")


def pngs(ids: np.ndarray) -> list[bytes]:
    return [common.thumbnail_png(im) for im in images(np.asarray(ids))]


def thumbs(rows: pd.DataFrame) -> list[bytes]:
    return pngs(rows["image"].to_numpy())


def syn_card(method: str, syn: dict, pid: int) -> None:
    """Provenance of a synthetic point: base, partner (enemy or not), r."""
    s = int(pid) - n_train - n_test
    if s < 0:
        return
    y = int(syn["y_syn"][s])
    if len(syn["base"]) != len(syn["y_syn"]):
        st.caption(f"{method_name(method)} recorded no base/partner for its points.")
        return
    b, pa, r = int(syn["base"][s]), int(syn["partner"][s]), float(syn["r"][s])
    if b == pa:
        st.markdown(f"A copy of training point **#{b}** (ROS adds copies: no segment).")
        return
    py = int(emb.train_y[pa])
    st.markdown(f"synthetic row {s} = base **#{b}** + r·(partner **#{pa}** − base), **r = {r:.2f}** · partner class "
                f"{classes[py]}" + (" (**enemy**)" if py != y else " (same class)"))
    if images is not None:
        st.image(pngs(np.array([b, pa])), caption=[f"base #{b} · {classes[y]}", f"partner #{pa} · {classes[py]}"],
                 width=92)


def neighbours_of(syn: dict, pid) -> pd.DataFrame | None:
    if images is None:
        return None
    pid = int(pid)
    if pid < n_train:
        query, skip = emb.train_emb[pid], pid
    elif pid < n_train + n_test:
        query, skip = emb.test_emb[pid - n_train], None
    else:
        query, skip = syn["X_syn"][pid - n_train - n_test], None
    return selection.nearest_training(rec.id, query, k=6, classes=classes, train_y=emb.train_y, png_of=pngs,
                                      skip_row=skip)


cols = st.columns(min(len(methods), 2))
for i, method in enumerate(methods):
    with cols[i % len(cols)]:
        st.subheader(METHOD_NAMES.get(method, method), divider="gray")
        widgets.method_notices(METHOD_NAMES.get(method, method), selection.method_warnings(methods_json, method),
                               key=f"syn_notices_{method}")
        try:
            syn = synthetic.synthetic(rec.id, method, k)
            xy = synthetic.place_synthetic(rec.id, method, k, kind)
        except EOSError as err:
            widgets.show_error(err)
            continue
        y_syn = syn["y_syn"].astype(int)
        has_prov = len(syn["base"]) == len(y_syn) and len(y_syn) > 0
        empty = [classes[c] for c in minority if not (y_syn == c).any()]
        if empty and method in methods_json:
            st.caption(f"No synthetic points for class{'es' if len(empty) > 1 else ''} {', '.join(empty)}.")
        points = mapfig.synthetic_points(
            train_xy=train_xy, train_y=emb.train_y, test_xy=test_xy, test_y=emb.test_y, syn_xy=xy, syn_y=y_syn,
            base=syn["base"] if has_prov else None, partner=syn["partner"] if has_prov else None, classes=classes,
            show=show_cls, cap=int(cap), context=context, seed=0)
        sel_key = f"syn_sel_{method}"
        prev = st.session_state.get(sel_key) or {}
        picked = [int(v) - n_train - n_test for v in (prev.get("ids") or []) if int(v) >= n_train + n_test][:300]
        syn_rows = points.loc[points["split"] == "synthetic", "row"].to_numpy()
        sample = (np.random.default_rng(0).choice(syn_rows, size=min(int(n_seg), len(syn_rows)), replace=False)
                  if len(syn_rows) else syn_rows)
        segments = (mapfig.segment_frame(train_xy, syn["base"], syn["partner"], np.union1d(sample, picked))
                    if has_prov else None)
        n_syn_drawn = int((points["split"] == "synthetic").sum())
        sel = map_chart(points, images, color_by="class", key=sel_key, height=600,
                        class_colors=mapfig.class_colors(classes), class_sizes=train_sizes, segments=segments,
                        title=f"{len(y_syn):,} synthetic points · {n_syn_drawn:,} drawn")
        if method == "ros":
            st.caption("ROS adds copies of real points: a synthetic point sits on its base, so there are no segments.")
        elif not has_prov:
            st.caption(f"{METHOD_NAMES.get(method, method)} recorded no base/partner: no segments.")
        else:
            st.caption(f"Dashed: base → partner of {0 if segments is None else len(segments)} synthetic points "
                       "(a random sample plus the selected ones); × marks the partner. Partners from other classes "
                       f"({'the enemies EOS reaches toward' if method.startswith('eos') else 'enemies'}) are drawn "
                       "as training points of their class.")
        selection.selection_panel(points, sel, key=f"syn_panel_{method}", thumbs=thumbs if images is not None else None,
                                  neighbours=functools.partial(neighbours_of, syn),
                                  card=functools.partial(syn_card, method, syn))

# ------------------------------------------------------------------------------------------ quality
st.subheader("What the synthetic points do to the gap")
try:
    quality = {m: synthetic.synthetic_quality(rec.id, m, k) for m in methods}
except EOSError as err:
    widgets.show_error(err)
    st.stop()
st.caption(synthetic.quality_source(quality, k, run_k))
q1, q2 = st.columns(2)
with q1:
    st.plotly_chart(closurefig.per_class_method_bars(
        {m: quality[m]["nn_gap_closed"] for m in methods}, classes=classes, train_counts=counts,
        yaxis="share of the gap closed", refs={0.0: "0 = closes none", 1.0: "1 = closes all"},
        title="Gap closed (0 = none, 1 = all, above 1: over-shoot)"), key="syn_closure")
    st.caption(f"**Gap closed**: {CLOSURE_LABELS['nn_gap_closed']}. Exactly: (mean log distance of the class's "
               "test points to their nearest real training point − the same with the synthetic points added) ÷ "
               "log of the class's nearest-neighbour ratio (*Embedding gap*). It is not capped at 1: above 1 the "
               "synthetic points over-shoot, bringing test points nearer to the training region than training "
               "points are to each other (more likely when the gap itself is small, a small divisor). "
               "No bar: undefined for that class (see the notes below the table).")
with q2:
    st.plotly_chart(closurefig.per_class_method_bars(
        {m: quality[m]["nn1_recall_change"] for m in methods}, classes=classes, train_counts=counts,
        yaxis="change in 1-NN test recall", refs={0.0: "no change"}, percent=True,
        title="1-NN test recall: change from no oversampling"), key="syn_nn1_change")
    st.caption(f"**1-NN recall change**: {CLOSURE_LABELS['nn1_recall_change']} (a change, not a level: 0 = the "
               "synthetic points change no test point's nearest label). This is not the head's recall "
               "(*Head accuracy*).")
st.info("**Why ROS closes nothing, by construction.** Random over-sampling adds *copies* of training points. "
        "A copy sits exactly on a training point, so every test point's nearest training point is at the same "
        "distance, with the same label, as without it: its gap closed and its 1-NN recall change are 0 for every "
        "class. What ROS changes is only how often the head sees each point while it is re-trained.", icon="ℹ️")
q3, q4 = st.columns([1, 1])
with q3:
    shares = {m: quality[m]["enemy_share"] for m in methods if quality[m]["n"] > 0}
    if shares:
        st.plotly_chart(closurefig.share_bars(shares, title="Nearest real neighbour is an enemy",
                                              yaxis="share of synthetic points"), key="syn_enemy_share")
with q4:
    partners = {m: quality[m]["partner_share"] for m in methods if quality[m]["partner_share"]}
    if partners:
        st.plotly_chart(closurefig.partner_share_bars(partners, title="What each synthetic point's partner was"),
                        key="syn_partner_share")
        st.caption("EOS as the paper describes it always interpolates toward a real enemy; the published code's "
                   "partner choice (one rank closer) also picks the base itself (the point is a copy) or a "
                   "same-class neighbour (SMOTE-like).")
    else:
        st.caption("Choose **EOS** or **EOS (as published)** above to see which partners their points were drawn "
                   "toward.")
qdf = pd.DataFrame({"class": classes, "train n": counts,
                    **{f"gap closed · {method_name(m)}": quality[m]["nn_gap_closed"] for m in methods},
                    **{f"1-NN recall change · {method_name(m)}": quality[m]["nn1_recall_change"] for m in methods},
                    **{f"enemy share · {method_name(m)}": quality[m]["enemy_share_per_class"] for m in methods}})
notes = {c: note for m in methods for c, note in enumerate(quality[m]["nn_gap_closed_note"]) if note}
qdf["why no gap closed"] = [notes.get(c, "") for c in range(len(classes))]
with st.expander("Quality table (per class)", expanded=bool(notes)):
    st.dataframe(qdf, hide_index=True, key="syn_quality_table",
                 column_config={c: st.column_config.NumberColumn(format="%.3f")
                                for c in qdf.columns if qdf[c].dtype.kind == "f"})
    st.download_button("Download CSV", qdf.to_csv(index=False), file_name=f"synthetic_quality_{rec.id}_k{k}.csv",
                       mime="text/csv", key="syn_quality_csv")
