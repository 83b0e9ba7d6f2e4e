"""Pure plot-building helpers for the EOS Explorer pages.

Plain numpy / pandas / plotly (and Pillow for thumbnails): no Streamlit and no ``eos_core`` import,
so every function here is unit-testable and cheap to import.

Conventions
-----------
* One trace per class so classes can be toggled from the legend: SVG ``go.Scatter`` for small maps,
  WebGL ``go.Scattergl`` from :data:`WEBGL_MIN_POINTS` points on (:func:`scatter_trace`). Because
  point indices restart in every trace, every point carries a **global row id** in
  ``customdata[0]``; selections are mapped back through :func:`selected_ids`.
* One colour per oversampler everywhere (:data:`METHOD_COLORS`), one short name per oversampler
  in every table, legend and axis (:data:`METHOD_NAMES`).
* Legends list classes from the smallest to the largest training class, named ``"7 · n=3"``;
  minority classes get larger markers.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# Log-spaced imbalance ratios for the ratio slider (1-1.5-2-3-5-7 per decade).
LOG_RATIOS: tuple[float, ...] = (
    1, 1.5, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1000,
)

_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#393b79", "#ad494a", "#637939", "#8c6d31", "#7b4173",
    "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363",
)

# One short name and one colour per oversampler, used by every chart and table.
METHOD_NAMES = {"none": "none", "ros": "ROS", "smote": "SMOTE", "bsmote": "Borderline-SMOTE",
                "adasyn": "ADASYN", "eos": "EOS"}
METHOD_COLORS = {"none": "#8c8c8c", "ros": "#b07aa1", "smote": "#4e79a7", "bsmote": "#76b7b2",
                 "adasyn": "#edc948", "eos": "#e15759"}
_EXTRA_METHOD_COLORS = ("#59a14f", "#f28e2b", "#9c755f", "#ff9da7")

# Below this many points a map is drawn with SVG (go.Scatter): headless / GPU-less browsers draw
# small WebGL maps slower than SVG; above it WebGL (go.Scattergl) scales better.
WEBGL_MIN_POINTS = 3000

GAP_METRICS = {
    "spread_ratio": "Spread ratio (test / train spread)",
    "distance_gap": "Distance gap (test → train centroid)",
    "accuracy_gap": "Accuracy gap (train − test recall)",
}


# --------------------------------------------------------------------------------------------
# small helpers


def class_color(c: int) -> str:
    """A stable colour for class ``c`` (cycles after 20 classes)."""
    return _PALETTE[int(c) % len(_PALETTE)]


def method_name(m: str) -> str:
    """The short display name of an oversampler (``"eos"`` -> ``"EOS"``)."""
    return METHOD_NAMES.get(m, m)


def method_color(m: str) -> str:
    """The one colour of an oversampler in every chart."""
    if m in METHOD_COLORS:
        return METHOD_COLORS[m]
    return _EXTRA_METHOD_COLORS[sum(map(ord, m)) % len(_EXTRA_METHOD_COLORS)]


def scatter_trace(n_points: int, **kwargs: Any) -> go.Scatter | go.Scattergl:
    """A scatter trace of the right kind for a figure of ``n_points`` points (see
    :data:`WEBGL_MIN_POINTS`); use one kind per figure so the drawing order follows the traces."""
    return (go.Scattergl if n_points >= WEBGL_MIN_POINTS else go.Scatter)(**kwargs)


def class_names(classes: Sequence[str] | None, num_classes: int) -> list[str]:
    if classes and len(classes) >= num_classes:
        return [str(c) for c in classes[:num_classes]]
    return [str(i) for i in range(num_classes)]


def legend_name(name: str, n: int) -> str:
    return f"{name} · n={int(n)}"


def order_by_size(train_counts: Sequence[int], *, ascending: bool = True) -> list[int]:
    """Class ids sorted by training count (ties by id). Ascending = minority first."""
    counts = np.asarray(train_counts)
    ids = list(range(len(counts)))
    return sorted(ids, key=lambda c: ((counts[c] if ascending else -counts[c]), c))


def marker_sizes(train_counts: Sequence[int], *, base: float = 5.0, extra: float = 6.0) -> np.ndarray:
    """Per-class marker size: the smaller the class (log scale), the larger the marker."""
    counts = np.maximum(np.asarray(train_counts, dtype=float), 1.0)
    hi, lo = math.log(counts.max()), math.log(counts.min())
    if hi - lo < 1e-9:
        return np.full(len(counts), base)
    frac = (hi - np.log(counts)) / (hi - lo)  # 0 for the largest class, 1 for the smallest
    return base + extra * frac


def minority_classes(train_counts: Sequence[int]) -> list[int]:
    """Classes with fewer training examples than the largest class (the oversampling targets)."""
    counts = np.asarray(train_counts)
    if counts.size == 0:
        return []
    return [int(c) for c in np.flatnonzero(counts < counts.max())]


def sample_rows(y: np.ndarray, cap: int, *, seed: int = 0) -> np.ndarray:
    """Sorted row indices of at most ``cap`` points, keeping small classes whole.

    Water-filling per class: every class gets ``min(n_c, q)`` rows with the largest ``q`` that
    fits in ``cap``, so the minority classes the app is about are never thinned out.
    """
    y = np.asarray(y)
    n = len(y)
    if cap is None or n <= cap:
        return np.arange(n)
    cap = max(int(cap), 1)
    labels, counts = np.unique(y, return_counts=True)
    order = np.argsort(counts)
    quota = np.zeros(len(labels), dtype=int)
    left, remaining = cap, len(labels)
    for j in order:
        share = left // remaining if remaining else 0
        quota[j] = min(counts[j], share)
        left -= quota[j]
        remaining -= 1
    rng = np.random.default_rng(seed)
    keep = []
    for lab, q in zip(labels, quota):
        rows = np.flatnonzero(y == lab)
        keep.append(rows if q >= len(rows) else rng.choice(rows, size=q, replace=False))
    return np.sort(np.concatenate(keep)) if keep else np.arange(0)


def selected_ids(event: Any) -> list[int]:
    """Global row ids of the points in a ``st.plotly_chart(on_select=...)`` event (order kept).

    Accepts the Streamlit event object, a plain dict ``{"selection": {"points": [...]}}`` or the
    selection dict itself. Points without a numeric ``customdata[0]`` (e.g. segment lines) are
    ignored.
    """
    if event is None:
        return []
    sel = _get(event, "selection", event)
    points = _get(sel, "points", None) or []
    out: list[int] = []
    seen: set[int] = set()
    for p in points:
        cd = _get(p, "customdata", None)
        if cd is None:
            continue
        v = cd[0] if isinstance(cd, (list, tuple)) else cd
        try:
            gid = int(v)
        except (TypeError, ValueError):
            continue
        if gid not in seen:
            seen.add(gid)
            out.append(gid)
    return out


def customdata(*columns: Sequence[Any]) -> np.ndarray:
    """An (n, k) object array with one column per argument, keeping ints as ints (``np.column_stack``
    would turn every value into a string when one column holds text)."""
    n = len(columns[0]) if columns else 0
    out = np.empty((n, len(columns)), dtype=object)
    for j, col in enumerate(columns):
        vals = col.tolist() if isinstance(col, (np.ndarray, pd.Series)) else list(col)
        out[:, j] = vals
    return out


def _get(obj: Any, key: str, default: Any) -> Any:
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def thumbnail_png(img: np.ndarray, *, size: int = 64) -> bytes:
    """PNG bytes of one ``(C, H, W)`` float image in [0, 1], upscaled (nearest) to ``size``."""
    from PIL import Image

    a = np.asarray(img, dtype=np.float32)
    if a.ndim == 3 and a.shape[0] in (1, 3):
        a = np.transpose(a, (1, 2, 0))
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    a = np.clip(a, 0.0, 1.0)
    pil = Image.fromarray((a * 255).round().astype(np.uint8))
    scale = max(1, size // max(pil.size))
    if scale > 1:
        pil = pil.resize((pil.size[0] * scale, pil.size[1] * scale), Image.NEAREST)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


def _layout(fig: go.Figure, *, title: str | None = None, height: int | None = None) -> go.Figure:
    fig.update_layout(
        title=title,
        margin=dict(l=10, r=10, t=50 if title else 20, b=10),
        legend=dict(groupclick="togglegroup", itemsizing="constant"),
    )
    if height:
        fig.update_layout(height=height)
    return fig


# --------------------------------------------------------------------------------------------
# page 1: counts


def count_bars(classes: Sequence[str], train_counts: Sequence[int], test_counts: Sequence[int] | None = None,
               *, available: Sequence[int] | None = None, log_y: bool = False) -> go.Figure:
    """Per-class counts: the imbalanced training set beside the (untouched) test set."""
    names = class_names(classes, len(train_counts))
    fig = go.Figure()
    if available is not None:
        fig.add_bar(x=names, y=list(available), name="train (available)", marker_color="#d0d7e1",
                    hovertemplate="%{x}: %{y} available<extra></extra>")
    fig.add_bar(x=names, y=list(train_counts), name="train (imbalanced)", marker_color="#1f77b4",
                hovertemplate="%{x}: %{y} train<extra></extra>")
    if test_counts is not None:
        fig.add_bar(x=names, y=list(test_counts), name="test", marker_color="#ff7f0e",
                    hovertemplate="%{x}: %{y} test<extra></extra>")
    fig.update_layout(barmode="group", xaxis_title="class", yaxis_title="images",
                      xaxis_type="category")
    if log_y:
        fig.update_yaxes(type="log", dtick=1)  # decades only: minor labels clutter short ranges
    return _layout(fig, height=320)


# --------------------------------------------------------------------------------------------
# page 2: embedding map


def map_points(
    train_xy: np.ndarray, train_y: np.ndarray, test_xy: np.ndarray, test_y: np.ndarray,
    *, train_pred: np.ndarray | None = None, test_pred: np.ndarray | None = None,
    cap: int | None = None, seed: int = 0,
) -> pd.DataFrame:
    """One table of map points: ``gid`` (train rows 0..N-1, test rows N..N+M-1), ``row`` (index
    within its split), ``split``, ``x``, ``y``, ``label``, ``pred``. ``cap`` applies per split."""
    frames = []
    offset = 0
    for split, xy, y, pred in (("train", train_xy, train_y, train_pred), ("test", test_xy, test_y, test_pred)):
        y = np.asarray(y)
        rows = sample_rows(y, cap, seed=seed) if cap else np.arange(len(y))
        xy = np.asarray(xy)
        frames.append(pd.DataFrame({
            "gid": rows + offset,
            "row": rows,
            "split": split,
            "x": xy[rows, 0],
            "y": xy[rows, 1],
            "label": y[rows].astype(int),
            "pred": (np.asarray(pred)[rows].astype(int) if pred is not None else np.full(len(rows), -1)),
        }))
        offset += len(y)
    return pd.concat(frames, ignore_index=True)


def _point_customdata(df: pd.DataFrame, names: list[str], counts: np.ndarray) -> np.ndarray:
    pred_names = [names[p] if 0 <= p < len(names) else "–" for p in df["pred"]]
    return customdata(
        df["gid"].astype(int),
        [names[v] for v in df["label"]],
        pred_names,
        counts[df["label"].to_numpy()].astype(int),
        df["split"],
    )


_HOVER = ("<b>class %{customdata[1]}</b> (%{customdata[4]})<br>predicted %{customdata[2]}"
          "<br>train size of class: %{customdata[3]}<br>id %{customdata[0]}<extra></extra>")


def embedding_map(
    points: pd.DataFrame, *, classes: Sequence[str] | None, train_counts: Sequence[int],
    layout: str = "overlay", title: str | None = None, height: int = 560,
    highlight: Sequence[int] | None = None,
) -> go.Figure:
    """Train and test embeddings in one 2-D map.

    ``layout="overlay"``: train as filled dots, test as open circles in one panel;
    ``layout="side"``: train left, test right (same axes). One trace per (class, split), legend
    grouped per class (clicking a class toggles it everywhere). ``customdata[0]`` is ``gid``.
    """
    counts = np.asarray(train_counts)
    names = class_names(classes, len(counts))
    sizes = marker_sizes(counts)
    side = layout == "side"
    if side:
        fig = make_subplots(rows=1, cols=2, shared_xaxes=True, shared_yaxes=True,
                            subplot_titles=("train", "test"), horizontal_spacing=0.03)
    else:
        fig = go.Figure()
    shown: set[int] = set()
    n_points = len(points)
    for c in order_by_size(counts):
        for split in ("train", "test"):
            sub = points[(points["label"] == c) & (points["split"] == split)]
            if sub.empty:
                continue
            is_test = split == "test"
            marker = dict(color=class_color(c), size=float(sizes[c]) + (1 if is_test else 0),
                          opacity=0.9 if is_test else 0.6)
            if is_test and not side:
                marker.update(symbol="circle-open", line=dict(width=1.5, color=class_color(c)))
            trace = scatter_trace(
                n_points, x=sub["x"], y=sub["y"], mode="markers", marker=marker,
                name=legend_name(names[c], counts[c]), legendgroup=f"class{c}",
                showlegend=c not in shown,
                customdata=_point_customdata(sub, names, counts),
                hovertemplate=_HOVER,
            )
            shown.add(c)
            if side:
                fig.add_trace(trace, row=1, col=2 if is_test else 1)
            else:
                fig.add_trace(trace)
    if highlight:
        hl = points[points["gid"].isin(list(highlight))]
        if not hl.empty:
            fig.add_trace(scatter_trace(
                n_points, x=hl["x"], y=hl["y"], mode="markers", name="selected",
                marker=dict(size=14, symbol="circle-open", color="black", line=dict(width=2)),
                hoverinfo="skip", showlegend=False,
            ), **({"row": 1, "col": 1} if side else {}))
    fig.update_xaxes(showticklabels=False, title=None, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, title=None, showgrid=False, zeroline=False)
    fig.update_layout(dragmode="lasso", legend_title_text="class · train n (smallest first)")
    return _layout(fig, title=title, height=height)


# --------------------------------------------------------------------------------------------
# page 2: gap


def gap_values(report: Mapping[str, Any] | None, num_classes: int) -> dict[str, list[float]]:
    """Per-measure lists (length C) from a gap report dict — either the engine's
    ``GapReport.to_dict()`` form (``{"per_class": [{class, spread_ratio, ...}], ...}``) or the
    per-epoch snapshot form (``{measure: [per-class values]}``). None becomes NaN."""
    out: dict[str, list[float]] = {}
    if not report:
        return out
    rows = report.get("per_class") if isinstance(report, Mapping) else None
    for m in GAP_METRICS:
        vals = [float("nan")] * num_classes
        if rows:
            found = False
            for i, r in enumerate(rows):
                c = int(r.get("class", i))
                if 0 <= c < num_classes and m in r:
                    found = True
                    vals[c] = float("nan") if r[m] is None else float(r[m])
            if found:
                out[m] = vals
        elif m in report and report[m] is not None and len(report[m]) == num_classes:
            out[m] = [float("nan") if v is None else float(v) for v in report[m]]
    return out


def gap_frame(classes: Sequence[str] | None, train_counts: Sequence[int],
              values: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """Per-class gap table ordered by class size (largest first)."""
    counts = np.asarray(train_counts)
    names = class_names(classes, len(counts))
    df = pd.DataFrame({"class_id": np.arange(len(counts)), "class": names, "train_n": counts})
    for k, v in values.items():
        if v is not None and len(v) == len(counts):
            df[k] = np.asarray(v, dtype=float)
    return df.sort_values(["train_n", "class_id"], ascending=[False, True]).reset_index(drop=True)


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman rank correlation (average ranks for ties); NaN when undefined."""
    a = pd.Series(np.asarray(a, dtype=float))
    b = pd.Series(np.asarray(b, dtype=float))
    ok = a.notna() & b.notna()
    if ok.sum() < 3:
        return float("nan")
    ra, rb = a[ok].rank(), b[ok].rank()
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def gap_bars(df: pd.DataFrame, *, metrics: Sequence[str] | None = None, title: str | None = None,
             rho: Mapping[str, float | None] | None = None) -> go.Figure:
    """One bar panel per gap metric, classes left→right from largest to smallest.

    Each panel title carries the Spearman correlation between class size and that gap (``rho``
    when given, e.g. the engine's ``size_gap_spearman``, else computed here).
    """
    metrics = [m for m in (metrics or list(GAP_METRICS)) if m in df.columns]
    titles = []
    for m in metrics:
        r = (rho or {}).get(m)
        rho_m = float(r) if r is not None else spearman(df["train_n"], df[m])
        titles.append(f"{GAP_METRICS.get(m, m)} — Spearman(size, gap) = "
                      + ("n/a" if math.isnan(rho_m) else f"{rho_m:+.2f}"))
    fig = make_subplots(rows=max(len(metrics), 1), cols=1, shared_xaxes=True,
                        subplot_titles=titles, vertical_spacing=0.12)
    labels = [legend_name(n, c) for n, c in zip(df["class"], df["train_n"])]
    for i, m in enumerate(metrics, start=1):
        fig.add_bar(x=labels, y=df[m], row=i, col=1, name=m, showlegend=False,
                    marker_color=[class_color(c) for c in df["class_id"]],
                    hovertemplate="%{x}<br>" + m + " = %{y:.3f}<extra></extra>")
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=labels)
    fig.update_xaxes(title_text="class (largest → smallest)", row=len(metrics) or 1, col=1)
    return _layout(fig, title=title, height=220 * max(len(metrics), 1) + 60)


