"""Page 3 — where do the synthetic points go? EOS beside SMOTE (or any other oversampler)."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import streamlit as st

from eos_core.errors import EOSError
from ui import cache, maps, synthetic, widgets
from ui.figures import closure as closurefig
from ui.figures import common
from ui.figures import maps as mapfig
from ui.labels import CLOSURE_LABELS, CONTROL_METHOD, GAP_NAMES, METHODS, method_name

st.title("Synthetic inspector")
widgets.explain("""
**What am I looking at?** Oversamplers invent new training points for the small classes, here in
embedding space (phase 2). The map shows the **real minority points** (large dots), the
**synthetic points** made for them (small diamonds, same colour) and, for EOS, the **enemies**
they reach toward (grey squares: nearest neighbours from *other* classes).

* **SMOTE** draws a new point on the segment between a minority point and one of its nearest
  neighbours *of the same class*: the new points stay inside the class's (too small) training
  region.
* **EOS** (expansive over-sampling) draws it between a minority point `x` and one of its nearest
  **enemies** `e`: `x + r·(e − x)` with `r` uniform in [0, 1). The class's region *expands* toward
  its neighbours — where its test points actually landed (see *Embedding gap*).
* **EOS (as published)** is the partner choice of the authors' public code: it reads the partner one
  rank closer than the drawn enemy, so some partners are the base itself or a neighbour of the same
  class (the *partner share* below counts them).

**Select synthetic points** (click, box or lasso) to draw the segment from the real point they
came from (*base*) to the partner they reach toward, and to list their provenance: base and partner
images, `r`, and the real images nearest to the synthetic point.

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
emb = p1.embeddings
n_train = len(emb.train_y)
minority = common.minority_classes(counts)
choices = [m for m in METHODS if m not in ("none", CONTROL_METHOD)]  # the methods that make synthetic points
run_k = int(p1.config.k_neighbors)

c1, c2 = st.columns([2, 1.2], gap="large")
methods = c1.multiselect("Oversamplers", choices, default=[m for m in ("eos", "smote") if m in choices],
                         key="syn_methods", persist_state="session", format_func=method_name)
k = c2.slider("k neighbours", 1, 30, run_k, key="syn_k",
              help=f"This run used k={run_k}; other values are resampled on the fly (and cached).")
show_cls = st.pills("Minority classes (training images per class)", minority, selection_mode="multi",
                    default=minority, key="syn_classes",
                    format_func=lambda c: common.legend_name(classes[c], counts[c]),
                    help="Click a class to hide or show it in the maps.") or []
o1, o2 = st.columns([2, 1.2], gap="large")
context = o1.toggle("Show the other training points faintly", value=True, key="syn_context")
cap = o2.number_input("Max points drawn (real and synthetic, each)", 200, 1_000_000, 3000, step=500, key="syn_cap",
                      help="Above this, points are sampled; the smallest classes are kept whole.")

if not minority:
    st.info("This run is balanced (ρ = 1): no class needs synthetic points.")
    st.stop()
if not methods:
    st.info("Choose at least one oversampler.")
    st.stop()

try:
    arrays, kind, _ = maps.get_map(rec.id)
except EOSError as err:
    widgets.show_error(err)
    st.stop()
if kind == "pca":
    st.caption("⏳ Map: PCA preview while the UMAP map is computed (open *Embedding gap* to follow it).")

train_xy = np.asarray(arrays["train"])
try:
    data = cache.data_for_run(cache.config_of(rec))
except EOSError as err:
    data = None
    st.warning(f"Images unavailable for thumbnails: {err}")


def image_of(row: int) -> bytes | None:
    if data is None:
        return None
    return common.thumbnail_png(data.x_train[int(p1.train_idx[row])])


def real_frame(rows: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"gid": rows, "x": train_xy[rows, 0], "y": train_xy[rows, 1],
                         "label": emb.train_y[rows].astype(int)})


def inspect(method: str, syn: dict, xy: np.ndarray, picked: list[int]) -> None:
    """Provenance cards of the picked synthetic rows."""
    has_prov = len(syn["base"]) == len(syn["y_syn"]) and len(syn["base"]) > 0
    dist, nbr = synthetic.nearest_real(rec.id, syn["X_syn"][picked], k=5)
    for n, s in enumerate(picked[:8]):
        y = int(syn["y_syn"][s])
        with st.container(border=True):
            head = f"**synthetic #{s}** · class {classes[y]}"
            if has_prov:
                b, pa, r = int(syn["base"][s]), int(syn["partner"][s]), float(syn["r"][s])
                py = int(emb.train_y[pa])
                head += f" · r = {r:.2f} · partner class {classes[py]}" + (" (enemy)" if py != y else "")
            st.markdown(head)
            imgs, caps = [], []
            rows = ([(b, f"base · {classes[y]}"), (pa, f"partner · {classes[py]}")] if has_prov else [])
            rows += [(int(nbr[n, t]), f"nn{t + 1} · {classes[int(emb.train_y[int(nbr[n, t])])]}")
                     for t in range(nbr.shape[1])]
            for row, cap in rows:
                img = image_of(row)
                if img:
                    imgs.append(img)
                    caps.append(cap)
            if imgs:
                st.image(imgs, caption=caps, width=56)
            else:
                st.caption(" · ".join(cap for _, cap in rows))
    if len(picked) > 8:
        st.caption(f"{len(picked)} synthetic points selected; the first 8 are listed.")
    if not has_prov:
        st.caption(f"{method_name(method)} does not record which pair each point came from; "
                   "only its nearest real images are shown.")


