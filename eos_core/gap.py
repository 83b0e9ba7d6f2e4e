"""Generalization gap in embedding space, per class (train vs test), and how oversampling closes it.

EOS (Dablain et al. 2022, arXiv 2207.06080) starts from one observation: a CNN trained on
imbalanced data maps the *test* images of minority classes further from the class's training
embeddings than it does for majority classes — the minority classes overfit, their training
embeddings occupy a too-small region. This module measures that gap so the app can show it, and
measures how synthetic embeddings widen the region ("gap closure").

Per class c, with ``mu_c`` the centroid of the training embeddings of c:

* ``accuracy_gap``  = train recall - test recall.
* ``spread_ratio``  = mean ||test_c - mu_c|| / mean ||train_c - mu_c||. > 1: the test points lie
  outside the region the training points occupy.
* ``distance_gap``  = mean distance from a test point of c to its nearest training point of c /
  mean leave-one-out nearest-neighbour distance among the training points of c. Unlike the
  spread ratio it does not assume a round class region.

All distances are Euclidean on float32 embeddings; nearest neighbours are exact (faiss flat L2,
through :class:`eos_core.neighbors.FaissNearestNeighbors`), one small index per class, which keeps a
call on ~1000 train + ~1000 test points in the millisecond range so training can take a snapshot
every epoch (:func:`snapshot_subsample` picks the fixed subsample).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import ConstantInputWarning, spearmanr

from .errors import ConfigError

__all__ = [
    "GapReport",
    "GAP_MEASURES",
    "generalization_gap",
    "gap_closure",
    "synthetic_enemy_share",
    "synthetic_enemy_share_per_class",
    "snapshot_subsample",
]

GAP_MEASURES = ("accuracy_gap", "spread_ratio", "distance_gap")
# Fewer finite (size, gap) pairs than this and a rank correlation says nothing.
_MIN_SPEARMAN_POINTS = 3


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------
def _check_embeddings(emb: Any, what: str) -> np.ndarray:
    """``emb`` as a C-contiguous float32 (N, D) array; ConfigError on wrong rank or NaN/inf."""
    arr = np.ascontiguousarray(emb, dtype=np.float32)
    if arr.ndim != 2:
        raise ConfigError(f"{what} must be a 2-D (samples, features) array, got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        raise ConfigError(f"{what} contain NaN or infinite values; the model may have diverged.")
    return arr


def _check_pair(emb: Any, y: Any, what: str, num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validated (embeddings float32 (N, D), labels int64 (N,)) with matching lengths."""
    x = _check_embeddings(emb, f"The {what} embeddings")
    labels = np.asarray(y)
    if labels.ndim != 1 or len(labels) != len(x):
        raise ConfigError(
            f"The {what} labels must be 1-D with one label per embedding ({len(x)}), got shape {labels.shape}."
        )
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ConfigError(f"The {what} labels must be integer class ids, got dtype {labels.dtype}.")
    labels = labels.astype(np.int64, copy=False)
    if num_classes is not None and labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ConfigError(f"The {what} labels hold class ids outside 0..{num_classes - 1}.")
    return x, labels


def _check_same_width(*arrays: np.ndarray) -> None:
    widths = {a.shape[1] for a in arrays if len(a)}
    if len(widths) > 1:
        raise ConfigError(f"Embeddings have different widths {sorted(widths)}; they must come from one model.")


def _check_preds(pred: Any, n: int, num_classes: int, what: str) -> np.ndarray:
    arr = np.asarray(pred)
    if arr.shape != (n,):
        raise ConfigError(f"The {what} predictions must have shape ({n},), got {arr.shape}.")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ConfigError(f"The {what} predictions must be integer class ids, got dtype {arr.dtype}.")
    return arr.astype(np.int64, copy=False)


# --------------------------------------------------------------------------------------------
# nearest neighbours (exact, faiss)
# --------------------------------------------------------------------------------------------
def _nn_distance(base: np.ndarray, query: np.ndarray | None) -> np.ndarray:
    """Euclidean distance from each query row to its nearest ``base`` row, shape (Q,) float32.

    ``query=None`` is the leave-one-out case: each base row's nearest *other* base row.
    """
    # Imported here so this module imports even while neighbors.py is absent or broken, and so
    # faiss is first loaded through neighbors.py (it sets an OpenBLAS hint before loading faiss).
    from .neighbors import FaissNearestNeighbors

    nn = FaissNearestNeighbors(n_neighbors=1, device="cpu").fit(base)
    dist, _ = nn.kneighbors(query, n_neighbors=1)
    return dist[:, 0]