def history_gap_frame(history: Sequence[Mapping[str, Any]], metric: str = "spread_ratio") -> pd.DataFrame:
    """Long table (epoch, class_id, value) from history rows that carry gap snapshots."""
    rows = []
    for h in history:
        gap = h.get("gap") if isinstance(h, Mapping) else None
        if not gap or metric not in gap or gap[metric] is None:
            continue
        for c, v in enumerate(gap[metric]):
            rows.append({"epoch": int(h.get("epoch", len(rows))), "class_id": c,
                         "value": float(v) if v is not None else float("nan")})
    return pd.DataFrame(rows, columns=["epoch", "class_id", "value"])


def gap_over_epochs(history: Sequence[Mapping[str, Any]], *, classes: Sequence[str] | None,
                    train_counts: Sequence[int], metric: str = "spread_ratio",
                    title: str | None = None, height: int = 340, legend: str = "right") -> go.Figure:
    """Per-class gap metric across training epochs, one line per class (minority first).

    ``legend="below"``: a horizontal legend under the plot (for half-width columns)."""
    df = history_gap_frame(history, metric)
    counts = np.asarray(train_counts)
    names = class_names(classes, len(counts))
    sizes = marker_sizes(counts, base=1.5, extra=2.5)
    fig = go.Figure()
    for c in order_by_size(counts):
        sub = df[df["class_id"] == c]
        if sub.empty:
            continue
        fig.add_trace(go.Scatter(
            x=sub["epoch"], y=sub["value"], mode="lines+markers", name=legend_name(names[c], counts[c]),
            line=dict(color=class_color(c), width=float(sizes[c])), marker=dict(size=4),
            hovertemplate=f"{names[c]} (n={counts[c]})<br>epoch %{{x}}: %{{y:.3f}}<extra></extra>",
        ))
    fig.update_layout(xaxis=dict(title="epoch", tickformat="d"), yaxis_title=GAP_METRICS.get(metric, metric))
    fig = _layout(fig, title=title, height=height)
    if legend == "below":
        fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0,
                                      entrywidth=78, font=dict(size=11)))
    return fig


