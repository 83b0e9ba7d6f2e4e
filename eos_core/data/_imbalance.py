"""Imbalance of the training set only (the test set stays as the dataset gives it).

The ratio rho = n_max / n_min goes from 1 to 1000. Profiles:

* ``exp``  — n_i = n_max · rho^(−i/(C−1)), the long-tail profile of LDAM-DRW and the EOS paper;
* ``step`` — the first ``C // 2`` classes (in ``class_order``) keep n_max, the rest get n_max / rho;
* ``as_is`` — the dataset's own class counts (e.g. an image folder that is already imbalanced);
  rho and ``class_order`` are ignored, ``max_per_class`` still caps every class.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence

import numpy as np

from ..config import check_seed
from ..errors import ConfigError
from ..names import PROFILES


def _check_order(class_order: Sequence[int] | None, num_classes: int) -> np.ndarray:
    if class_order is None:
        return np.arange(num_classes)
    order = np.asarray(list(class_order), dtype=np.int64)
    if sorted(order.tolist()) != list(range(num_classes)):
        raise ConfigError(f"class_order must be a permutation of 0..{num_classes - 1}, got {list(class_order)}.")
    return order


def _label(ids: Sequence[int] | np.ndarray, class_names: Sequence[str] | None) -> str:
    """Classes for a message: their names when known (quoted), else their ids."""
    ids = [int(i) for i in ids]
    if class_names is None:
        return ", ".join(str(i) for i in ids)
    return ", ".join(repr(str(class_names[i])) for i in ids)


def class_counts(n_available: Sequence[int], ratio: float, profile: str = "exp", *,
                 max_per_class: int | None = None, class_order: Sequence[int] | None = None,
                 class_names: Sequence[str] | None = None) -> np.ndarray:
    """Target per-class training counts.

    Parameters
    ----------
    n_available : sequence of int, shape (C,)
        Samples available per class (label order).
    ratio : float
        rho = n_max / n_min, in [1, 1000].
    profile : {"exp", "step", "as_is"}
        ``"as_is"`` keeps ``n_available`` (capped by ``max_per_class``) and ignores ``ratio``.
    max_per_class : int, optional
        Cap on n_max, e.g. to keep a demo on Fashion-MNIST small.
    class_order : sequence of int, optional
        Class ids from largest to smallest; default ``0..C-1``.
    class_names : sequence of str, optional
        Used in error messages instead of class ids.

    Returns
    -------
    np.ndarray, int64, shape (C,)
        Counts in label order; never more than available, never fewer than 1 (with a warning).
    """
    avail = np.asarray(list(n_available), dtype=np.int64)
    c = len(avail)
    if c < 2:
        raise ConfigError("At least two classes are needed to make an imbalanced dataset.")
    if (not isinstance(ratio, (int, float, np.floating, np.integer)) or not np.isfinite(ratio)
            or not (1 <= ratio <= 1000)):
        raise ConfigError(f"Imbalance ratio must be between 1 and 1000, got {ratio!r}.")
    if profile not in PROFILES:
        raise ConfigError(f"Unknown imbalance profile {profile!r}; choose one of {', '.join(PROFILES)}.")
    if max_per_class is not None and int(max_per_class) < 1:
        raise ConfigError(f"The class cap must be at least 1, got {max_per_class!r}.")
    if (avail < 1).any():
        empty = _label(np.flatnonzero(avail < 1), class_names)
        raise ConfigError(f"Class(es) {empty} have no training samples at all.")
    if profile == "as_is":
        return avail.copy() if max_per_class is None else np.minimum(avail, int(max_per_class))
    order = _check_order(class_order, c)
    n_max = int(avail[order[0]])
    if max_per_class is not None:
        n_max = min(n_max, int(max_per_class))
    pos = np.arange(c)
    if profile == "exp":
        # Same arithmetic as LDAM-DRW's IMBALANCECIFAR: int(n_max * (1/rho)^(i/(C-1))).
        target = np.array([int(n_max * (1.0 / ratio) ** (i / (c - 1.0))) for i in pos], dtype=np.int64)
    else:
        target = np.where(pos < c // 2, n_max, int(n_max / ratio)).astype(np.int64)
    counts = np.empty(c, dtype=np.int64)
    counts[order] = target
    counts = np.minimum(counts, avail)
    if (counts < 1).any():
        warnings.warn(
            f"Ratio {ratio:g} with n_max={n_max} would leave class(es) "
            f"{_label(np.flatnonzero(counts < 1), class_names)} empty; keeping one sample each.", stacklevel=2)
        counts = np.maximum(counts, 1)
    return counts


def _check_labels(y, num_classes: int | None) -> np.ndarray:
    """``y`` as a 1-D integer array of class ids in ``0..C-1``, or one ConfigError sentence."""
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise ConfigError(f"The labels must be a non-empty 1-D array of class ids, got shape {y.shape}.")
    if y.dtype.kind not in "iu":
        raise ConfigError(f"The labels must be integer class ids 0..C-1, got dtype {y.dtype}.")
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral)
                                    or num_classes < 1):
        raise ConfigError(f"num_classes must be a positive integer, got {num_classes!r}.")
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or (num_classes is not None and hi >= num_classes):
        # np.bincount refuses negative ids; ids >= num_classes would be silently dropped.
        bad = lo if lo < 0 else hi
        top = "C-1" if num_classes is None else str(int(num_classes) - 1)
        raise ConfigError(f"The labels must be class ids from 0 to {top}, got a label of {bad}.")
    return y


def make_imbalanced(y: np.ndarray, ratio: float, profile: str = "exp", *, max_per_class: int | None = None,
                    class_order: Sequence[int] | None = None, num_classes: int | None = None,
                    class_names: Sequence[str] | None = None, seed: int = 0) -> np.ndarray:
    """Choose an imbalanced subset of a training set, deterministically for a seed.

    Parameters
    ----------
    y : np.ndarray, int, shape (N,)
        Labels of the full training set, class ids ``0..C-1``.
    ratio, profile, max_per_class, class_order, class_names
        As in :func:`class_counts`.
    num_classes : int, optional
        C; defaults to ``y.max() + 1``.
    seed : int in [0, 2**32 - 1]
        Which samples of each class are kept.

    Returns
    -------
    np.ndarray, int64, shape (M,)
        Sorted row indices into ``y``; ``np.bincount(y[idx])`` equals :func:`class_counts`.

    Raises
    ------
    ConfigError
        Labels that are not integer ids in range, a bad seed, or a bad argument of :func:`class_counts`.
    """
    seed = check_seed(seed)
    y = _check_labels(y, num_classes)
    c = int(num_classes if num_classes is not None else y.max() + 1)
    avail = np.bincount(y, minlength=c)
    counts = class_counts(avail, ratio, profile, max_per_class=max_per_class, class_order=class_order,
                          class_names=class_names)
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(y == k))[: counts[k]] for k in range(c)]
    return np.sort(np.concatenate(chosen)).astype(np.int64)
