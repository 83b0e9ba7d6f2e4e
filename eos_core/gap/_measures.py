"""The three per-class gap measures (definitions and exact, vectorised computation).

Unbiased by construction
------------------------
A training point cannot be its own reference, so its distances are measured to the class's *other*
n-1 training points. A test point is measured against n-1 training points too: every one of the n
leave-one-out reference sets, averaged. When train and test points of a class are drawn from one
distribution, a (test point, reference set) pair then has exactly the distribution of a
(training point, its reference set) pair, for every class size n >= 2. The earlier "spread ratio"
(test vs. a centroid of n points, train vs. a centroid that includes the point) read 1.88 for n=2
on such data.

Per class c with n >= 2 training points ``x_i`` and m >= 1 test points ``t``, ``R_i`` = the other
n-1 training points of c, and ``g`` = the geometric mean (exp of the mean log):

* ``centroid_ratio`` = g_{t,i} ||t - mean(R_i)|| / g_i ||x_i - mean(R_i)||.
* ``nn_ratio`` = g_{t,i} NN(t, R_i) / g_i NN(x_i, R_i), NN = distance to the nearest point of the set.
  Over i, NN(t, R_i) is the nearest distance d1 except when x_i is t's nearest point (once in n):
  then it is the second nearest d2, so its mean log is ((n-1) log d1 + log d2) / n — exact, cheap.
* ``nn1_recall_gap`` = share of training points whose nearest other training point (any class) has
  class c, minus the same share for test points with one training point of c left out (averaged
  over which one, the same d1/d2 argument). A leave-one-out 1-NN recall gap in embedding space.

Why geometric means and a difference: by linearity, the *mean log* ratio and the recall difference
have expectation exactly 0 under exchangeability. A ratio of arithmetic means has equal numerator
and denominator expectations but not expectation 1: with one noisy denominator (n=2) it read 1.029
in 16-d and 1.12 in 4-d on null data; the geometric form reads 1.015 / 1.05 there (exp of an
unbiased mean log; the log itself is exact) and 1.003 in 64-d.

Why not the head's train-vs-test recall: the head was fitted on the training points, so that
difference is positive on null data by design (it is the head's overfitting, reported as
``head_recall_gap`` without a band); a train/test reshuffle cannot give it a null band without
re-fitting the head. The 1-NN recall gap asks the same question of the embedding itself.

Distances below 0.1 % of the class's spread (duplicates, float32 rounding of faiss's distances)
are raised to that floor before the log, for train and test alike.
"""


from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import rankdata

from ..errors import ConfigError
from ..names import GAP_MEASURES

_FLOOR_FRAC = 1e-3          # distance floor, as a share of the class's spread (see module doc)
_CHUNK_CELLS = 1 << 21      # (test x train) cells per block of the centroid computation
_NUMPY_KNN_CELLS = 1 << 22  # (query x base) pairs up to which a neighbour search runs in numpy
# Fewer finite (size, gap) pairs than this and a rank correlation says nothing (the observed Spearman
# of gap._report and its permutation p-value in gap._null both need it).
MIN_SPEARMAN_POINTS = 3