def gap_animation(history: Sequence[Mapping[str, Any]], *, classes: Sequence[str] | None,
                  train_counts: Sequence[int], metric: str = "spread_ratio") -> go.Figure:
    """Bars per class (largest → smallest) animated over epochs, with a play button and slider."""
    df = history_gap_frame(history, metric)
    counts = np.asarray(train_counts)
    names = class_names(classes, len(counts))
    order = order_by_size(counts, ascending=False)
    labels = [legend_name(names[c], counts[c]) for c in order]
    colors = [class_color(c) for c in order]
    epochs = sorted(df["epoch"].unique()) if not df.empty else []

    def bars(ep):
        sub = df[df["epoch"] == ep].set_index("class_id")["value"]
        return go.Bar(x=labels, y=[sub.get(c, np.nan) for c in order], marker_color=colors,
                      hovertemplate="%{x}: %{y:.3f}<extra></extra>")

    fig = go.Figure(data=[bars(epochs[0])] if epochs else [go.Bar(x=labels, y=[np.nan] * len(labels))])
    fig.frames = [go.Frame(data=[bars(ep)], name=str(ep)) for ep in epochs]
    ymax = float(np.nanmax(df["value"])) * 1.1 if not df.empty and np.isfinite(df["value"]).any() else 1.0
    fig.update_layout(
        yaxis=dict(range=[0, ymax], title=GAP_METRICS.get(metric, metric)),
        xaxis=dict(type="category", title="class (largest → smallest)"),
        updatemenus=[dict(type="buttons", showactive=False, x=0, y=1.15, xanchor="left",
                          buttons=[dict(label="▶ play", method="animate",
                                        args=[None, dict(frame=dict(duration=400, redraw=True),
                                                         fromcurrent=True, transition=dict(duration=200))]),
                                   dict(label="❚❚", method="animate",
                                        args=[[None], dict(mode="immediate", frame=dict(duration=0))])])],
        sliders=[dict(active=0, currentvalue=dict(prefix="epoch "), pad=dict(t=40),
                      steps=[dict(label=str(ep), method="animate",
                                  args=[[str(ep)], dict(mode="immediate", frame=dict(duration=0, redraw=True))])
                             for ep in epochs])],
    )
    return _layout(fig, height=380)