def _nn_labels(base: np.ndarray, base_y: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Label of the nearest ``base`` row of each query row, shape (Q,) int64."""
    from .neighbors import FaissNearestNeighbors

    if len(query) == 0:
        return np.empty(0, dtype=np.int64)
    nn = FaissNearestNeighbors(n_neighbors=1, device="cpu").fit(base)
    idx = nn.kneighbors(query, n_neighbors=1, return_distance=False)
    return base_y[idx[:, 0]]


# --------------------------------------------------------------------------------------------
# per-class measures
# --------------------------------------------------------------------------------------------
def _ratio(num: float, den: float) -> float:
    """num / den, NaN when either is undefined or the denominator is 0 (e.g. one train point)."""
    if not (math.isfinite(num) and math.isfinite(den)) or den <= 0.0:
        return math.nan
    return num / den


def _spread_ratio(train_c: np.ndarray, test_c: np.ndarray) -> float:
    """Mean test distance to the train centroid / mean train distance to it (see module doc)."""
    if len(train_c) == 0 or len(test_c) == 0:
        return math.nan
    # float64 centroid: summing thousands of float32 rows loses digits otherwise.
    mu = train_c.mean(axis=0, dtype=np.float64)
    test_spread = float(np.linalg.norm(test_c - mu, axis=1).mean())
    train_spread = float(np.linalg.norm(train_c - mu, axis=1).mean())
    return _ratio(test_spread, train_spread)


def _distance_gap(train_c: np.ndarray, test_c: np.ndarray) -> float:
    """Mean test->nearest-train distance / mean leave-one-out train NN distance (see module doc)."""
    if len(train_c) < 2 or len(test_c) == 0:
        return math.nan
    test_nn = float(_nn_distance(train_c, test_c).mean(dtype=np.float64))
    train_nn = float(_nn_distance(train_c, None).mean(dtype=np.float64))
    return _ratio(test_nn, train_nn)


def _recall(y: np.ndarray, pred: np.ndarray, c: int) -> float:
    mask = y == c
    return float((pred[mask] == c).mean()) if mask.any() else math.nan


def _spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rho over the pairs where both values are finite; None when undefined."""
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < _MIN_SPEARMAN_POINTS:
        return None
    with warnings.catch_warnings():
        # Constant input (e.g. every class the same size) makes rho undefined: reported as None.
        warnings.simplefilter("ignore", ConstantInputWarning)
        rho = spearmanr(x[ok], y[ok]).statistic
    return float(rho) if np.isfinite(rho) else None


def _none_if_nan(v: float) -> float | None:
    return None if not math.isfinite(v) else float(v)


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
@dataclass
class GapReport:
    """Per-class generalization gap in embedding space (arrays of shape (C,)).

    Attributes
    ----------
    classes : np.ndarray, (C,) int64
        Class ids ``0..C-1``.
    train_count, test_count : np.ndarray, (C,) int64
        Embeddings per class in the train / test sets that were measured.
    accuracy_gap : np.ndarray, (C,) float64
        Train recall - test recall; NaN without predictions or when a side has no sample.
    spread_ratio : np.ndarray, (C,) float64
        Mean test distance to the train centroid / mean train distance to it; NaN when undefined.
    distance_gap : np.ndarray, (C,) float64
        Mean test nearest-same-class-train distance / mean leave-one-out train NN distance; NaN
        when the class has fewer than 2 train samples, no test sample, or only duplicates.
    size_gap_spearman : dict[str, float | None]
        Spearman's rho between ``train_count`` and each measure of :data:`GAP_MEASURES`, over the
        classes where the measure is finite. Negative for the spread / distance gaps means: the
        smaller the class, the wider its gap (the paper's observation). None when undefined.
    """

    classes: np.ndarray
    train_count: np.ndarray
    test_count: np.ndarray
    accuracy_gap: np.ndarray
    spread_ratio: np.ndarray
    distance_gap: np.ndarray
    size_gap_spearman: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"per_class": [{class, train_count, test_count, accuracy_gap,
        spread_ratio, distance_gap}, ...], "size_gap_spearman": {...}}``, NaN written as None."""
        rows = [
            {
                "class": int(c),
                "train_count": int(self.train_count[i]),
                "test_count": int(self.test_count[i]),
                **{m: _none_if_nan(float(getattr(self, m)[i])) for m in GAP_MEASURES},
            }
            for i, c in enumerate(self.classes)
        ]
        return {"per_class": rows, "size_gap_spearman": dict(self.size_gap_spearman)}

    def snapshot(self) -> dict[str, list[float | None]]:
        """The per-epoch form stored in ``EpochStats.gap``: ``{measure: [per-class value or None]}``."""
        return {m: [_none_if_nan(float(v)) for v in getattr(self, m)] for m in GAP_MEASURES}


def generalization_gap(
    train_emb: np.ndarray,
    train_y: np.ndarray,
    test_emb: np.ndarray,
    test_y: np.ndarray,
    *,
    num_classes: int,
    train_pred: np.ndarray | None = None,
    test_pred: np.ndarray | None = None,
) -> GapReport:
    """Measure the train-vs-test gap of each class in embedding space.

    Parameters
    ----------
    train_emb : np.ndarray, (N, D)
        Training embeddings (converted to float32).
    train_y : np.ndarray, (N,) int
        Their class ids in ``0..num_classes-1``.
    test_emb : np.ndarray, (M, D)
        Test embeddings from the same model.
    test_y : np.ndarray, (M,) int
        Their class ids.
    num_classes : int
        Number of classes C (classes with no sample still get a row, with NaN measures).
    train_pred, test_pred : np.ndarray, (N,) / (M,) int, optional
        Predicted classes, for ``accuracy_gap``; give both or neither.

    Returns
    -------
    GapReport

    Raises
    ------
    ConfigError
        NaN/inf embeddings, mismatched lengths or widths, out-of-range labels, only one of the
        two prediction arrays.
    """
    if int(num_classes) < 1:
        raise ConfigError(f"num_classes must be at least 1, got {num_classes!r}.")
    C = int(num_classes)
    xtr, ytr = _check_pair(train_emb, train_y, "train", C)
    xte, yte = _check_pair(test_emb, test_y, "test", C)
    _check_same_width(xtr, xte)
    if (train_pred is None) != (test_pred is None):
        raise ConfigError("Give both train and test predictions for the accuracy gap, or neither.")
    preds = None
    if train_pred is not None:
        preds = (_check_preds(train_pred, len(xtr), C, "train"), _check_preds(test_pred, len(xte), C, "test"))

    acc = np.full(C, np.nan)
    spread = np.full(C, np.nan)
    dist = np.full(C, np.nan)
    for c in range(C):
        train_c, test_c = xtr[ytr == c], xte[yte == c]
        spread[c] = _spread_ratio(train_c, test_c)
        dist[c] = _distance_gap(train_c, test_c)
        if preds is not None:
            acc[c] = _recall(ytr, preds[0], c) - _recall(yte, preds[1], c)

    train_count = np.bincount(ytr, minlength=C).astype(np.int64)
    measures = {"accuracy_gap": acc, "spread_ratio": spread, "distance_gap": dist}
    return GapReport(
        classes=np.arange(C, dtype=np.int64),
        train_count=train_count,
        test_count=np.bincount(yte, minlength=C).astype(np.int64),
        accuracy_gap=acc,
        spread_ratio=spread,
        distance_gap=dist,
        size_gap_spearman={m: _spearman(train_count.astype(np.float64), v) for m, v in measures.items()},
    )


def gap_closure(
    real_emb: np.ndarray,
    real_y: np.ndarray,
    synth_emb: np.ndarray,
    synth_y: np.ndarray,
    test_emb: np.ndarray,
    test_y: np.ndarray,
    *,
    num_classes: int,
) -> np.ndarray:
    """Per class, the share of test embeddings whose nearest training neighbour has their label.

    The training set is the real embeddings plus the synthetic ones: synthetic points that fill
    the gap around a minority class capture its test points (the share rises). With an empty
    synthetic set this is the "before" value (a 1-NN recall in embedding space).

    Parameters
    ----------
    real_emb : np.ndarray, (N, D); real_y : np.ndarray, (N,) int
        Real training embeddings and labels.
    synth_emb : np.ndarray, (S, D); synth_y : np.ndarray, (S,) int
        Synthetic embeddings and labels (S may be 0; a (0, D) or (0,) array).
    test_emb : np.ndarray, (M, D); test_y : np.ndarray, (M,) int
        Test embeddings and labels.
    num_classes : int
        Number of classes C.

    Returns
    -------
    np.ndarray, (C,) float64
        Share in [0, 1] per class; NaN for a class with no test sample.
    """
    C = int(num_classes)
    xr, yr = _check_pair(real_emb, real_y, "real training", C)
    xs, ys = _check_synth(synth_emb, synth_y, xr.shape[1], C)
    xte, yte = _check_pair(test_emb, test_y, "test", C)
    _check_same_width(xr, xs, xte)
    if len(xr) + len(xs) == 0:
        raise ConfigError("Gap closure needs at least one training embedding.")
    nearest = _nn_labels(np.concatenate([xr, xs]), np.concatenate([yr, ys]), xte)
    hits = np.bincount(yte[nearest == yte], minlength=C).astype(np.float64)
    totals = np.bincount(yte, minlength=C).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, hits / np.maximum(totals, 1.0), np.nan)


def _check_synth(synth_emb: Any, synth_y: Any, width: int, num_classes: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`_check_pair`, but an empty synthetic set may come as any empty array."""
    if np.asarray(synth_emb).size == 0 and np.asarray(synth_y).size == 0:
        return np.empty((0, width), np.float32), np.empty(0, np.int64)
    return _check_pair(synth_emb, synth_y, "synthetic", num_classes)


