"""Test-set metrics for imbalanced classification, as JSON-ready dicts.

Every figure comes from scikit-learn or imbalanced-learn (nothing is re-implemented here); this
module only fixes the label set, silences the warnings those libraries raise for classes that are
absent from one side, and converts the results to plain Python numbers so a report can be written
with ``json.dump`` as is.

Aggregates (balanced accuracy, G-mean, macro-F1) follow the libraries' conventions: they average
over the classes present in ``y_true`` (balanced accuracy, G-mean) or in ``y_true`` or ``y_pred``
(macro-F1). Per-class lists always have ``num_classes`` entries (``labels=range(num_classes)``): a class
missing from ``y_true`` has an undefined recall: NaN from :func:`per_class_recall` (the one
per-class recall of the engine), ``None`` in the report's ``per_class_recall`` list (strict JSON);
its ``per_class_precision`` reads 0.0 (``zero_division=0``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from imblearn.metrics import geometric_mean_score
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
)

from ..errors import ConfigError

__all__ = ["classification_report_dict", "per_class_recall", "finite_or_none", "class_groups", "MANY_THRESHOLD",
           "FEW_THRESHOLD"]

# Long-tail convention (Liu et al., "Large-Scale Long-Tailed Recognition in an Open World", 2019):
# many-shot > 100 training images, medium-shot 20..100, few-shot < 20.
MANY_THRESHOLD = 100
FEW_THRESHOLD = 20


def _check_labels(y: Any, num_classes: int, what: str) -> np.ndarray:
    """``y`` as a 1-D int64 array with values in ``0..num_classes-1``; ConfigError otherwise."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ConfigError(f"{what} must be a 1-D array of class ids, got shape {arr.shape}.")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ConfigError(f"{what} must hold integer class ids, got dtype {arr.dtype}.")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        raise ConfigError(f"{what} holds class ids outside 0..{num_classes - 1}.")
    return arr


def class_groups(
    train_counts: Sequence[int],
    *,
    many_threshold: int = MANY_THRESHOLD,
    few_threshold: int = FEW_THRESHOLD,
) -> dict[str, list[int]]:
    """Split classes into the long-tail groups by their training-set size.

    Parameters
    ----------
    train_counts : sequence of int, shape (C,)
        Training images per class.
    many_threshold : int
        A class with *more than* this many training images is "many".
    few_threshold : int
        A class with *fewer than* this many training images is "few"; the rest are "medium".

    Returns
    -------
    dict
        ``{"many": [class ids], "medium": [...], "few": [...]}`` (each list may be empty).

    Notes
    -----
    The thresholds are absolute counts made for ImageNet-LT / CIFAR-LT sized sets. On tiny
    datasets (scikit-learn's digits has ~180 images per class, fewer after imbalancing) most or
    every class can land in "few" (or "medium"), and the other groups are then empty.
    """
    counts = np.asarray(train_counts, dtype=np.int64)
    if few_threshold > many_threshold + 1:
        raise ConfigError(
            f"The few-shot threshold ({few_threshold}) cannot exceed the many-shot threshold "
            f"({many_threshold}) by more than one."
        )
    return {
        "many": [int(c) for c in np.flatnonzero(counts > many_threshold)],
        "medium": [int(c) for c in np.flatnonzero((counts >= few_threshold) & (counts <= many_threshold))],
        "few": [int(c) for c in np.flatnonzero(counts < few_threshold)],
    }


def _group_accuracy(
    recall: np.ndarray, support: np.ndarray, groups: dict[str, list[int]]
) -> dict[str, float | None]:
    """Mean per-class accuracy (recall) of each group over its classes that have test samples.

    Averaging per class (not pooling samples) is how the long-tail papers report many/medium/few
    accuracy, so one large class cannot dominate its group.
    """
    out: dict[str, float | None] = {}
    for name, members in groups.items():
        present = [c for c in members if support[c] > 0]
        out[name] = float(np.mean(recall[present])) if present else None
    return out


