"""The null band of every gap measure: a permutation test per class, and one for the size-gap correlation.

If a class's training and test points came from one distribution, which of its points ended up in
the training set would be arbitrary. The test reshuffles that membership within the class (sizes
kept), recomputes the measure each time, and asks how often a reshuffle gives a gap at least as
wide as the observed one:

* ``p`` (one-sided, "test points lie farther / are less often right than training points"):
  (1 + #reshuffles with a value >= the observed one) / (1 + #reshuffles). Small p: the gap is
  unlikely to come from the draw of the training set alone.
* the band: the 5 % and 95 % quantiles of the reshuffled values. A value above the band is a gap
  wider than nineteen in twenty arbitrary splits of the same points would show.
* the size-gap correlation: the same reshuffles, done in every class at once (one index per
  reshuffle across classes), give the distribution of Spearman's rho between class size and gap
  when no class has a gap; p (one-sided) is the share of reshuffles with a rho at least as
  negative as the observed one. Small classes have noisier gaps, and this test knows it.

Cost: each class's points are put in one pool; its pairwise distances and inner products are
computed once, so a reshuffle costs O(pool x train) array operations, vectorised over batches of
reshuffles. Classes larger than ``cap_per_side`` training (or test) points are tested on a seeded
stratified subsample of that many points per side (:func:`eos_core.subsample.per_class_cap`);
the reported value still uses every point, the band and p-value are those of the subsample (a
little wider than the full class's: conservative). The 1-NN recall gap also needs, for each pool
point, its distance to the nearest training point of *another* class (fixed under reshuffles).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import Cancelled
from .gap_measures import distance_floor, knn, spearman_rho
from .names import GAP_MEASURES
from .subsample import per_class_cap

__all__ = ["NullResult", "permutation_null", "pool_measures"]

_RATIOS = ("centroid_ratio", "nn_ratio")   # computed on the log scale, reported as ratios
_BATCH_CELLS = 1 << 21                     # (reshuffle x pool x train) cells per vectorised batch
_MIN_SPEARMAN_POINTS = 3
SIDEDNESS = ("one-sided: share of reshuffles within the class whose gap is at least as wide as the "
             "observed one (test farther from / less often matched by the training points)")


@dataclass
class NullResult:
    """Per-class bands and p-values ((C,) float64, NaN where untested) and the correlation p-values."""

    p5: dict[str, np.ndarray]
    p95: dict[str, np.ndarray]
    p_value: dict[str, np.ndarray]
    train_count: np.ndarray
    test_count: np.ndarray
    spearman_p: dict[str, float | None] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


def pool_measures(pool: np.ndarray, train_rows: np.ndarray, enemy: np.ndarray, floor: float) -> np.ndarray:
    """The three measures (ratios as logs) for many training/test splits of one class's pool.

    Parameters
    ----------
    pool : np.ndarray, (N, D)
        All points of the class (training and test).
    train_rows : np.ndarray, (R, n) int
        Each row: the pool rows that are training points in one split (n >= 2, n < N).
    enemy : np.ndarray, (N,)
        Distance of each pool point to its nearest training point of another class (inf if none).
    floor : float
        Distance floor before logs (:func:`eos_core.gap_measures.distance_floor`).

    Returns
    -------
    np.ndarray, (R, 3) float64
        Per split: log centroid ratio, log nearest-neighbour ratio, 1-NN recall gap (the order of
        :data:`GAP_MEASURES`), as :func:`eos_core.gap_measures.observed_measures` defines them.
    """
    z = pool.astype(np.float64)
    z -= z.mean(axis=0)                    # distances are unchanged; inner products lose less precision
    gram = z @ z.T
    sq = np.diag(gram).copy()
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * gram, 0.0)).astype(np.float32)
    np.fill_diagonal(dist, np.inf)         # a training point is never its own neighbour
    big_n, n = len(z), train_rows.shape[1]
    is_train = np.zeros((len(train_rows), big_n), bool)
    is_train[np.arange(len(train_rows))[:, None], train_rows] = True
    test_rows = np.argsort(is_train, axis=1, kind="stable")[:, : big_n - n]
    out = np.empty((len(train_rows), 3))
    step = max(1, _BATCH_CELLS // (big_n * n))
    for s in range(0, len(train_rows), step):
        ti, te, mask = train_rows[s:s + step], test_rows[s:s + step], is_train[s:s + step]
        out[s:s + step] = _batch(gram, sq, dist, ti, te, mask, enemy, floor)
    return out


def _batch(gram, sq, dist, ti, te, mask, enemy, floor) -> np.ndarray:
    """:func:`pool_measures` for one batch of splits (training rows ``ti`` (b, n), test rows ``te``
    (b, m), training mask ``mask`` (b, N))."""
    n = ti.shape[1]
    log = lambda d: np.log(np.maximum(d, floor))  # noqa: E731
    # nearest-neighbour measures: the two nearest training points of every row (own column is inf)
    tr_d1 = dist[ti[:, :, None], ti[:, None, :]].min(2)                      # (b, n)
    te_top = np.partition(dist[te[:, :, None], ti[:, None, :]], 1, axis=2)   # (b, m, n)
    te_d1, te_d2 = te_top[..., 0], te_top[..., 1]
    nn_log = (((n - 1) * log(te_d1) + log(te_d2)) / n).mean(1) - log(tr_d1).mean(1)
    hit_tr, hit1, hit2 = tr_d1 < enemy[ti], te_d1 < enemy[te], te_d2 < enemy[te]
    nn1_gap = hit_tr.mean(1) - (hit1 * ((n - 1) + hit2) / n).mean(1)
    # centroid measure, from inner products: with S = the training rows and c_i = mean(S \ i),
    # ||x_i - c_i|| = n/(n-1) ||x_i - mean(S)||,
    # ||t - c_i||^2 = |t|^2 - 2 (<t, sum S> - <t, x_i>)/(n-1) + (|sum S|^2 - 2 <x_i, sum S> + |x_i|^2)/(n-1)^2
    row_sum = mask.astype(np.float64) @ gram                     # <p, sum S>, (b, N)
    rs_tr = np.take_along_axis(row_sum, ti, 1)                   # (b, n)
    total = rs_tr.sum(1, keepdims=True)                          # |sum S|^2, (b, 1)
    v2 = sq[ti] - 2.0 * rs_tr / n + total / n**2
    train_log = 0.5 * np.log(np.maximum((n / (n - 1)) ** 2 * v2, floor**2)).mean(1)
    g_te = gram[te[:, :, None], ti[:, None, :]]                  # <t, x_i>, (b, m, n)
    rs_te = np.take_along_axis(row_sum, te, 1)[:, :, None]
    ref = ((total - 2.0 * rs_tr + sq[ti]) / (n - 1) ** 2)[:, None, :]
    g_te -= rs_te
    g_te *= 2.0 / (n - 1)
    g_te += sq[te][:, :, None]
    g_te += ref
    np.maximum(g_te, floor**2, out=g_te)
    test_log = 0.5 * np.log(g_te).mean((1, 2))
    return np.stack([test_log - train_log, nn_log, nn1_gap], axis=1)


def permutation_null(xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray, yte: np.ndarray, num_classes: int, *,
                     values: dict[str, np.ndarray], permutations: int = 200, seed: int = 0,
                     cap_per_side: int = 100, cancel: threading.Event | None = None) -> NullResult:
    """Bands, p-values and the size-gap correlation's p-value (see the module doc).

    Parameters
    ----------
    xtr : np.ndarray, (N, D) float32; ytr : np.ndarray, (N,) int64
    xte : np.ndarray, (M, D) float32; yte : np.ndarray, (M,) int64
        Validated embeddings and labels.
    num_classes : int
    values : dict[str, np.ndarray (C,)]
        The observed measures on every point (classes with a NaN value are not tested).
    permutations, seed, cap_per_side : int
        Reshuffles per class (0: nothing is tested), their seed, the per-side subsample cap.
    cancel : threading.Event, optional
        Checked between classes.

    Returns
    -------
    NullResult
    """
    C = num_classes
    nan = {m: np.full(C, np.nan) for m in GAP_MEASURES}
    res = NullResult(p5={m: v.copy() for m, v in nan.items()}, p95={m: v.copy() for m, v in nan.items()},
                     p_value={m: v.copy() for m, v in nan.items()}, train_count=np.zeros(C, np.int64),
                     test_count=np.zeros(C, np.int64), spearman_p={m: None for m in GAP_MEASURES},
                     settings={"permutations": permutations, "seed": seed, "cap_per_side": cap_per_side,
                               "sidedness": SIDEDNESS, "band": "5 % and 95 % quantiles of the reshuffled values"})
    if permutations == 0:
        return res
    tr_keep, te_keep = per_class_cap(ytr, cap_per_side, seed), per_class_cap(yte, cap_per_side, seed + 1)
    observed = np.full((C, 3), np.nan)
    reshuffled = np.full((C, permutations, 3), np.nan)
    for c in range(C):
        if cancel is not None and cancel.is_set():
            raise Cancelled("The gap's permutation test was cancelled.")
        train_c, test_c = xtr[tr_keep[ytr[tr_keep] == c]], xte[te_keep[yte[te_keep] == c]]
        n, m = len(train_c), len(test_c)
        if not all(math.isfinite(values[k][c]) for k in GAP_MEASURES) or n < 2 or m < 1:
            continue
        pool = np.concatenate([train_c, test_c])
        others = xtr[ytr != c]
        enemy = knn(others, pool, 1)[0][:, 0].astype(np.float64) if len(others) else np.full(len(pool), np.inf)
        rng = np.random.default_rng([seed, c])
        splits = np.argsort(rng.random((permutations, len(pool))), axis=1)[:, :n]
        rows = np.concatenate([np.arange(n)[None, :], splits])   # row 0: the observed split
        stats = pool_measures(pool, rows, enemy, distance_floor(pool))
        observed[c], reshuffled[c] = stats[0], stats[1:]
        res.train_count[c], res.test_count[c] = n, m
    for k, name in enumerate(GAP_MEASURES):
        obs, perm = observed[:, k], reshuffled[:, :, k]
        tol = 1e-9 * (1.0 + np.abs(obs))
        tested = np.isfinite(obs)
        res.p_value[name][tested] = (1 + (perm[tested] >= (obs - tol)[tested, None]).sum(1)) / (permutations + 1)
        q = np.percentile(perm[tested], [5, 95], axis=1)
        if name in _RATIOS:
            q = np.exp(q)
        res.p5[name][tested], res.p95[name][tested] = q[0], q[1]
        res.spearman_p[name] = _spearman_p(np.bincount(ytr, minlength=C)[tested], obs[tested], perm[tested])
    return res


def _spearman_p(sizes: np.ndarray, obs: np.ndarray, perm: np.ndarray) -> float | None:
    """One-sided permutation p-value of "rho(size, gap) this negative" over the tested classes."""
    if len(obs) < _MIN_SPEARMAN_POINTS or np.unique(sizes).size < 2:
        return None
    rho = spearman_rho(sizes, obs)
    if not math.isfinite(rho):
        return None
    rho_perm = spearman_rho(sizes, perm)
    return float((1 + np.sum(rho_perm <= rho + 1e-12)) / (len(rho_perm) + 1))
