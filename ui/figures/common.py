"""Helpers shared by every figure: class colours and order, marker sizes, thumbnails, the common layout.

Conventions
-----------
* One trace per class so classes can be toggled from the legend.
* One colour and one short name per method everywhere (``eos_core.names`` via :mod:`ui.labels`).
* Legends list classes from the smallest to the largest training class, named ``"7 · n=3"``;
  minority classes get larger markers.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#393b79", "#ad494a", "#637939", "#8c6d31", "#7b4173",
    "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363",
)


def class_color(c: int) -> str:
    """A stable colour for class ``c`` (cycles after 20 classes)."""
    return _PALETTE[int(c) % len(_PALETTE)]


def class_names(classes: Sequence[str] | None, num_classes: int) -> list[str]:
    if classes and len(classes) >= num_classes:
        return [str(c) for c in classes[:num_classes]]
    return [str(i) for i in range(num_classes)]


def legend_name(name: str, n: int) -> str:
    return f"{name} · n={int(n)}"


def epoch_axis(epochs: Sequence[int] | pd.Series, max_ticks: int = 10) -> dict:
    """An x axis of whole epochs: ticks at 1, 1 + step, … (step a whole number), never 1, 2, 2, 3, 3
    (what a "d" format of plotly's automatic half-epoch ticks gave early in a run)."""
    last = int(max(epochs)) if len(epochs) else 1
    step = max(1, math.ceil(last / max_ticks))
    return dict(title="epoch", tickmode="linear", tick0=1, dtick=step, tickformat="d",
                range=[0.5, last + 0.5])


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


def below_median_classes(train_counts: Sequence[int]) -> list[int]:
    """Classes with fewer training examples than the median class, smallest first (ties by id):
    what "only minority classes" shows on the maps."""
    counts = np.asarray(train_counts)
    if counts.size == 0:
        return []
    med = float(np.median(counts))
    return [c for c in order_by_size(counts) if counts[c] < med]


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

def apply_layout(fig: go.Figure, *, title: str | None = None, height: int | None = None) -> go.Figure:
    """The layout every figure shares: title, tight margins, class-group legend clicks."""
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


def figure_html(fig: go.Figure) -> str:
    """Self-contained HTML (plotly.js inlined, opens offline)."""
    return fig.to_html(include_plotlyjs=True, full_html=True)
