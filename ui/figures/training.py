"""Page 1 figures: class sizes before training and the training curve (loss and test balanced
accuracy per epoch, from the job's progress events or ``history.json``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from ui.figures.common import apply_layout, class_names, epoch_axis


def count_bars(classes: Sequence[str], train_counts: Sequence[int], test_counts: Sequence[int] | None = None,
               *, log_y: bool = False) -> go.Figure:
    """Per-class counts: the imbalanced training set beside the (untouched) test set (grouped
    bars: Plotly Express)."""
    names = class_names(classes, len(train_counts))
    df = pd.DataFrame({"class": names, "train (imbalanced)": list(train_counts)})
    if test_counts is not None:
        df["test"] = list(test_counts)
    long = df.melt(id_vars="class", var_name="split", value_name="images")
    fig = px.bar(long, x="class", y="images", color="split", barmode="group",
                 color_discrete_map={"train (imbalanced)": "#1f77b4", "test": "#ff7f0e"})
    for t in fig.data:
        t.hovertemplate = "%{x}: %{y} " + ("test" if t.name == "test" else "train") + "<extra></extra>"
    fig.update_layout(xaxis_type="category", legend_title_text=None)
    if log_y:
        fig.update_yaxes(type="log", dtick=1)  # decades only: minor labels clutter short ranges
    return apply_layout(fig, height=320)


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
        xaxis=epoch_axis(df["epoch"]),
        yaxis=dict(title="loss", rangemode="tozero"),
        yaxis2=dict(title="test balanced acc", overlaying="y", side="right", range=[0, 1], tickmode="linear",
                    tick0=0, dtick=0.2, tickformat=".1f", showgrid=False, zeroline=False),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1),
    )
    return apply_layout(fig, title="Training curve", height=height)