def on_pick(sel_key: str, pick_key: str) -> None:
    """Chart callback: keep the selected synthetic rows (global ids minus the real-row offset)."""
    picked = common.selected_ids(st.session_state.get(sel_key))
    st.session_state[pick_key] = [g - n_train for g in picked if g >= n_train]


cols = st.columns(min(len(methods), 2))
for i, method in enumerate(methods):
    with cols[i % len(cols)]:
        st.subheader(method_name(method), divider="gray")
        try:
            syn = synthetic.synthetic(rec.id, method, k)
            xy = synthetic.place_synthetic(rec.id, method, k, kind)
        except EOSError as err:
            widgets.show_error(err)
            continue
        y_syn = syn["y_syn"].astype(int)
        placed = np.isfinite(xy[:, 0]) if len(xy) else np.zeros(0, bool)  # the saved map holds a sample
        keep = np.flatnonzero(np.isin(y_syn, show_cls) & placed)
        if len(keep) > cap:
            keep = np.sort(np.random.default_rng(0).choice(keep, size=int(cap), replace=False))
        synth_df = pd.DataFrame({"gid": n_train + keep, "x": xy[keep, 0] if len(keep) else [],
                                 "y": xy[keep, 1] if len(keep) else [], "label": y_syn[keep]})
        real_rows = np.flatnonzero(np.isin(emb.train_y, show_cls))
        real_rows = real_rows[common.sample_rows(emb.train_y[real_rows], int(cap), seed=0)]
        has_prov = len(syn["base"]) == len(y_syn) and len(y_syn) > 0
        enemy_rows = np.unique(syn["partner"][keep]) if has_prov else np.zeros(0, int)
        enemy_rows = enemy_rows[~np.isin(emb.train_y[enemy_rows], show_cls)] if len(enemy_rows) else enemy_rows
        enemies = real_frame(enemy_rows) if len(enemy_rows) else None

        sel_key, pick_key = f"syn_sel_{method}", f"syn_pick_{method}_{rec.id}_{k}"
        ctx_df = None
        if context:
            others = np.flatnonzero(~np.isin(emb.train_y, show_cls))
            if len(others) > 4000:
                others = np.sort(np.random.default_rng(1).choice(others, 4000, replace=False))
            ctx_df = pd.DataFrame({"x": train_xy[others, 0], "y": train_xy[others, 1]})
        fig = mapfig.synthetic_map(real_frame(real_rows), synth_df, classes=classes, train_counts=counts,
                              enemies=enemies, context=ctx_df, height=600,
                              title=f"{len(y_syn)} synthetic points · {len(keep)} drawn")
        # The selection is kept in our own session key (set by the chart's callback or the random
        # button): drawing the segments changes the figure, which gives the chart a fresh state.
        chosen = [s for s in st.session_state.get(pick_key, []) if 0 <= s < len(y_syn) and placed[s]]
        if chosen and has_prov:
            b = syn["base"][chosen].astype(int)
            pa = syn["partner"][chosen].astype(int)
            segments = pd.DataFrame({"x0": train_xy[b, 0], "y0": train_xy[b, 1], "x1": train_xy[pa, 0],
                                     "y1": train_xy[pa, 1], "sx": xy[chosen, 0], "sy": xy[chosen, 1]})
            for t in mapfig.segment_traces(segments):
                fig.add_trace(t)
        elif chosen:
            fig.add_scatter(x=xy[chosen, 0], y=xy[chosen, 1], mode="markers", name="selected synthetic",
                            marker=dict(symbol="diamond", size=12, color="black"), hoverinfo="skip")
        fig.update_layout(uirevision=f"{rec.id}-{method}")
        st.plotly_chart(fig, key=sel_key, on_select=functools.partial(on_pick, sel_key, pick_key),
                        selection_mode=("points", "box", "lasso"), config={"displaylogo": False, "scrollZoom": True})
        b1, b2 = st.columns(2)
        if b1.button("🎲 Random 3", key=f"syn_random_{method}",
                     help="Inspect 3 random synthetic points (or select points in the map)",
                     disabled=not placed.any()):
            pool = keep if len(keep) else np.flatnonzero(placed)
            st.session_state[pick_key] = sorted(
                np.random.default_rng().choice(pool, size=min(3, len(pool)), replace=False).tolist())
            st.rerun()
        if chosen and b2.button("Clear", key=f"syn_clear_{method}"):
            st.session_state[pick_key] = []
            st.rerun()
        if chosen:
            inspect(method, syn, xy, chosen)
        else:
            st.caption("Select synthetic points in the map (click, box or lasso) to see where they came from.")

# ------------------------------------------------------------------------------------------ quality
st.subheader("What the synthetic points do to the gap")
try:
    quality = {m: synthetic.synthetic_quality(rec.id, m, k) for m in methods}
except EOSError as err:
    widgets.show_error(err)
    st.stop()
st.caption(("Values stored with the run (methods.json, k = " + str(run_k) + ")") if int(k) == run_k else
           f"k = {k} differs from the run's k = {run_k}: these values are computed now by the engine's functions "
           "on the resampled points.")
q1, q2 = st.columns(2)
with q1:
    st.plotly_chart(closurefig.per_class_method_bars(
        {m: quality[m]["nn_gap_closed"] for m in methods}, classes=classes, train_counts=counts,
        yaxis="share of the gap closed", refs={0.0: "0 = closes none", 1.0: "1 = closes all"},
        title=f"Gap closed: share of the class's {GAP_NAMES['nn_ratio']} gap"), key="syn_closure")
    st.caption(f"**Gap closed**: {CLOSURE_LABELS['nn_gap_closed']}, on the log scale of the nearest-neighbour "
               "ratio of *Embedding gap*. Above 1: test points end up nearer to the training region than training "
               "points are to each other. No bar: undefined for that class (see the notes below the table).")
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
