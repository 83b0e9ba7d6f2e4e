"""Map points and figures: the point tables pages 2 and 3 hand to :func:`ui.map_component.map_chart`
(:func:`gap_points`, :func:`synthetic_points`, :func:`segment_frame`, :func:`class_colors`) and the older
Plotly figures (:func:`embedding_map`, :func:`synthetic_map`; no longer used by the pages). The 2-D
coordinates come from the run's saved map (``ui.selection.run_map``); this module only arranges them.

Point ids follow one scheme (see :mod:`ui.selection`): train row ``r`` -> ``r``, test row ``r`` ->
``n_train + r``, synthetic row ``s`` -> ``n_train + n_test + s``; ``image`` holds the id of the real
image to show (a synthetic point's base) and ``partner_image`` a synthetic point's partner."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from eos_core.data import snapshot_subsample
from ui.figures.common import (
    apply_layout,
    class_color,
    class_names,
    customdata,
    legend_name,
    marker_sizes,
    order_by_size,
    sample_rows,
    scatter_trace,
)


def class_colors(classes: Sequence[str]) -> dict[str, str]:
    """Class name -> the app's colour of that class (the one palette, :func:`ui.figures.common.class_color`)."""
    return {str(name): class_color(c) for c, name in enumerate(classes)}


def capped_rows(y: np.ndarray, cap: int | None, *, seed: int = 0) -> np.ndarray:
    """At most about ``cap`` rows, every class kept and small classes whole (``eos_core.data._subsample``)."""
    y = np.asarray(y)
    return np.arange(len(y)) if cap is None or len(y) <= cap else snapshot_subsample(y, int(cap), seed)


def gap_points(
    train_xy: np.ndarray, train_y: np.ndarray, test_xy: np.ndarray, test_y: np.ndarray, *,
    classes: Sequence[str], train_pred: np.ndarray, test_pred: np.ndarray,
    gap_train: np.ndarray | None = None, gap_test: np.ndarray | None = None,
    cap: int | None = None, seed: int = 0,
) -> pd.DataFrame:
    """Page 2's map points for ``map_chart``: train then test, each capped at ``cap`` (minorities whole).

    Returns
    -------
    DataFrame
        ``id, row, label, x, y, class_name, split, pred, correct, gap, image`` (``image`` = ``id``).
    """
    names = np.asarray([str(c) for c in classes], dtype=object)
    n_train = len(train_y)
    frames = []
    for split, xy, y, pred, gap, off in (("train", train_xy, train_y, train_pred, gap_train, 0),
                                         ("test", test_xy, test_y, test_pred, gap_test, n_train)):
        y = np.asarray(y).astype(int)
        rows = capped_rows(y, cap, seed=seed)
        pr = np.asarray(pred).astype(int)[rows]
        xy = np.asarray(xy)
        frames.append(pd.DataFrame({
            "id": rows + off, "row": rows, "label": y[rows], "x": xy[rows, 0], "y": xy[rows, 1],
            "class_name": names[y[rows]], "split": split, "pred": names[pr], "correct": pr == y[rows],
            "gap": (np.asarray(gap, np.float32)[rows] if gap is not None else np.nan), "image": rows + off,
        }))
    return pd.concat(frames, ignore_index=True)


def synthetic_points(
    *, train_xy: np.ndarray, train_y: np.ndarray, test_xy: np.ndarray, test_y: np.ndarray,
    syn_xy: np.ndarray, syn_y: np.ndarray, base: np.ndarray | None, partner: np.ndarray | None,
    classes: Sequence[str], show: Sequence[int], cap: int, context: bool, seed: int = 0,
) -> pd.DataFrame:
    """Page 3's map points for one oversampler.

    Real training and test points of the ``show`` classes (each split capped at ``cap``, minorities
    whole), the synthetic points of those classes that are on the map (capped at ``cap``, uniformly),
    the **enemies** (partners from other classes: always drawn, as training points of their class) and,
    with ``context``, up to ``cap`` other training points.

    Returns
    -------
    DataFrame
        ``id, row, label, x, y, class_name, split, image, partner_image`` (``row``: row within its split).
    """
    names = np.asarray([str(c) for c in classes], dtype=object)
    train_y, test_y, syn_y = (np.asarray(a).astype(int) for a in (train_y, test_y, syn_y))
    n_train, n_test = len(train_y), len(test_y)
    show = np.asarray(list(show), int)
    placed = np.isfinite(syn_xy[:, 0]) if len(syn_xy) else np.zeros(0, bool)
    keep = np.flatnonzero(np.isin(syn_y, show) & placed)
    if len(keep) > cap:
        keep = np.sort(np.random.default_rng(seed).choice(keep, size=int(cap), replace=False))
    has_prov = base is not None and partner is not None and len(base) == len(syn_y) and len(syn_y) > 0
    real = np.flatnonzero(np.isin(train_y, show))
    real = real[capped_rows(train_y[real], cap, seed=seed)]
    extra = [np.unique(np.asarray(partner)[keep])] if has_prov and len(keep) else []
    if context:
        other = np.flatnonzero(~np.isin(train_y, show))
        extra.append(other[capped_rows(train_y[other], cap, seed=seed + 1)])
    if extra:
        real = np.union1d(real, np.concatenate(extra)).astype(int)
    test = np.flatnonzero(np.isin(test_y, show))
    test = test[capped_rows(test_y[test], cap, seed=seed)]

    def frame(split: str, rows: np.ndarray, xy: np.ndarray, y: np.ndarray, off: int) -> pd.DataFrame:
        return pd.DataFrame({"id": rows + off, "row": rows, "label": y[rows], "x": xy[rows, 0], "y": xy[rows, 1],
                             "class_name": names[y[rows]], "split": split, "image": rows + off, "partner_image": -1})

    syn = frame("synthetic", keep, np.asarray(syn_xy), syn_y, n_train + n_test)
    syn["image"] = np.asarray(base)[keep] if has_prov else -1
    syn["partner_image"] = np.asarray(partner)[keep] if has_prov else -1
    return pd.concat([frame("train", real, np.asarray(train_xy), train_y, 0),
                      frame("test", test, np.asarray(test_xy), test_y, n_train), syn], ignore_index=True)


def segment_frame(train_xy: np.ndarray, base: np.ndarray, partner: np.ndarray, rows: np.ndarray) -> pd.DataFrame:
    """``x0, y0, x1, y1`` of the base -> partner segments of synthetic rows ``rows`` (plain copies skipped)."""
    rows = np.asarray(rows, int)
    b, p = np.asarray(base, int)[rows], np.asarray(partner, int)[rows]
    b, p = b[b != p], p[b != p]
    xy = np.asarray(train_xy)
    return pd.DataFrame({"x0": xy[b, 0], "y0": xy[b, 1], "x1": xy[p, 0], "y1": xy[p, 1]})


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
    return apply_layout(fig, title=title, height=height)


# --------------------------------------------------------------------------------------------
# page 2: gap


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
    fig = apply_layout(fig, title=title, height=height)
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
