"""Display labels the app adds to :mod:`eos_core.names` (which owns every id, name and colour).

Only app-only wording lives here: slider stops, gap-measure and metric column titles, progress
phase texts. Method, loss, model, profile and dataset labels are imported from the engine.
"""

from __future__ import annotations

from eos_core import config as _config
from eos_core.names import (
    CLOSURE_LABELS,
    CONTROL_METHOD,
    DATASET_LABELS,
    DATASETS,
    GAP_LABELS,
    GAP_MEASURES,
    GAP_NAMES,
    GAP_NO_EFFECT,
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
    "CLOSURE_LABELS", "CONTROL_METHOD", "DATASETS", "DELTA_COLUMNS", "DATASET_LABELS", "DEFAULT_GAP_MEASURE",
    "GAP_LABELS", "GAP_MEASURES", "GAP_NAMES", "GAP_NO_EFFECT", "HEAD_RECALL_GAP_LABEL", "LOG_RATIOS",
    "SIGNIFICANCE", "STAR_NOTE", "LOSSES", "LOSS_LABELS", "METHODS", "METHOD_COLORS",
    "METHOD_LABELS", "METHOD_NAMES", "METRIC_COLUMNS", "MODELS", "MODEL_LABELS", "PHASE_TEXT", "PROFILES",
    "PROFILE_LABELS", "TABLE_COLUMNS", "groups_note", "method_color", "method_name",
]

# Every method the engine's config accepts, in the registry's display order (crt and eos_published
# included; the pipeline adds crt to every run as the control).
METHODS: tuple[str, ...] = tuple(m for m in METHOD_NAMES if m in _config.METHODS)

# Log-spaced imbalance ratios for the ratio slider (1-1.5-2-3-5-7 per decade).
LOG_RATIOS: tuple[float, ...] = (
    1, 1.5, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1000,
)

# The measure of the live chart on page 1 and the default on page 2's "watch the gap open": the
# one page 3's closure (nn_gap_closed) is defined on.
DEFAULT_GAP_MEASURE = "nn_ratio"
# A class's gap is marked significant below this one-sided permutation p-value (gap.json "<m>_p").
SIGNIFICANCE = 0.05
HEAD_RECALL_GAP_LABEL = ("the phase-1 head's recall on its training images minus its recall on the test images "
                         "(0 = no gap; no null band: the head was fitted to those training images)")
STAR_NOTE = "★ best balanced accuracy on the test set (a reading, not a model selection)"

METRIC_COLUMNS: dict[str, str] = {"balanced_accuracy": "balanced acc", "g_mean": "g-mean", "macro_f1": "macro-F1"}
DELTA_COLUMNS: dict[str, str] = {f"delta_{k}": f"Δ {v} vs cRT" for k, v in METRIC_COLUMNS.items()}
# Human column names of ui.figures.heads.metrics_table (Setup & train and Head accuracy).
TABLE_COLUMNS: dict[str, str] = {"method": "method", **METRIC_COLUMNS, **DELTA_COLUMNS,
                                 "n_synthetic": "synthetic points", "seconds": "seconds (phases 2–3)"}

# Progress events of a training job (eos_core.pipeline's plus the job's own) -> status text.
PHASE_TEXT: dict[str, str] = {
    "start": "starting", "data": "loading the data", "embed": "computing the embeddings",
    "phase1_done": "phase 1 finished", "methods_done": "oversamplers finished",
    "map": "computing the UMAP map for the Embedding gap page", "map_done": "the UMAP map is saved",
    "map_failed": "the UMAP map failed",
    "study_run": "the ratio study starts its next run",
}

def groups_note() -> str:
    """One line on the long-tail groups of ``methods.json`` ``groups`` (thresholds of eos_core.evaluation._metrics,
    imported here only when asked: that module pulls in scikit-learn)."""
    from eos_core.evaluation import FEW_THRESHOLD, MANY_THRESHOLD

    return (f"many / medium / few: classes with more than {MANY_THRESHOLD}, {FEW_THRESHOLD}–{MANY_THRESHOLD}, "
            f"fewer than {FEW_THRESHOLD} training images (mean test recall of those classes).")

_EXTRA_METHOD_COLORS = ("#59a14f", "#9c755f", "#ff9da7", "#bab0ac")


def method_color(m: str) -> str:
    """The one colour of a method in every chart (a stable fallback for unknown ids)."""
    if m in METHOD_COLORS:
        return METHOD_COLORS[m]
    return _EXTRA_METHOD_COLORS[sum(map(ord, m)) % len(_EXTRA_METHOD_COLORS)]