# --------------------------------------------------------------------------------------------
# page 3: synthetic inspector


def synthetic_map(
    real: pd.DataFrame, synth: pd.DataFrame, *, classes: Sequence[str] | None,
    train_counts: Sequence[int], enemies: pd.DataFrame | None = None,
    segments: pd.DataFrame | None = None, context: pd.DataFrame | None = None,
    title: str | None = None, height: int = 560,
) -> go.Figure:
    """Real minority points, synthetic points and the enemies they reach toward.

    Each frame has ``gid``, ``x``, ``y``, ``label``; ``segments`` has ``x0, y0, x1, y1`` (base →
    partner) and optionally ``sx, sy`` (the synthetic point on it); ``context`` (``x``, ``y``) is
    drawn underneath in light grey. Drawing order, bottom to top: context, enemies (grey open
    squares), real points (small, translucent), synthetic points (diamonds in their class colour,
    on top so the real dots never hide them), segments.
    """
    counts = np.asarray(train_counts)
    names = class_names(classes, len(counts))
    sizes = marker_sizes(counts, base=4.0, extra=3.0)
    n_points = sum(len(f) for f in (real, synth, enemies, context) if f is not None)
    fig = go.Figure()
    if context is not None and not context.empty:
        fig.add_trace(scatter_trace(
            n_points, x=context["x"], y=context["y"], mode="markers", name="other training points",
            marker=dict(size=3, color="#d4d4d4"), hoverinfo="skip"))
    if enemies is not None and not enemies.empty:
        fig.add_trace(scatter_trace(
            n_points, x=enemies["x"], y=enemies["y"], mode="markers", name="enemies (other classes)",
            marker=dict(symbol="square-open", size=6, color="#777777"),
            customdata=customdata(enemies["gid"].astype(int), [names[v] for v in enemies["label"]]),
            hovertemplate="enemy · class %{customdata[1]}<br>id %{customdata[0]}<extra></extra>",
        ))
    order = [c for c in order_by_size(counts)
             if (real["label"] == c).any() or (synth["label"] == c).any()]
    for c in order:  # real points first: underneath the synthetic ones
        r = real[real["label"] == c]
        n_syn = int((synth["label"] == c).sum())
        if r.empty:
            continue
        fig.add_trace(scatter_trace(
            n_points, x=r["x"], y=r["y"], mode="markers",
            name=legend_name(names[c], counts[c]) + (f" (+{n_syn} syn)" if n_syn else ""),
            legendgroup=f"class{c}", marker=dict(color=class_color(c), size=float(sizes[c]), opacity=0.5),
            customdata=customdata(r["gid"].astype(int), [names[c]] * len(r)),
            hovertemplate="real · class %{customdata[1]}<br>id %{customdata[0]}<extra></extra>",
        ))
    for c in order:
        s = synth[synth["label"] == c]
        if s.empty:
            continue
        has_real = bool((real["label"] == c).any())
        fig.add_trace(scatter_trace(
            n_points, x=s["x"], y=s["y"], mode="markers",
            name=(f"{names[c]} synthetic" if has_real
                  else legend_name(names[c], counts[c]) + f" (+{len(s)} syn)"),
            legendgroup=f"class{c}", showlegend=not has_real,
            marker=dict(color=class_color(c), size=8, symbol="diamond", opacity=0.9,
                        line=dict(width=0.6, color="white")),
            customdata=customdata(s["gid"].astype(int), [names[c]] * len(s)),
            hovertemplate="synthetic · class %{customdata[1]}<br>id %{customdata[0]}<extra></extra>",
        ))
    if segments is not None and not segments.empty:
        for t in segment_traces(segments):
            fig.add_trace(t)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_layout(dragmode="lasso")
    fig = _layout(fig, title=title, height=height)
    # Legend under the map: the map keeps the column's full width.
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.02, xanchor="left", x=0,
                                  title_text="real ● · synthetic ◆ ", font=dict(size=11)))
    return fig


