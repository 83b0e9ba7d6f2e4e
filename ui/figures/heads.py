"""Head-accuracy figures and tables (pages 1 and 4): scores per method and their paired
difference from cRT, the best marked, recall heatmap, confusion matrices, means with 95 %
intervals over seeds.

The numbers are the engine's: ``eos_core.evaluation._metrics`` and the pipeline's ``delta_vs_crt`` via
``methods.json``, and ``eos_core.evaluation.aggregate`` for several seeds; nothing is recomputed here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ui.figures.common import apply_layout, class_names, legend_name, order_by_size
from ui.labels import CONTROL_METHOD, DELTA_COLUMNS, METRIC_COLUMNS, TABLE_COLUMNS, method_color, method_name

NO_VALUE = "—"  # a cell with no value: cRT's difference from itself, an interval of one seed


def metrics_table(methods: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per method (raw ids, for CSV): balanced accuracy, g-mean, macro-F1, each one's
    paired difference from cRT as stored (``delta_vs_crt``; NaN for cRT itself), synthetic count,
    seconds."""
    rows = []
    for name, r in methods.items():
        m = r.get("metrics", r)
        delta = r.get("delta_vs_crt") or {}
        rows.append({
            "method": name,
            **{k: _f(m.get(k)) for k in METRIC_COLUMNS},
            **{f"delta_{k}": _f(delta.get(k)) for k in METRIC_COLUMNS},
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
    """``metrics_table`` for display: short method names, the best balanced accuracy on the test set
    marked with a ★ in the name, human column names, 4 decimals (Δ signed), the best value of each
    score highlighted (a pandas Styler for ``st.dataframe``)."""
    best = set(best_methods(table))
    view = table.copy()
    view["method"] = [method_name(m) + (" ★" if m in best else "") for m in table["method"]]
    view = dash_missing(view.rename(columns=TABLE_COLUMNS), DELTA_COLUMNS.values())
    metric_cols = list(METRIC_COLUMNS.values())
    best_style = "background-color: #d7efd9; font-weight: 600"
    return (view.style
            .format({**{c: "{:.4f}" for c in metric_cols}, **{c: _signed for c in DELTA_COLUMNS.values()},
                     TABLE_COLUMNS["seconds"]: "{:.2f}"}, na_rep=NO_VALUE)
            .apply(lambda col: np.where(_is_best(col), best_style, ""), subset=metric_cols))


def dash_missing(df: pd.DataFrame, columns) -> pd.DataFrame:
    """``columns`` as text: each value's exact ``repr`` (so a test reads back the stored float) or
    "—" where there is none. ``st.dataframe`` draws an empty number cell as "None" whatever the
    Styler's ``na_rep``; a text cell shows what it holds."""
    out = df.copy()
    for c in columns:
        if c in out.columns:
            out[c] = [NO_VALUE if v is None or (isinstance(v, float) and math.isnan(v)) else repr(float(v))
                      for v in out[c]]
    return out


def _signed(v: Any) -> str:
    """A Δ cell of :func:`dash_missing`: 4 signed decimals, or the dash."""
    return NO_VALUE if v == NO_VALUE else f"{float(v):+.4f}"


def seeds_view(view: pd.DataFrame) -> Any:
    """The seeds table for display: 4 decimals (Δ columns signed), "—" where there is no value
    (cRT's own Δ, the bounds of a single seed) instead of "None"."""
    floats = [c for c in view.columns if view[c].dtype.kind == "f"]
    out = dash_missing(view, floats)
    fmt = {c: _signed if "Δ" in c else (lambda v: NO_VALUE if v == NO_VALUE else f"{float(v):.4f}") for c in floats}
    return out.style.format(fmt)


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
    return apply_layout(fig, title=title, height=130 + 44 * len(methods))


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
    return apply_layout(fig, title=title, height=420)


def aggregate_table(agg: Mapping[str, Any], metric: str) -> pd.DataFrame:
    """One row per method from ``eos_core.evaluation.aggregate``'s dict: ``method``, ``n``, ``mean``,
    ``low``, ``high`` of ``metric`` and ``delta_mean``, ``delta_low``, ``delta_high`` of its paired
    difference from cRT (NaN for cRT itself, and for the bounds with one seed)."""
    rows = []
    for m, r in agg["methods"].items():
        s, d = r["metrics"][metric], (r.get("delta_vs_crt") or {}).get(metric) or {}
        rows.append({"method": m, "n": int(s["n"]), "mean": _f(s["mean"]), "low": _f(s["low"]),
                     "high": _f(s["high"]), "delta_mean": _f(d.get("mean")), "delta_low": _f(d.get("low")),
                     "delta_high": _f(d.get("high"))})
    return pd.DataFrame(rows, columns=["method", "n", "mean", "low", "high", "delta_mean", "delta_low", "delta_high"])


def interval_plot(table: pd.DataFrame, *, metric: str, delta: bool, per_seed: pd.DataFrame | None = None,
                  title: str | None = None) -> go.Figure:
    """Mean with its 95 % t-interval per method (a dot and a whisker, in the method's colour), the
    single seeds as small grey dots; the value axis fits the values (it does not start at 0).

    Parameters
    ----------
    table : DataFrame
        :func:`aggregate_table`.
    delta : bool
        Draw the paired difference from cRT (``delta_*`` columns, with a line at 0 = cRT) instead
        of the score itself; cRT is then left out.
    per_seed : DataFrame, optional
        Long table ``method``, ``seed``, ``value`` of the single runs (the same quantity).
    """
    pre = "delta_" if delta else ""
    df = table[table["method"] != CONTROL_METHOD] if delta else table
    names = [method_name(m) for m in df["method"]]
    mean = df[f"{pre}mean"].to_numpy(float)
    low, high = df[f"{pre}low"].to_numpy(float), df[f"{pre}high"].to_numpy(float)
    fig = go.Figure()
    if per_seed is not None and len(per_seed):
        ps = per_seed[per_seed["method"].isin(df["method"])]
        fig.add_scatter(x=[method_name(m) for m in ps["method"]], y=ps["value"], mode="markers", name="one seed",
                        marker=dict(color="#9a9a9a", size=6, symbol="circle-open"),
                        customdata=ps["seed"], hovertemplate="%{x} · seed %{customdata}: %{y:.4f}<extra></extra>")
    fig.add_scatter(x=names, y=mean, mode="markers", name="mean, 95 % interval",
                    marker=dict(color=[method_color(m) for m in df["method"]], size=12),
                    error_y=dict(type="data", symmetric=False, array=high - mean, arrayminus=mean - low,
                                 thickness=2, width=8, color="#444"),
                    customdata=np.column_stack([low, high]),
                    hovertemplate="%{x}<br>mean %{y:+.4f}<br>95 % interval %{customdata[0]:+.4f} … "
                                  "%{customdata[1]:+.4f}<extra></extra>" if delta else
                                  "%{x}<br>mean %{y:.4f}<br>95 % interval %{customdata[0]:.4f} … "
                                  "%{customdata[1]:.4f}<extra></extra>")
    label = METRIC_COLUMNS.get(metric, metric)
    if delta:  # the control, as a line: its paired difference from itself is 0 in every seed
        fig.add_hline(y=0.0, line=dict(color="#333", dash="dash", width=1.2))
    fig.update_layout(xaxis=dict(type="category", title=None),
                      yaxis=dict(title=DELTA_COLUMNS[f"delta_{metric}"] + " (dashed: 0 = cRT)" if delta else label,
                                 zeroline=False, tickformat="+.3f" if delta else ".3f"))
    fig = apply_layout(fig, title=title, height=420)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.32, xanchor="left", x=0))
    return fig
