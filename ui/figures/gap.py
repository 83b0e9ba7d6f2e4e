"""Gap figures (pages 1 and 2): per-class gap with its permutation null band, the head's recall
gap, and the gap over epochs.

Every value drawn here was computed by ``eos_core.gap`` and saved in ``gap.json`` / ``history.json``;
``gap.json`` arrives read by the engine (``eos_core.gap.GapReport.from_dict``), and these functions only
arrange and draw it. The measures, their one-sentence
labels and their "no gap" values come from :mod:`eos_core.names` (``GAP_MEASURES``,
``GAP_LABELS``, ``GAP_NO_EFFECT``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from eos_core.gap import GapReport
from ui.figures.common import (
    apply_layout,
    class_color,
    class_names,
    epoch_axis,
    legend_name,
    marker_sizes,
    order_by_size,
)
from ui.labels import GAP_MEASURES, GAP_NAMES, GAP_NO_EFFECT, SIGNIFICANCE

BAND_NAME = "null band: 5–95 % of train/test reshuffles within the class"
SIGNIFICANT_NAME = f"p < {SIGNIFICANCE:g}: gap wider than the reshuffles"
NO_GAP_NAME = "no gap (1 for ratios, 0 for differences)"
BAND_COLOR = "rgba(140, 140, 140, 0.35)"


def gap_null(report: GapReport) -> dict[str, dict[str, np.ndarray]]:
    """Per measure with a stored band, its permutation results: ``{m: {"p5", "p95", "p"}}``, each (C,)
    by class id (NaN where a class was not tested)."""
    return {m: {"p5": report.p5[m], "p95": report.p95[m], "p": report.p_value[m]} for m in report.p5}


def gap_columns(report: GapReport) -> dict[str, np.ndarray]:
    """The per-class columns of page 2's gap table, each (C,) by class id, in table order: each measure,
    then ``<m>_p5``, ``<m>_p95``, ``<m>_p`` of each measure with a band, then ``head_recall_gap`` (when
    the run has one)."""
    columns = dict(report.values)
    for m, fields in gap_null(report).items():
        columns.update({f"{m}_{s}": v for s, v in fields.items()})
    if np.isfinite(report.head_recall_gap).any():
        columns["head_recall_gap"] = report.head_recall_gap
    return columns


def gap_frame(classes: Sequence[str] | None, train_counts: Sequence[int],
              values: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """Per-class table ordered by class size (largest first): ``class_id``, ``class``, ``train_n``
    and one column per entry of ``values`` (each indexed by class id)."""
    counts = np.asarray(train_counts)
    names = class_names(classes, len(counts))
    df = pd.DataFrame({"class_id": np.arange(len(counts)), "class": names, "train_n": counts})
    for k, v in values.items():
        if v is not None and len(v) == len(counts):
            df[k] = np.asarray(v, dtype=float)
    return df.sort_values(["train_n", "class_id"], ascending=[False, True]).reset_index(drop=True)


def _fmt(v: float | None, spec: str) -> str:
    return "n/a" if v is None or not math.isfinite(float(v)) else format(float(v), spec)


def panel_title(m: str, rho: float | None, rho_p: float | None) -> str:
    """``"<name> — Spearman(size, gap) = -0.55 (p = 0.070)"`` from the engine's values."""
    return f"{GAP_NAMES.get(m, m)} — Spearman(size, gap) = {_fmt(rho, '+.2f')} (p = {_fmt(rho_p, '.3f')})"