# --------------------------------------------------------------------------------------------
# validation helpers (shared with gap_null and closure)
# --------------------------------------------------------------------------------------------
def check_embeddings(emb: Any, what: str) -> np.ndarray:
    """``emb`` as a C-contiguous float32 (N, D) array; ConfigError on wrong rank or NaN/inf."""
    arr = np.ascontiguousarray(emb, dtype=np.float32)
    if arr.ndim != 2:
        raise ConfigError(f"{what} must be a 2-D (samples, features) array, got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        raise ConfigError(f"{what} contain NaN or infinite values; the model may have diverged.")
    return arr


def check_pair(emb: Any, y: Any, what: str, num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validated (embeddings float32 (N, D), labels int64 (N,)) with matching lengths."""
    x = check_embeddings(emb, f"The {what} embeddings")
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


def check_same_width(*arrays: np.ndarray) -> None:
    widths = {a.shape[1] for a in arrays if len(a)}
    if len(widths) > 1:
        raise ConfigError(f"Embeddings have different widths {sorted(widths)}; they must come from one model.")


def check_preds(pred: Any, n: int, what: str) -> np.ndarray:
    arr = np.asarray(pred)
    if arr.shape != (n,):
        raise ConfigError(f"The {what} predictions must have shape ({n},), got {arr.shape}.")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ConfigError(f"The {what} predictions must be integer class ids, got dtype {arr.dtype}.")
    return arr.astype(np.int64, copy=False)


# --------------------------------------------------------------------------------------------
# nearest neighbours (exact, faiss)
# --------------------------------------------------------------------------------------------
def knn(base: np.ndarray, query: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(distances (Q, k) float32, indices (Q, k) int64) of the k nearest ``base`` rows of each query
    row; ``query=None`` is the leave-one-out case (each base row's nearest *other* rows)."""
    q = base if query is None else query
    if len(q) * len(base) <= _NUMPY_KNN_CELLS:
        # Small searches (most per-class ones) in numpy: a faiss call costs milliseconds of
        # thread start-up whatever its size, which dominated the per-class loop.
        b, qq = base.astype(np.float64), q.astype(np.float64)
        d2 = (qq * qq).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * qq @ b.T
        if query is None:
            np.fill_diagonal(d2, np.inf)
        if k <= 2:
            # The gap only asks for 1 or 2 neighbours: k argmin passes beat a partition and a sort.
            rows = np.arange(len(q))
            idx = np.empty((len(q), k), np.int64)
            part = np.empty((len(q), k))
            for j in range(k):
                idx[:, j] = d2.argmin(axis=1)
                part[:, j] = d2[rows, idx[:, j]]
                d2[rows, idx[:, j]] = np.inf
        else:
            idx = np.argpartition(d2, k - 1, axis=1)[:, :k] if k < d2.shape[1] else np.tile(np.arange(k), (len(q), 1))
            part = np.take_along_axis(d2, idx, 1)
            order = np.argsort(part, axis=1, kind="stable")
            idx, part = np.take_along_axis(idx, order, 1), np.take_along_axis(part, order, 1)
        return np.sqrt(np.maximum(part, 0.0)).astype(np.float32), idx.astype(np.int64)
    # deferred: the neighbour search imports sklearn and faiss (seconds); only the kNN measures need it
    from ..neighbors._factory import make_nn_estimator

    nn = make_nn_estimator(k, device="auto").fit(base)
    return nn.kneighbors(query, n_neighbors=k)


def distance_floor(points: np.ndarray) -> float:
    """The floor distances are raised to before a log: 0.1 % of the points' RMS distance to their mean."""
    x = np.asarray(points, dtype=np.float64)
    spread = math.sqrt(float(((x - x.mean(axis=0)) ** 2).sum(axis=1).mean())) if len(x) else 0.0
    return max(_FLOOR_FRAC * spread, 1e-30)


def _log(d: np.ndarray, floor: float) -> np.ndarray:
    return np.log(np.maximum(np.asarray(d, dtype=np.float64), floor))


# --------------------------------------------------------------------------------------------
# the three measures of one class, on all its points (log scale for the ratios)
# --------------------------------------------------------------------------------------------
def centroid_log_ratio(train_c: np.ndarray, test_c: np.ndarray, floor: float) -> float:
    """Mean log ||t - mean(R_i)|| over (test t, train i) minus mean log ||x_i - mean(R_i)||.

    With mu the class centroid, x_i - mean(R_i) = n/(n-1) (x_i - mu) and
    t - mean(R_i) = (t - mu) + (x_i - mu)/(n-1), so one (m, n) matrix product does it.
    """
    n, m = len(train_c), len(test_c)
    mu = train_c.mean(axis=0, dtype=np.float64)
    v = train_c.astype(np.float64) - mu
    u = test_c.astype(np.float64) - mu
    vv = (v * v).sum(axis=1)
    train_log = float(_log(n / (n - 1) * np.sqrt(vv), floor).mean())
    uu = (u * u).sum(axis=1)
    total = 0.0
    step = max(1, _CHUNK_CELLS // n)
    for s in range(0, m, step):
        sq = uu[s:s + step, None] + (2.0 / (n - 1)) * (u[s:s + step] @ v.T) + vv[None, :] / (n - 1) ** 2
        total += 0.5 * float(np.log(np.maximum(sq, floor * floor)).sum())
    return total / (m * n) - train_log


def nn_log_ratio(train_nn: np.ndarray, test_top2: np.ndarray, n: int, floor: float) -> float:
    """Mean over test points of ((n-1) log d1 + log d2)/n minus mean log leave-one-out NN distance.

    ``train_nn`` (n,): each training point's nearest other training point of the class;
    ``test_top2`` (m, 2): each test point's two nearest training points of the class.
    """
    test_log = ((n - 1) * _log(test_top2[:, 0], floor) + _log(test_top2[:, 1], floor)) / n
    return float(test_log.mean() - _log(train_nn, floor).mean())


def nn1_recall_gap(train_hit: np.ndarray, test_hit1: np.ndarray, test_hit2: np.ndarray, n: int) -> float:
    """Leave-one-out 1-NN recall of the training points minus that of the test points.

    ``train_hit`` (n,): the nearest other training point has the class; ``test_hit1``/``test_hit2``
    (m,): the nearest / second-nearest training point has the class. With one training point of
    the class left out (each equally likely), a test point is right when its nearest point is of
    the class and is not the one left out, or was left out and the second nearest is of the class.
    """
    test = test_hit1 * ((n - 1) + test_hit2) / n
    return float(np.mean(train_hit) - np.mean(test))



def observed_measures(xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray, yte: np.ndarray,
                      num_classes: int) -> dict[str, np.ndarray]:
    """The measures of :data:`GAP_MEASURES` on every point: ``{measure: (C,) float64}`` (the
    ratios back on their ratio scale). Inputs are validated float32/int64 arrays."""
    C = num_classes
    out = {m: np.full(C, np.nan) for m in GAP_MEASURES}
    if len(xtr) < 2 or len(xte) == 0:
        return out
    # Global neighbours for the 1-NN recall gap: each training point's nearest other training
    # point, each test point's two nearest training points (all classes).
    _, tr_nb = knn(xtr, None, 1)
    _, te_nb = knn(xtr, xte, 2)
    tr_lab, te_lab = ytr[tr_nb[:, 0]], ytr[te_nb]
    for c in range(C):
        tr_rows, te_rows = np.flatnonzero(ytr == c), np.flatnonzero(yte == c)
        n, m = len(tr_rows), len(te_rows)
        if n < 2 or m == 0:
            continue
        train_c, test_c = xtr[tr_rows], xte[te_rows]
        floor = distance_floor(np.concatenate([train_c, test_c]))
        out["centroid_ratio"][c] = math.exp(centroid_log_ratio(train_c, test_c, floor))
        train_nn, _ = knn(train_c, None, 1)
        test_top2, _ = knn(train_c, test_c, 2)
        out["nn_ratio"][c] = math.exp(nn_log_ratio(train_nn[:, 0], test_top2, n, floor))
        out["nn1_recall_gap"][c] = nn1_recall_gap(tr_lab[tr_rows] == c, te_lab[te_rows, 0] == c,
                                                  te_lab[te_rows, 1] == c, n)
    return out


# --------------------------------------------------------------------------------------------
# rank correlation (the one Spearman of the project)
# --------------------------------------------------------------------------------------------
def spearman_rho(x: np.ndarray, y: np.ndarray) -> float | np.ndarray:
    """Spearman's rho of ``x`` (K,) with ``y`` (K,) — a float — or with each column of ``y`` (K, B) —
    an array (B,). NaN where undefined (a constant input). Callers drop non-finite pairs first.

    The Pearson correlation of average ranks (scipy's definition, ties included), computed for all
    columns at once: the permutation test asks for hundreds of columns.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    rx = rankdata(x)
    ry = rankdata(y.reshape(len(y), -1), axis=0)
    rx -= rx.mean()
    ry -= ry.mean(axis=0)
    den = np.sqrt((rx @ rx) * (ry * ry).sum(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(den > 0, (rx @ ry) / np.where(den > 0, den, 1.0), np.nan)
    return float(rho[0]) if y.ndim == 1 else rho
