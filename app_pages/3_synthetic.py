"""Page 3 — where do the synthetic points go? EOS beside SMOTE (or any other oversampler)."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import streamlit as st

from eos_core.errors import EOSError
from ui import cache, maps, synthetic, widgets
from ui.figures import common
from ui.figures import gap as gapfig
from ui.figures import maps as mapfig
from ui.labels import METHODS, method_name

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

**Select synthetic points** (click, box or lasso) to draw the segment from the real point they
came from (*base*) to the partner they reach toward, and to list their provenance: base and partner
images, `r`, and the real images nearest to the synthetic point.

Synthetic points live in the embedding, not in the map: the run's own oversamplers (at the run's k)
are placed into the saved UMAP map with UMAP's `transform`, like the test points (a fixed random
sample of at most 3000 points per oversampler, so the map stays quick to compute); for another k, or
on the PCA preview, each is drawn at the distance-weighted mean map position of its 10 nearest real
training points. Either way a segment in the map is only a sketch of the straight segment in the
embedding.

**Quality figures:** the share of synthetic points whose nearest real neighbour belongs to another
class (EOS is *meant* to push toward enemies, but a very high share means label noise), and
**gap closure**: per class, the share of test points whose nearest training point (real or
synthetic) has their label — higher than *none* means the synthetic points reach the test points.
""")

rec, p1 = widgets.require_phase1()

classes = list(p1.classes)
counts = np.asarray(p1.train_counts)
emb = p1.embeddings
n_train = len(emb.train_y)
minority = common.minority_classes(counts)
choices = [m for m in METHODS if m != "none"]
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
st.subheader("Quality of the synthetic points")
try:
    quality = {m: synthetic.synthetic_quality(rec.id, m, k) for m in ["none", *methods]}
except EOSError as err:
    widgets.show_error(err)
    st.stop()
q1, q2 = st.columns([1, 2])
with q1:
    shares = {m: quality[m]["enemy_share"] for m in methods if quality[m]["n"] > 0}
    if shares:
        st.plotly_chart(gapfig.share_bars(shares, title="Nearest real neighbour is an enemy",
                                     yaxis="share of synthetic points"), key="syn_enemy_share")
with q2:
    closure = {m: quality[m]["closure"] for m in ["none", *methods]}
    st.plotly_chart(gapfig.closure_bars(closure, classes=classes, train_counts=counts,
                                   title="Gap closure: test points whose nearest training point has their label"),
                    key="syn_closure")
qdf = pd.DataFrame({"class": classes, "train n": counts,
                    **{f"closure · {m}": np.round(quality[m]["closure"], 3) for m in ["none", *methods]},
                    **{f"enemy share · {m}": np.round(quality[m]["enemy_share_per_class"], 3) for m in methods}})
with st.expander("Quality table"):
    st.dataframe(qdf, hide_index=True, key="syn_quality_table")
    st.download_button("Download CSV", qdf.to_csv(index=False), file_name=f"synthetic_quality_{rec.id}_k{k}.csv",
                       mime="text/csv", key="syn_quality_csv")