def gap_bars(df: pd.DataFrame, *, metrics: Sequence[str] | None = None, title: str | None = None,
             rho: Mapping[str, float | None] | None = None, rho_p: Mapping[str, float | None] | None = None,
             null: Mapping[str, Mapping[str, Sequence[float]]] | None = None) -> go.Figure:
    """One panel per gap measure, classes left → right from largest to smallest.

    Each class shows its null band (grey bar from the 5 % to the 95 % quantile of the measure over
    train/test reshuffles), its observed value (a dot in the class's colour) and, when its
    one-sided permutation p-value is below :data:`SIGNIFICANCE`, a ring around the dot. A dashed
    line marks "no gap" (``GAP_NO_EFFECT``).

    Parameters
    ----------
    df : DataFrame
        :func:`gap_frame`: ``class_id``, ``class``, ``train_n`` and one column per measure.
    rho, rho_p : mapping, optional
        The engine's ``size_gap_spearman`` and ``size_gap_spearman_p`` per measure (panel titles;
        "n/a" when absent).
    null : mapping, optional
        :func:`gap_null`'s dict: per measure ``p5``, ``p95``, ``p`` of shape (C,), by class id.

    Traces per panel, in order: the band (``"<m> band"``, a bar with ``base`` = p5), the observed
    values (named ``m``), the significant classes (``"<m> p<0.05"``), the no-gap line.
    """
    metrics = [m for m in (metrics or list(GAP_MEASURES)) if m in df.columns]
    titles = [panel_title(m, (rho or {}).get(m), (rho_p or {}).get(m)) for m in metrics]
    fig = make_subplots(rows=max(len(metrics), 1), cols=1, shared_xaxes=True, subplot_titles=titles,
                        vertical_spacing=0.1)
    labels = [legend_name(n, c) for n, c in zip(df["class"], df["train_n"], strict=True)]
    ids = df["class_id"].to_numpy()
    for i, m in enumerate(metrics, start=1):
        y = df[m].to_numpy(dtype=float)
        nm = (null or {}).get(m)
        first = i == 1
        p = np.full(len(ids), np.nan)
        if nm is not None:
            lo, hi = (np.asarray(nm[s], dtype=float)[ids] for s in ("p5", "p95"))
            p = np.asarray(nm["p"], dtype=float)[ids]
            fig.add_bar(x=labels, y=hi - lo, base=lo, row=i, col=1, name=BAND_NAME if first else f"{m} band",
                        meta=f"{m} band", legendgroup="band", showlegend=first, marker_color=BAND_COLOR, width=0.5,
                        customdata=np.column_stack([lo, hi]),
                        hovertemplate="%{x}<br>null band %{customdata[0]:.3f} – %{customdata[1]:.3f}<extra></extra>")
        fig.add_scatter(x=labels, y=y, row=i, col=1, name=m, mode="markers", showlegend=False,
                        marker=dict(color=[class_color(c) for c in ids], size=11, line=dict(width=1, color="white")),
                        customdata=p, meta=m,
                        hovertemplate="%{x}<br>" + GAP_NAMES.get(m, m) + " = %{y:.3f}<br>p = %{customdata:.3f}"
                                      "<extra></extra>")
        sig = np.isfinite(p) & (p < SIGNIFICANCE)
        fig.add_scatter(x=[lab for lab, s in zip(labels, sig, strict=True) if s], y=y[sig], row=i, col=1,
                        name=SIGNIFICANT_NAME if first else f"{m} p<{SIGNIFICANCE:g}", meta=f"{m} significant",
                        legendgroup="sig", showlegend=first, mode="markers",
                        marker=dict(symbol="circle-open", size=20, line=dict(width=2.5, color="#d62728"),
                                    color="#d62728"),
                        hoverinfo="skip")
        fig.add_scatter(x=labels, y=[GAP_NO_EFFECT[m]] * len(labels), row=i, col=1, mode="lines",
                        name=NO_GAP_NAME if first else f"{m} no gap", meta=f"{m} no gap", legendgroup="nogap",
                        showlegend=first, line=dict(color="#333", dash="dash", width=1.2), hoverinfo="skip")
        fig.update_yaxes(title_text="ratio" if GAP_NO_EFFECT[m] == 1.0 else "difference", row=i, col=1)
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=labels)
    fig.update_xaxes(title_text="class (largest → smallest training set)", row=len(metrics) or 1, col=1)
    fig.update_layout(barmode="overlay", legend=dict(orientation="h", yanchor="bottom", y=1.04, xanchor="left", x=0))
    fig = apply_layout(fig, title=title, height=250 * max(len(metrics), 1) + 90)
    fig.update_layout(margin=dict(t=90))
    return fig


