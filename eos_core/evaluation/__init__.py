"""Phase 3 and its reading: re-train the classifier head, the metrics, paired comparisons against
cRT over seeds, and the verdict sentences.

The modules are private; import from the package (names load on first use, see :mod:`eos_core._lazy`).
"""

from .._lazy import lazy_exports

_EXPORTS: dict[str, tuple[str, ...]] = {
    "_compare": ("aggregate", "control_missed_classes", "delta_vs", "mean_interval", "paired_deltas"),
    "_head": ("attach_head", "predict_head", "train_head"),
    "_metrics": (
        "classification_report_dict", "per_class_recall", "finite_or_none", "class_groups", "MANY_THRESHOLD",
        "FEW_THRESHOLD"
    ),
    "_verdict": ("ALPHA", "CALLS", "MIN_SEEDS", "OTHER_OVERSAMPLERS", "gap_verdict", "oversampling_verdict", "verdict"),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