def segment_traces(segments: pd.DataFrame) -> list[go.Scatter]:
    """Dotted base → partner segments, the partner marked with an x and (with ``sx, sy``) the
    selected synthetic points as black diamonds. Not selectable (no ``customdata``)."""
    xs, ys = _segment_xy(segments)
    out = [
        go.Scatter(x=xs, y=ys, mode="lines", name="base → partner", line=dict(color="black", width=2.5, dash="dash"),
                   hoverinfo="skip"),
        go.Scatter(x=segments["x1"], y=segments["y1"], mode="markers", name="partner reached",
                   marker=dict(symbol="x", size=10, color="black"), hoverinfo="skip"),
    ]
    if "sx" in segments:
        out.append(go.Scatter(x=segments["sx"], y=segments["sy"], mode="markers", name="selected synthetic",
                              marker=dict(symbol="diamond", size=12, color="black", line=dict(width=1, color="white")),
                              hoverinfo="skip"))
    return out


def _segment_xy(seg: pd.DataFrame) -> tuple[list[float | None], list[float | None]]:
    xs: list[float | None] = []
    ys: list[float | None] = []
    for x0, y0, x1, y1 in seg[["x0", "y0", "x1", "y1"]].itertuples(index=False):
        xs += [float(x0), float(x1), None]
        ys += [float(y0), float(y1), None]
    return xs, ys


