"""Gap figures: per-class gap bars (page 2), the gap over epochs (pages 1 and 2), gap closure and
the enemy share of synthetic points (page 3).

Every value drawn here was computed by ``eos_core.gap`` and saved in ``gap.json`` /
``history.json`` (or computed by the engine on the fly for another k, see :mod:`ui.synthetic`);
these functions only arrange and draw them. They take per-class arrays so new fields of the
report (bands, p-values, further measures) can be passed without changing the drawing code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.figures.common import apply_layout, class_color, class_names, legend_name, marker_sizes, order_by_size
from ui.labels import GAP_METRICS, method_color, method_name


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



def gap_bars(df: pd.DataFrame, *, metrics: Sequence[str] | None = None, title: str | None = None,
             rho: Mapping[str, float | None] | None = None,
             bands: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None) -> go.Figure:
    """One bar panel per gap measure, classes left → right from largest to smallest.

    Parameters
    ----------
    df : DataFrame
        :func:`gap_frame`: ``class_id``, ``class``, ``train_n`` and one column per measure.
    rho : mapping, optional
        Spearman correlation of class size and gap per measure (the engine's
        ``size_gap_spearman``), shown in each panel title; "n/a" when absent or None.
    bands : mapping, optional
        Per measure ``(low, high)``, each of shape ``(C,)`` indexed by class id (e.g. a null band):
        drawn as an error bar from ``low`` to ``high`` around each bar.
    """
    metrics = [m for m in (metrics or list(GAP_METRICS)) if m in df.columns]
    titles = []
    for m in metrics:
        r = (rho or {}).get(m)
        rho_m = float("nan") if r is None else float(r)
        titles.append(f"{GAP_METRICS.get(m, m)} — Spearman(size, gap) = "
                      + ("n/a" if math.isnan(rho_m) else f"{rho_m:+.2f}"))
    fig = make_subplots(rows=max(len(metrics), 1), cols=1, shared_xaxes=True,
                        subplot_titles=titles, vertical_spacing=0.12)
    labels = [legend_name(n, c) for n, c in zip(df["class"], df["train_n"], strict=True)]
    ids = df["class_id"].to_numpy()
    for i, m in enumerate(metrics, start=1):
        y = df[m].to_numpy(dtype=float)
        error = None
        if bands and m in bands:
            lo, hi = (np.asarray(b, dtype=float)[ids] for b in bands[m])
            error = dict(type="data", symmetric=False, array=hi - y, arrayminus=y - lo, visible=True)
        fig.add_bar(x=labels, y=y, row=i, col=1, name=m, showlegend=False, error_y=error,
                    marker_color=[class_color(c) for c in ids],
                    hovertemplate="%{x}<br>" + m + " = %{y:.3f}<extra></extra>")
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=labels)
    fig.update_xaxes(title_text="class (largest → smallest)", row=len(metrics) or 1, col=1)
    return apply_layout(fig, title=title, height=220 * max(len(metrics), 1) + 60)


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
    fig = apply_layout(fig, title=title, height=height)
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
    return apply_layout(fig, height=380)


# --------------------------------------------------------------------------------------------
# page 3: synthetic inspector


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
    return apply_layout(fig, title=title, height=340)


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
    return apply_layout(fig, title=title, height=340)


# --------------------------------------------------------------------------------------------
