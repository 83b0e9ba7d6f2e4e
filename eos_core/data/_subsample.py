"""One stratified subsampler: a seeded subset of rows in which every class is kept (gap snapshots,
the permutation test's cap, the map's fitting subset)."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError

__all__ = ["snapshot_subsample", "per_class_cap"]


def snapshot_subsample(y: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """A fixed, seeded subsample of about ``size`` rows in which every class is kept.

    Classes are filled "water-level" style: a common per-class quota q is chosen as large as the
    budget allows; classes smaller than q are kept whole, larger ones are cut to q (the leftover of
    the budget goes one row each to the largest classes). Minority classes are thus kept whole —
    the classes whose gap matters most — and the cost stays bounded.

    Parameters
    ----------
    y : np.ndarray, (N,) int
        Labels of the full set.
    size : int
        Row budget. When it is smaller than the number of classes present, one row per class is
        still kept (so the result is larger than ``size``).
    seed : int
        Seed of the row choice within each class.

    Returns
    -------
    np.ndarray, (n,) int64
        Sorted row indices into ``y``; all rows (``arange(N)``) when ``N <= size``.
    """
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise ConfigError(f"Labels must be 1-D, got shape {labels.shape}.")
    if int(size) < 1:
        raise ConfigError(f"The subsample size must be at least 1, got {size!r}.")
    if len(labels) <= size:
        return np.arange(len(labels), dtype=np.int64)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    quota = _water_fill(counts, int(size))
    rng = np.random.default_rng(seed)
    picked = [
        rng.choice(np.flatnonzero(inverse == k), size=int(q), replace=False)
        for k, q in enumerate(quota)
    ]
    return np.sort(np.concatenate(picked)).astype(np.int64)


def per_class_cap(y: np.ndarray, cap: int, seed: int = 0) -> np.ndarray:
    """Sorted row indices keeping at most ``cap`` rows of each class (all rows of smaller classes):
    :func:`snapshot_subsample` with the budget that makes its common level exactly ``cap``."""
    labels = np.asarray(y)
    if labels.size == 0:
        return np.empty(0, np.int64)
    counts = np.unique(labels, return_counts=True)[1]
    return snapshot_subsample(labels, int(np.minimum(counts, int(cap)).sum()), seed)


def _water_fill(counts: np.ndarray, budget: int) -> np.ndarray:
    """Per-class quotas min(count, q) summing to ``budget`` (at least 1 per class)."""
    counts = counts.astype(np.int64)
    budget = max(budget, len(counts))
    # Largest common level q with sum(min(counts, q)) <= budget (monotone in q: binary search).
    lo, hi = 1, int(counts.max())
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if np.minimum(counts, mid).sum() <= budget:
            lo = mid
        else:
            hi = mid - 1
    quota = np.minimum(counts, lo)
    # Hand out the remainder to classes that still have rows, largest first (deterministic).
    rest = budget - int(quota.sum())
    for k in np.argsort(-counts, kind="stable"):
        if rest <= 0:
            break
        if quota[k] < counts[k]:
            quota[k] += 1
            rest -= 1
    return quota