def share_bars(values: Mapping[str, float], *, title: str, yaxis: str, percent: bool = True) -> go.Figure:
    """One bar per oversampler (e.g. share of synthetic points whose nearest real neighbour is an
    enemy), in the oversampler's colour."""
    methods = list(values)
    fig = go.Figure(go.Bar(x=[method_name(m) for m in methods], y=[values[m] for m in methods],
                           marker_color=[method_color(m) for m in methods],
                           text=[f"{values[m]:.0%}" if percent else f"{values[m]:.3f}" for m in methods],
                           textposition="outside", cliponaxis=False,
                           hovertemplate="%{x}: %{text}<extra></extra>"))
    fig.update_layout(yaxis_title=yaxis, xaxis_title="oversampler", xaxis_type="category")
    if percent:
        fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    return _layout(fig, title=title, height=340)


def closure_bars(closure: Mapping[str, Sequence[float]], *, classes: Sequence[str] | None,
                 train_counts: Sequence[int], title: str | None = None) -> go.Figure:
    """Gap closure per class, grouped by oversampler (one colour each); classes largest → smallest."""
    counts = np.asarray(train_counts)
    names = class_names(classes, len(counts))
    order = order_by_size(counts, ascending=False)
    labels = [legend_name(names[c], counts[c]) for c in order]
    fig = go.Figure()
    for m, vals in closure.items():
        v = np.asarray(vals, dtype=float)
        fig.add_bar(x=labels, y=[v[c] if c < len(v) else np.nan for c in order], name=method_name(m),
                    marker_color=method_color(m),
                    hovertemplate=method_name(m) + "<br>%{x}: %{y:.2f}<extra></extra>")
    fig.update_layout(barmode="group", xaxis_type="category", yaxis_title="gap closure",
                      xaxis_title="class (largest → smallest)", yaxis_range=[0, 1.02], legend_title_text="oversampler")
    return _layout(fig, title=title, height=340)


