"""Ratio-study figures (page 5): the gap by class size for each ρ, and each method's Δ vs cRT against ρ.

Both draw :func:`eos_core.study.summarize`'s dict (a study record's ``summary``) as it is: the
per-class gap values and null bands are the engine's means over seeds, the intervals are
:func:`eos_core.evaluation.aggregate`'s. Nothing is computed here but the drawing order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from eos_core.run_labels import ratio_label
from ui.figures.common import apply_layout
from ui.labels import (
    CONTROL_METHOD,
    DELTA_COLUMNS,
    GAP_NAMES,
    GAP_NO_EFFECT,
    METHODS,
    method_color,
    method_name,
)

BAND_NAME = "null band (5–95 % of reshuffles, mean over seeds)"


def _f(v: Any) -> float:
    return math.nan if v is None else float(v)


def ratio_colors(n: int) -> list[str]:
    """One colour per ρ, light (small ρ) to dark (large ρ)."""
    return sample_colorscale("Viridis", [0.85 * (1 - i / max(1, n - 1)) for i in range(n)]) if n > 1 else ["#3b528b"]


def seeds_text(n: int) -> str:
    return f"{n} seed" + ("" if n == 1 else "s")


def gap_by_size(summary: Mapping[str, Any], measure: str, *, bands: bool = True,
                title: str | None = None) -> go.Figure:
    """Per ρ, each class's gap ``measure`` against its training size (log x), smallest class left.

    Parameters
    ----------
    summary : dict
        ``StudyRecord.summary``: ``{"ratios": [{"ratio", "n_seeds", "classes", "train_count" (C,),
        "gap": {measure: (C,)}, "gap_p5" / "gap_p95": {measure: (C,)}}, ...]}``.
    measure : str
        A key of ``GAP_NAMES``.
    bands : bool
        Draw each class's null band as a vertical bar in its ρ's colour.

    Returns
    -------
    go.Figure
        One "lines+markers" trace per ρ named ``"ρ=10 (2 seeds)"`` whose x/y are the summary's
        ``train_count`` / ``gap[measure]`` sorted by size (stable), and a dashed no-gap line.
    """
    rows = summary.get("ratios", [])
    colors = ratio_colors(len(rows))
    fig = go.Figure()
    for row, color in zip(rows, colors, strict=True):
        order = np.argsort(np.asarray(row["train_count"]), kind="stable")
        x = np.asarray(row["train_count"], float)[order]
        y = np.asarray([_f(v) for v in row["gap"][measure]])[order]
        names = np.asarray(row["classes"], dtype=object)[order]
        name = f"{ratio_label(row['ratio'])} ({seeds_text(row['n_seeds'])})"
        if bands:
            lo = np.asarray([_f(v) for v in row["gap_p5"][measure]])[order]
            hi = np.asarray([_f(v) for v in row["gap_p95"][measure]])[order]
            bx = [v for xi in x for v in (xi, xi, None)]
            by = [v for a, b in zip(lo, hi, strict=True) for v in (a, b, None)]
            fig.add_scatter(x=bx, y=by, mode="lines", line=dict(color=color, width=7), opacity=0.25,
                            name=f"{ratio_label(row['ratio'])} {BAND_NAME}", legendgroup=name, showlegend=False,
                            hoverinfo="skip")
        fig.add_scatter(x=x, y=y, mode="lines+markers", name=name, legendgroup=name,
                        line=dict(color=color, width=2), marker=dict(color=color, size=9),
                        customdata=names,
                        hovertemplate=f"{ratio_label(row['ratio'])} · class %{{customdata}}<br>"
                                      "%{x:.0f} training images<br>gap %{y:.3f}<extra></extra>")
    fig.add_hline(y=GAP_NO_EFFECT[measure], line=dict(color="#333", dash="dash", width=1.2),
                  annotation_text="no gap", annotation_position="bottom right")
    sizes = [n for row in rows for n in row["train_count"] if n > 0]
    ticks = log_ticks(min(sizes), max(sizes)) if sizes else []
    fig.update_layout(xaxis=dict(type="log", title="training images in the class (log scale)", tickvals=ticks,
                                 ticktext=[f"{t:g}" for t in ticks]),
                      yaxis=dict(title=f"{GAP_NAMES[measure]} (mean over seeds)"))
    fig = apply_layout(fig, title=title, height=460)
    fig.update_layout(legend=dict(title="imbalance ratio"))
    return fig


def log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks covering ``[lo, hi]`` (plotly's own log ticks label 2…9 of every decade alike)."""
    out, decade = [], 10.0 ** math.floor(math.log10(max(lo, 1e-9)))
    while decade <= hi * 10:
        out += [decade * m for m in (1, 2, 5) if lo / 1.5 <= decade * m <= hi * 1.5]
        decade *= 10
    return out if len(out) >= 2 else sorted({*out, float(lo), float(hi)})  # a narrow range: its ends too


def delta_methods(summary: Mapping[str, Any]) -> list[str]:
    """Methods with a Δ vs cRT in every ratio of the summary, in display order."""
    rows = summary.get("ratios", [])
    return [m for m in METHODS if m != CONTROL_METHOD and rows
            and all((r["methods"].get(m) or {}).get("delta_vs_crt") for r in rows)]


def delta_vs_ratio(summary: Mapping[str, Any], metric: str = "balanced_accuracy", *,
                   title: str | None = None) -> go.Figure:
    """Each method's paired difference from cRT against ρ (log x): mean over seeds, 95 % t-interval.

    Returns
    -------
    go.Figure
        One trace per method (named by ``method_name``) with x = the ratios, y = the summary's
        ``methods[m]["delta_vs_crt"][metric]["mean"]`` and error bars to its ``low`` / ``high``
        (none with one seed); a dashed line at 0 = cRT.
    """
    rows = summary.get("ratios", [])
    ratios = [float(r["ratio"]) for r in rows]
    fig = go.Figure()
    for m in delta_methods(summary):
        iv = [r["methods"][m]["delta_vs_crt"][metric] for r in rows]
        mean = np.asarray([_f(i["mean"]) for i in iv])
        low, high = np.asarray([_f(i["low"]) for i in iv]), np.asarray([_f(i["high"]) for i in iv])
        has_iv = bool(np.isfinite(low).any())
        fig.add_scatter(x=ratios, y=mean, mode="lines+markers", name=method_name(m),
                        line=dict(color=method_color(m), width=2), marker=dict(color=method_color(m), size=9),
                        error_y=dict(type="data", symmetric=False, array=np.nan_to_num(high - mean),
                                     arrayminus=np.nan_to_num(mean - low), thickness=1.5, width=5,
                                     visible=has_iv),
                        customdata=np.column_stack([low, high, [i["n"] for i in iv]]),
                        hovertemplate=f"{method_name(m)} · ρ=%{{x:g}}<br>mean %{{y:+.4f}}<br>"
                                      "95 % interval %{customdata[0]:+.4f} … %{customdata[1]:+.4f}<br>"
                                      "%{customdata[2]} seed(s)<extra></extra>")
    fig.add_hline(y=0.0, line=dict(color="#333", dash="dash", width=1.2),
                  annotation_text="cRT (the control)", annotation_position="bottom right")
    fig.update_layout(xaxis=dict(type="log", title="imbalance ratio ρ (log scale)", tickvals=ratios,
                                 ticktext=[ratio_label(r) for r in ratios]),
                      yaxis=dict(title=DELTA_COLUMNS[f"delta_{metric}"], tickformat="+.3f", zeroline=False))
    return apply_layout(fig, title=title, height=460)
