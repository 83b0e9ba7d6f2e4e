"""Page 3's quality figures: how much of each class's gap the synthetic points close, how the 1-NN
test recall changes, where the synthetic points land and which partners EOS drew.

The values are the engine's (``eos_core.gap._closure`` via ``methods.json``, or computed by the same
functions for another k, see :mod:`ui.synthetic`); nothing is recomputed here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from ui.figures.common import apply_layout, class_names, legend_name, order_by_size
from ui.labels import method_color, method_name

# Keys of methods.json "partner_share" (EOS variants) and how they read.
PARTNER_KINDS: dict[str, str] = {
    "enemy": "a real enemy (another class)",
    "self": "the base point itself (no new point)",
    "same_class": "a neighbour of the same class",
}
PARTNER_COLORS: dict[str, str] = {"enemy": "#e15759", "self": "#bab0ac", "same_class": "#4e79a7"}


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


def per_class_method_bars(values: Mapping[str, Sequence[float]], *, classes: Sequence[str] | None,
                          train_counts: Sequence[int], yaxis: str, title: str | None = None,
                          refs: Mapping[float, str] | None = None, percent: bool = False) -> go.Figure:
    """Per class (largest → smallest), one bar per oversampler in its colour; NaN draws no bar.

    ``refs``: horizontal reference lines ``{y: label}`` (e.g. 0 = "none", 1 = "all")."""
    counts = np.asarray(train_counts)
    names = class_names(classes, len(counts))
    order = order_by_size(counts, ascending=False)
    labels = [legend_name(names[c], counts[c]) for c in order]
    fmt = ":+.1%" if percent else ":.3f"
    fig = go.Figure()
    for m, vals in values.items():
        v = np.asarray(vals, dtype=float)
        fig.add_bar(x=labels, y=[v[c] if c < len(v) else np.nan for c in order], name=method_name(m),
                    marker_color=method_color(m),
                    hovertemplate=method_name(m) + "<br>%{x}: %{y" + fmt + "}<extra></extra>")
    for y, text in (refs or {}).items():
        fig.add_hline(y=y, line=dict(color="#333", dash="dash", width=1), annotation_text=text,
                      annotation_position="top right", annotation_font=dict(size=11, color="#333"))
    fig.update_layout(barmode="group", xaxis_type="category", yaxis_title=yaxis,
                      xaxis=dict(title="class (largest → smallest training set)"))
    if percent:
        fig.update_yaxes(tickformat="+.0%")
    fig = apply_layout(fig, title=title, height=400)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.28, xanchor="left", x=0))
    return fig


def partner_share_bars(shares: Mapping[str, Mapping[str, float]], *, title: str | None = None) -> go.Figure:
    """Stacked bars, one per method that makes synthetic points: the share of its synthetic points
    whose partner was a real enemy, the base itself, or a same-class neighbour (``partner_share``)."""
    methods = list(shares)
    x = [method_name(m) for m in methods]
    fig = go.Figure()
    for kind, text in PARTNER_KINDS.items():
        y = [float(shares[m].get(kind) or 0.0) for m in methods]
        fig.add_bar(x=x, y=y, name=text, meta=kind, marker_color=PARTNER_COLORS[kind],
                    text=[f"{v:.0%}" if v >= 0.03 else "" for v in y], textposition="inside",
                    hovertemplate="%{x}<br>partner is " + text + ": %{y:.1%}<extra></extra>")
    fig.update_layout(barmode="stack", xaxis_type="category", yaxis=dict(title="share of synthetic points",
                                                                         tickformat=".0%", range=[0, 1]),
                      legend=dict(orientation="h", yanchor="top", y=-0.18, xanchor="left", x=0))
    return apply_layout(fig, title=title, height=340)
