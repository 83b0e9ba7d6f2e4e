"""Head-accuracy figures and tables (pages 1 and 4): scores per method, the best marked, recall
heatmap, confusion matrices, mean ± std over seeds.

The numbers are the engine's (``eos_core.metrics`` via ``methods.json``); nothing is recomputed
here except the mean and standard deviation across seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from ui.figures.common import apply_layout, class_names, legend_name, order_by_size
from ui.labels import METRIC_COLUMNS, TABLE_COLUMNS, method_color, method_name


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


def seeds_summary(per_seed: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean, std and count of ``metric`` per method from a long table (method, seed, metric...)."""
    g = per_seed.groupby("method", sort=False)[metric]
    out = pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=1).fillna(0.0), "n": g.count()}).reset_index()
    return out

def seeds_bars(summary: pd.DataFrame, *, metric: str, title: str | None = None) -> go.Figure:
    """Mean ± std over seeds per method, in each method's colour (a standard bar chart: Plotly
    Express). The value axis starts near the smallest mean, not at 0, so close means differ."""
    df = summary.assign(name=[method_name(m) for m in summary["method"]])
    fig = px.bar(df, x="name", y="mean", error_y="std", custom_data=["n"],
                 labels={"name": "oversampler", "mean": METRIC_COLUMNS.get(metric, metric)})
    fig.update_traces(marker_color=[method_color(m) for m in df["method"]],
                      hovertemplate="%{x}<br>mean %{y:.3f} ± %{error_y.array:.3f}<br>%{customdata[0]} seed(s)"
                                    "<extra></extra>")
    lo = float((df["mean"] - df["std"]).min()) if len(df) else 0.0
    hi = float((df["mean"] + df["std"]).max()) if len(df) else 1.0
    pad = max(0.02, 0.15 * (hi - lo))
    fig.update_layout(xaxis_type="category", yaxis_range=[max(0.0, lo - pad), min(1.0, hi + pad)])
    return apply_layout(fig, title=title, height=340)