def head_gap_bars(df: pd.DataFrame, column: str = "head_recall_gap", *, title: str | None = None) -> go.Figure:
    """The phase-1 head's train recall − test recall per class (bars from 0, classes largest →
    smallest; no band)."""
    labels = [legend_name(n, c) for n, c in zip(df["class"], df["train_n"], strict=True)]
    fig = go.Figure(go.Bar(x=labels, y=df[column].to_numpy(dtype=float), name=column,
                           marker_color=[class_color(c) for c in df["class_id"]],
                           hovertemplate="%{x}<br>train recall − test recall = %{y:.3f}<extra></extra>"))
    fig.add_hline(y=0.0, line=dict(color="#333", width=1))
    fig.update_layout(xaxis=dict(type="category", title="class (largest → smallest training set)"),
                      yaxis_title="train − test recall")
    return apply_layout(fig, title=title, height=300)


def history_gap_frame(history: Sequence[Mapping[str, Any]], metric: str) -> pd.DataFrame:
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
                    train_counts: Sequence[int], metric: str, title: str | None = None, height: int = 340,
                    legend: str = "right") -> go.Figure:
    """Per-class gap measure across training epochs, one line per class (minority first), with a
    dashed "no gap" line (per-epoch snapshots have no null band).

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
    fig.add_hline(y=GAP_NO_EFFECT.get(metric, 1.0), line=dict(color="#333", dash="dash", width=1.2),
                  annotation_text="no gap", annotation_position="bottom right")
    fig.update_layout(xaxis=epoch_axis(df["epoch"]), yaxis_title=GAP_NAMES.get(metric, metric))
    fig = apply_layout(fig, title=title, height=height)
    if legend == "below":  # entries as wide as their text: a fixed width cut "automobile · n=2397" to "n=23"
        fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0,
                                      font=dict(size=11)))
    return fig


def gap_animation(history: Sequence[Mapping[str, Any]], *, classes: Sequence[str] | None,
                  train_counts: Sequence[int], metric: str) -> go.Figure:
    """Bars per class (largest → smallest) animated over epochs, with a play button and slider.
    Bars start at the measure's "no gap" value, so a bar above it is a gap, below it none."""
    df = history_gap_frame(history, metric)
    counts = np.asarray(train_counts)
    names = class_names(classes, len(counts))
    order = order_by_size(counts, ascending=False)
    labels = [legend_name(names[c], counts[c]) for c in order]
    colors = [class_color(c) for c in order]
    epochs = sorted(df["epoch"].unique()) if not df.empty else []
    base = GAP_NO_EFFECT.get(metric, 1.0)

    def bars(ep):
        sub = df[df["epoch"] == ep].set_index("class_id")["value"]
        vals = np.array([sub.get(c, np.nan) for c in order], dtype=float)
        return go.Bar(x=labels, y=vals - base, base=base, marker_color=colors, customdata=vals,
                      hovertemplate="%{x}: %{customdata:.3f}<extra></extra>")

    fig = go.Figure(data=[bars(epochs[0])] if epochs else [go.Bar(x=labels, y=[np.nan] * len(labels))])
    fig.frames = [go.Frame(data=[bars(ep)], name=str(ep)) for ep in epochs]
    finite = df["value"][np.isfinite(df["value"])] if not df.empty else pd.Series(dtype=float)
    lo = min(base, float(finite.min())) if len(finite) else base - 1
    hi = max(base, float(finite.max())) if len(finite) else base + 1
    pad = 0.08 * (hi - lo or 1.0)
    fig.update_layout(
        yaxis=dict(range=[lo - pad, hi + pad], title=GAP_NAMES.get(metric, metric)),
        xaxis=dict(type="category", title="class (largest → smallest training set)"),
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
    fig.add_hline(y=base, line=dict(color="#333", dash="dash", width=1.2))
    return apply_layout(fig, height=380)