def per_class_recall(y_true: Any, y_pred: Any, num_classes: int) -> np.ndarray:
    """Recall of each class: the share of its samples predicted as it.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (N,)
        True and predicted class ids in ``0..num_classes-1``.
    num_classes : int
        Number of classes C.

    Returns
    -------
    np.ndarray, (C,) float64
        NaN for a class with no sample in ``y_true`` (its recall is undefined, not 0: a class
        absent from a test set did not fail).
    """
    if len(y_true) == 0:
        return np.full(int(num_classes), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.simplefilter("ignore", UserWarning)
        return np.asarray(recall_score(y_true, y_pred, labels=list(range(int(num_classes))), average=None,
                                       zero_division=np.nan), dtype=np.float64)


def finite_or_none(values: Any) -> list[float | None]:
    """Plain floats for JSON, ``None`` where a value is NaN or infinite (strict JSON has no NaN)."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=np.float64).ravel()]


def classification_report_dict(
    y_true: Any,
    y_pred: Any,
    num_classes: int,
    train_counts: Sequence[int] | None = None,
    *,
    many_threshold: int = MANY_THRESHOLD,
    few_threshold: int = FEW_THRESHOLD,
) -> dict[str, Any]:
    """Imbalance-aware metrics of a set of predictions, as plain Python values.

    Parameters
    ----------
    y_true : array-like of int, shape (N,)
        True class ids in ``0..num_classes-1``.
    y_pred : array-like of int, shape (N,)
        Predicted class ids in ``0..num_classes-1``.
    num_classes : int
        Number of classes C; sets the length of the per-class lists and the confusion matrix.
    train_counts : sequence of int, shape (C,), optional
        Training images per class, for the many/medium/few groups.
    many_threshold, few_threshold : int
        Group boundaries, see :func:`class_groups`.

    Returns
    -------
    dict
        ``balanced_accuracy``, ``g_mean`` (imbalanced-learn, ``average="multiclass"``),
        ``macro_f1``, ``accuracy`` (floats); ``per_class_recall``, ``per_class_precision`` (lists
        of C floats); ``confusion`` (C x C list of lists of int, rows = true class); ``groups``
        ``{"many", "medium", "few"}`` mean per-class accuracy, each a float or None (empty group,
        or every value None when ``train_counts`` is None). Always the same keys.

    Raises
    ------
    ConfigError
        Empty or mismatched inputs, class ids out of range, wrong ``train_counts`` length.
    """
    if int(num_classes) < 1:
        raise ConfigError(f"num_classes must be at least 1, got {num_classes!r}.")
    num_classes = int(num_classes)
    yt = _check_labels(y_true, num_classes, "y_true")
    yp = _check_labels(y_pred, num_classes, "y_pred")
    if len(yt) != len(yp):
        raise ConfigError(f"y_true has {len(yt)} labels but y_pred has {len(yp)}.")
    if len(yt) == 0:
        raise ConfigError("Cannot compute metrics on an empty test set.")
    labels = list(range(num_classes))
    present = np.unique(yt)  # G-mean over classes with test samples, as balanced accuracy does
    with warnings.catch_warnings():
        # Absent classes trigger "ill-defined" / "y_pred contains classes not in y_true" warnings;
        # the conventions above are deliberate, so the warnings are noise here.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.simplefilter("ignore", UserWarning)
        report = {
            "balanced_accuracy": float(balanced_accuracy_score(yt, yp)),
            "g_mean": float(geometric_mean_score(yt, yp, labels=present, average="multiclass")),
            "macro_f1": float(f1_score(yt, yp, labels=present, average="macro", zero_division=0)),
            "accuracy": float(accuracy_score(yt, yp)),
            "per_class_recall": finite_or_none(per_class_recall(yt, yp, num_classes)),
            "per_class_precision": [
                float(v) for v in precision_score(yt, yp, labels=labels, average=None, zero_division=0)
            ],
        }
    confusion = confusion_matrix(yt, yp, labels=labels)
    report["confusion"] = [[int(v) for v in row] for row in confusion]
    report["groups"] = _groups_entry(
        np.asarray(report["per_class_recall"]), confusion.sum(axis=1), num_classes,
        train_counts, many_threshold, few_threshold,
    )
    return report


def _groups_entry(
    recall: np.ndarray,
    support: np.ndarray,
    num_classes: int,
    train_counts: Sequence[int] | None,
    many_threshold: int,
    few_threshold: int,
) -> dict[str, float | None]:
    """The ``groups`` value: all None without train counts, so the key set never changes."""
    if train_counts is None:
        return {"many": None, "medium": None, "few": None}
    counts = np.asarray(train_counts)
    if counts.shape != (num_classes,):
        raise ConfigError(f"train_counts must list {num_classes} class sizes, got shape {counts.shape}.")
    groups = class_groups(counts, many_threshold=many_threshold, few_threshold=few_threshold)
    return _group_accuracy(recall, support, groups)
