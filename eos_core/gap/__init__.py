"""The train-vs-test gap in embedding space: the per-class measures, their permutation null, the saved
report (``gap.json``) and its reader, each point's own gap, and how much an oversampler's synthetic points
close it.

The modules are private; import from the package (names load on first use, see :mod:`eos_core._lazy`).
"""

from .._lazy import lazy_exports

_EXPORTS: dict[str, tuple[str, ...]] = {
    "_closure": (
        "nn1_recall", "closure_measures", "synthetic_enemy_share", "synthetic_enemy_share_per_class",
        "SYNTHETIC_QUALITY_KEYS", "synthetic_quality"
    ),
    "_measures": (
        "check_embeddings", "check_pair", "check_same_width", "check_preds", "knn", "distance_floor",
        "centroid_log_ratio", "nn_log_ratio", "nn1_recall_gap", "observed_measures", "spearman_rho",
        "MIN_SPEARMAN_POINTS"
    ),
    "_null": ("NullResult", "enemy_distances", "permutation_null", "pool_measures"),
    "_points": ("same_class_gap",),
    "_quality": ("method_quality",),
    "_report": ("GapReport", "generalization_gap"),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