# --------------------------------------------------------------------------------------------
# page 4: head accuracy

METRIC_COLUMNS = {"balanced_accuracy": "balanced acc", "g_mean": "g-mean", "macro_f1": "macro-F1"}
# Human column names of metrics_table, shared by Setup & train and Head accuracy.
TABLE_COLUMNS = {"method": "oversampler", **METRIC_COLUMNS, "n_synthetic": "synthetic points",
                 "seconds": "seconds (phases 2–3)"}


def metrics_table(methods: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per method (raw names, for CSV): balanced accuracy, g-mean, macro-F1, synthetic
    count, seconds."""
    rows = []
    for name, r in methods.items():
        m = r.get("metrics", r)
        rows.append({
            "method": name,
            "balanced_accuracy": _f(m.get("balanced_accuracy")),
            "g_mean": _f(m.get("g_mean")),
            "macro_f1": _f(m.get("macro_f1")),
            "n_synthetic": int(r.get("n_synthetic", 0) or 0),
            "seconds": _f(r.get("seconds")),
        })
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def _is_best(v: pd.Series, decimals: int = 4) -> np.ndarray:
    """Rows holding the column's best value at the shown precision (ties: all of them)."""
    r = v.astype(float).round(decimals)
    return (r == r.max()).to_numpy() if r.notna().any() else np.zeros(len(v), bool)


def best_methods(table: pd.DataFrame, metric: str = "balanced_accuracy") -> list[str]:
    """Methods with the best ``metric`` at 4 decimals, as shown (every one of them on a tie)."""
    return list(table.loc[_is_best(table[metric]), "method"]) if len(table) else []


def metrics_view(table: pd.DataFrame) -> Any:
    """``metrics_table`` for display: short method names, the best balanced accuracy marked with
    a ★ in the name, human column names, 4 decimals, the best value of each metric highlighted
    (a pandas Styler for ``st.dataframe``)."""
    best = set(best_methods(table))
    view = table.copy()
    view["method"] = [method_name(m) + (" ★" if m in best else "") for m in table["method"]]
    view = view.rename(columns=TABLE_COLUMNS)
    metric_cols = list(METRIC_COLUMNS.values())
    best_style = "background-color: #d7efd9; font-weight: 600"
    return (view.style
            .format({**{c: "{:.4f}" for c in metric_cols}, TABLE_COLUMNS["seconds"]: "{:.2f}"}, na_rep="–")
            .apply(lambda col: np.where(_is_best(col), best_style, ""), subset=metric_cols))


def _f(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def recall_heatmap(recalls: Mapping[str, Sequence[float]], *, classes: Sequence[str] | None,
                   train_counts: Sequence[int], title: str | None = None) -> go.Figure:
    """Methods × classes recall heatmap; classes largest → smallest. Cell text is drawn in
    white on dark cells and near-black on light ones."""
    counts = np.asarray(train_counts)
    names = class_names(classes, len(counts))
    order = order_by_size(counts, ascending=False)
    methods = list(recalls)
    z = np.array([[float(recalls[m][c]) if c < len(recalls[m]) else np.nan for c in order] for m in methods])
    labels = [legend_name(names[c], counts[c]) for c in order]
    ylabels = [method_name(m) for m in methods]
    fig = go.Figure(go.Heatmap(z=z, x=labels, y=ylabels, zmin=0, zmax=1, colorscale="Viridis", xgap=1, ygap=1,
                               hovertemplate="%{y} · %{x}<br>recall %{z:.3f}<extra></extra>",
                               colorbar=dict(title="recall", thickness=12)))
    _cell_text(fig, z, labels, ylabels, dark=lambda v: v < 0.6, fmt="{:.2f}")
    fig.update_xaxes(type="category", title="class (largest → smallest)", showgrid=False)
    fig.update_yaxes(type="category", autorange="reversed", showgrid=False)
    return _layout(fig, title=title, height=130 + 44 * len(methods))


def _cell_text(fig: go.Figure, z: np.ndarray, x: Sequence[str], y: Sequence[str], *, dark, fmt: str,
               skip=None) -> None:
    """Numbers on heatmap cells as two text scatters: white on dark cells, near-black on light."""
    for is_dark, color in ((True, "white"), (False, "#1a1a1a")):
        xs, ys, texts = [], [], []
        for i, yy in enumerate(y):
            for j, xx in enumerate(x):
                v = z[i, j]
                if not np.isfinite(v) or (skip is not None and skip(i, j)) or bool(dark(v)) != is_dark:
                    continue
                xs.append(xx)
                ys.append(yy)
                texts.append(fmt.format(v))
        if xs:
            fig.add_trace(go.Scatter(x=xs, y=ys, text=texts, mode="text", showlegend=False, hoverinfo="skip",
                                     textfont=dict(color=color, size=12)))


def confusion_figure(conf: Sequence[Sequence[float]], *, classes: Sequence[str] | None,
                     title: str | None = None, normalize: bool = True) -> go.Figure:
    """Confusion matrix (rows = true class), row-normalised by default, with the value in every
    non-empty cell and a colour bar."""
    z = np.asarray(conf, dtype=float)
    names = class_names(classes, z.shape[0])
    counts = z.copy()
    if normalize:
        s = z.sum(axis=1, keepdims=True)
        z = np.divide(z, s, out=np.zeros_like(z), where=s > 0)
    zmax = 1.0 if normalize else max(float(z.max()), 1.0)
    fig = go.Figure(go.Heatmap(
        z=z, x=names, y=names, colorscale="Blues", zmin=0, zmax=zmax, xgap=1, ygap=1,
        customdata=counts, colorbar=dict(title="share" if normalize else "images", thickness=10,
                                         tickformat=".0%" if normalize else None),
        hovertemplate="true %{y} → predicted %{x}<br>%{customdata:.0f} images (%{z:.0%})<extra></extra>"
        if normalize else "true %{y} → predicted %{x}<br>%{z:.0f} images<extra></extra>",
    ))
    _cell_text(fig, z, names, names, dark=lambda v: v > 0.55 * zmax,
               fmt="{:.0%}" if normalize else "{:.0f}", skip=lambda i, j: counts[i, j] == 0)
    fig.update_xaxes(type="category", title="predicted", showgrid=False)
    fig.update_yaxes(type="category", title="true", autorange="reversed", showgrid=False)
    return _layout(fig, title=title, height=420)


def seeds_summary(per_seed: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean, std and count of ``metric`` per method from a long table (method, seed, metric...)."""
    g = per_seed.groupby("method", sort=False)[metric]
    out = pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=1).fillna(0.0), "n": g.count()}).reset_index()
    return out


def seeds_bars(summary: pd.DataFrame, *, metric: str, title: str | None = None) -> go.Figure:
    """Mean ± std over seeds per method, in each method's colour."""
    fig = go.Figure(go.Bar(
        x=[method_name(m) for m in summary["method"]], y=summary["mean"],
        error_y=dict(type="data", array=summary["std"], visible=True),
        customdata=summary["n"],
        hovertemplate="%{x}<br>mean %{y:.3f} ± %{error_y.array:.3f}<br>%{customdata} seed(s)<extra></extra>",
        marker_color=[method_color(m) for m in summary["method"]],
    ))
    fig.update_layout(yaxis_title=METRIC_COLUMNS.get(metric, metric), xaxis_title="oversampler",
                      xaxis_type="category")
    return _layout(fig, title=title, height=340)


def history_frame(history: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Epoch table (epoch, loss, train_acc, test_bacc, seconds) from history / progress rows."""
    cols = ["epoch", "loss", "train_acc", "test_bacc", "seconds"]
    rows = [{k: h.get(k) for k in cols} for h in history if isinstance(h, Mapping) and "epoch" in h]
    return pd.DataFrame(rows, columns=cols)


def training_curve(history: Sequence[Mapping[str, Any]], *, height: int = 340) -> go.Figure:
    """Loss (left axis) and test balanced accuracy (right axis, fixed 0–1 with its own ticks)."""
    df = history_frame(history)
    fig = go.Figure()
    fig.add_scatter(x=df["epoch"], y=df["loss"], name="loss", mode="lines+markers",
                    line=dict(color="#4e79a7"), hovertemplate="epoch %{x}<br>loss %{y:.4f}<extra></extra>")
    fig.add_scatter(x=df["epoch"], y=df["test_bacc"], name="test balanced acc", mode="lines+markers", yaxis="y2",
                    line=dict(color="#e15759"),
                    hovertemplate="epoch %{x}<br>test balanced acc %{y:.3f}<extra></extra>")
    fig.update_layout(
        xaxis=dict(title="epoch", tickformat="d"),
        yaxis=dict(title="loss", rangemode="tozero"),
        yaxis2=dict(title="test balanced acc", overlaying="y", side="right", range=[0, 1], tickmode="linear",
                    tick0=0, dtick=0.2, tickformat=".1f", showgrid=False, zeroline=False),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1),
    )
    return _layout(fig, title="Training curve", height=height)


def figure_html(fig: go.Figure) -> str:
    """Self-contained HTML (plotly.js inlined, opens offline)."""
    return fig.to_html(include_plotlyjs=True, full_html=True)