def _synthetic_is_enemy(real_emb: Any, real_y: Any, synth_emb: Any, synth_y: Any) -> tuple[np.ndarray, np.ndarray]:
    """(labels (S,), is_enemy (S,) bool): whether each synthetic point's nearest real point has
    another label."""
    xr, yr = _check_pair(real_emb, real_y, "real training")
    xs, ys = _check_synth(synth_emb, synth_y, xr.shape[1], None)
    _check_same_width(xr, xs)
    if len(xs) and len(xr) == 0:
        raise ConfigError("The synthetic enemy share needs at least one real embedding.")
    return ys, _nn_labels(xr, yr, xs) != ys


def synthetic_enemy_share(real_emb: np.ndarray, real_y: np.ndarray, synth_emb: np.ndarray, synth_y: np.ndarray) -> float:
    """Share of synthetic points whose nearest real neighbour has another label.

    A quality figure: a synthetic minority point whose nearest real point is a majority point sits
    inside another class's region (EOS generates towards enemies on purpose, so some share is
    expected; a large one means label noise).

    Parameters
    ----------
    real_emb : np.ndarray, (N, D); real_y : np.ndarray, (N,) int
    synth_emb : np.ndarray, (S, D); synth_y : np.ndarray, (S,) int

    Returns
    -------
    float
        In [0, 1]; NaN when there is no synthetic point.
    """
    _, enemy = _synthetic_is_enemy(real_emb, real_y, synth_emb, synth_y)
    return float(enemy.mean()) if len(enemy) else math.nan


def synthetic_enemy_share_per_class(
    real_emb: np.ndarray, real_y: np.ndarray, synth_emb: np.ndarray, synth_y: np.ndarray, *, num_classes: int
) -> np.ndarray:
    """:func:`synthetic_enemy_share` per synthetic label: array (C,) float64, NaN for classes
    without synthetic points."""
    C = int(num_classes)
    ys, enemy = _synthetic_is_enemy(real_emb, real_y, synth_emb, synth_y)
    if ys.size and (ys.min() < 0 or ys.max() >= C):
        raise ConfigError(f"The synthetic labels hold class ids outside 0..{C - 1}.")
    enemies = np.bincount(ys[enemy], minlength=C).astype(np.float64)
    totals = np.bincount(ys, minlength=C).astype(np.float64)
    return np.where(totals > 0, enemies / np.maximum(totals, 1.0), np.nan)


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
