"""Display labels the app adds to :mod:`eos_core.names` (which owns every id, name and colour).

Only app-only wording lives here: slider stops, gap-measure and metric column titles, progress
phase texts. Method, loss, model, profile and dataset labels are imported from the engine.
"""

from __future__ import annotations

from eos_core import config as _config
from eos_core.names import (
    DATASET_LABELS,
    LOSS_LABELS,
    LOSSES,
    METHOD_COLORS,
    METHOD_LABELS,
    METHOD_NAMES,
    MODEL_LABELS,
    MODELS,
    PROFILE_LABELS,
    PROFILES,
    method_name,
)

__all__ = [
    "DATASETS", "DATASET_LABELS", "GAP_METRICS", "LOG_RATIOS", "LOSSES", "LOSS_LABELS", "METHODS", "METHOD_COLORS",
    "METHOD_LABELS", "METHOD_NAMES", "METRIC_COLUMNS", "MODELS", "MODEL_LABELS", "PHASE_TEXT", "PROFILES",
    "PROFILE_LABELS", "TABLE_COLUMNS", "method_color", "method_name",
]

DATASETS: tuple[str, ...] = tuple(DATASET_LABELS)
# names.METHODS lists every id the project knows; offer those the engine's config accepts today
# (the same tuple once the new methods land), in the registry's display order.
METHODS: tuple[str, ...] = tuple(m for m in METHOD_NAMES if m in _config.METHODS)

# Log-spaced imbalance ratios for the ratio slider (1-1.5-2-3-5-7 per decade).
LOG_RATIOS: tuple[float, ...] = (
    1, 1.5, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1000,
)

GAP_METRICS: dict[str, str] = {
    "spread_ratio": "Spread ratio (test / train spread)",
    "distance_gap": "Distance gap (test → train centroid)",
    "accuracy_gap": "Accuracy gap (train − test recall)",
}

METRIC_COLUMNS: dict[str, str] = {"balanced_accuracy": "balanced acc", "g_mean": "g-mean", "macro_f1": "macro-F1"}
# Human column names of ui.figures.heads.metrics_table (Setup & train and Head accuracy).
TABLE_COLUMNS: dict[str, str] = {"method": "oversampler", **METRIC_COLUMNS, "n_synthetic": "synthetic points",
                                 "seconds": "seconds (phases 2–3)"}

# Progress events of a training job (eos_core.pipeline's plus the job's own) -> status text.
PHASE_TEXT: dict[str, str] = {
    "start": "starting", "data": "loading the data", "embed": "computing the embeddings",
    "phase1_done": "phase 1 finished", "methods_done": "oversamplers finished",
    "map": "computing the UMAP map for the Embedding gap page", "map_done": "the UMAP map is saved",
    "map_failed": "the UMAP map failed",
}

_EXTRA_METHOD_COLORS = ("#59a14f", "#9c755f", "#ff9da7", "#bab0ac")


def method_color(m: str) -> str:
    """The one colour of a method in every chart (a stable fallback for unknown ids)."""
    if m in METHOD_COLORS:
        return METHOD_COLORS[m]
    return _EXTRA_METHOD_COLORS[sum(map(ord, m)) % len(_EXTRA_METHOD_COLORS)]
