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

Cost: each class's points are put in one pool; its squared distances are computed once (float64,
kept as float32), and every reshuffle only gathers from that table: one (reshuffle x pool x train)
gather per batch of reshuffles feeds all three measures. The distance of each pool point to its
nearest training point of *another* class (fixed under reshuffles, needed by the 1-NN recall gap)
is found for all classes' pools in one pass. Classes larger than ``cap_per_side`` training (or
test) points are tested on a seeded stratified subsample of that many points per side
(:func:`eos_core.data.per_class_cap`); the reported value still uses every point, the band
and p-value are those of the subsample (a little wider than the full class's: conservative).
Measured on a Fashion-MNIST-sized set (14,878 train, 10,000 test, 64-d, 10 classes, 1 thread):
200 reshuffles add 0.3 s of CPU time to the 1.7 s of the measures themselves.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data._subsample import per_class_cap
from ..errors import Cancelled
from ..names import GAP_MEASURES
from ._measures import MIN_SPEARMAN_POINTS, distance_floor, spearman_rho

__all__ = ["NullResult", "enemy_distances", "permutation_null", "pool_measures"]

_RATIOS = ("centroid_ratio", "nn_ratio")   # computed on the log scale, reported as ratios
_BATCH_CELLS = 1 << 21                     # (reshuffle x pool x train) cells per vectorised batch
_ENEMY_CELLS = 1 << 22                     # (point x training row) cells per block of the enemy search
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
        Distance floor before logs (:func:`eos_core.gap.distance_floor`).

    Returns
    -------
    np.ndarray, (R, 3) float64
        Per split: log centroid ratio, log nearest-neighbour ratio, 1-NN recall gap (the order of
        :data:`GAP_MEASURES`), as :func:`eos_core.gap.observed_measures` defines them.
    """
    z = pool.astype(np.float64)
    z -= z.mean(axis=0)                    # distances are unchanged; inner products lose less precision
    gram = z @ z.T
    sq = np.diag(gram).copy()
    # The pool's squared distances, computed once in float64 and kept in float32: every split only
    # gathers from this table. Centred pool: no cancellation beyond float32 rounding (~1e-7 relative).
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * gram, 0.0)
    np.fill_diagonal(d2, np.inf)           # a training point is never its own neighbour
    d2_flat = d2.astype(np.float32).ravel()
    big_n, n = len(z), train_rows.shape[1]
    is_train = np.zeros((len(train_rows), big_n), bool)
    is_train[np.arange(len(train_rows))[:, None], train_rows] = True
    # Each split as one row of pool indices: its training rows, then its test rows, each ascending,
    # so two splits with the same sets do the same float32 arithmetic (exact ties for the p-value).
    order = np.argsort(~is_train, axis=1, kind="stable")
    enemy2 = (np.asarray(enemy, dtype=np.float64) ** 2).astype(np.float32)
    out = np.empty((len(train_rows), 3))
    step = max(1, _BATCH_CELLS // (big_n * n))
    for s in range(0, len(train_rows), step):
        out[s:s + step] = _batch(d2_flat, gram, sq, order[s:s + step], is_train[s:s + step], n, enemy2, floor)
    return out


def _batch(d2_flat: np.ndarray, gram: np.ndarray, sq: np.ndarray, order: np.ndarray, mask: np.ndarray, n: int,
           enemy2: np.ndarray, floor: float) -> np.ndarray:
    """:func:`pool_measures` for one batch of b splits: ``order`` (b, N) pool rows (n training rows,
    then the test rows), ``mask`` (b, N) training mask, ``enemy2`` (N,) squared enemy distances."""
    big_n = order.shape[1]
    m = big_n - n
    f2 = floor * floor
    ti, te = order[:, :n], order[:, n:]
    # One gather: squared distance of every pool row (training, then test) to every training row.
    idx = order[:, :, None] * big_n + ti[:, None, :]
    g = d2_flat.take(idx)                                        # (b, N, n) float32
    del idx
    g_tr, g_te = g[:, :n], g[:, n:]
    # centroid measure, from inner products: with S = the training rows, s = sum S and
    # c_i = mean(S \ i): ||x_i - c_i|| = n/(n-1) ||x_i - mean(S)||, and with 2<t, x_i> = |t|^2 + |x_i|^2 - d2,
    # ||t - c_i||^2 = |t|^2 - 2<t, s - x_i>/(n-1) + |s - x_i|^2/(n-1)^2 = alpha_t + beta_i - d2(t, x_i)/(n-1).
    row_sum = mask.astype(np.float64) @ gram                     # <p, s>, (b, N)
    rs_tr, rs_te = np.take_along_axis(row_sum, ti, 1), np.take_along_axis(row_sum, te, 1)
    sq_tr, sq_te = sq[ti], sq[te]
    total = rs_tr.sum(1, keepdims=True)                          # |s|^2, (b, 1)
    v2 = sq_tr - 2.0 * rs_tr / n + total / n**2
    train_log = 0.5 * np.log(np.maximum((n / (n - 1)) ** 2 * v2, f2)).mean(1)
    alpha = (sq_te * (n / (n - 1)) - 2.0 * rs_te / (n - 1)).astype(np.float32)
    beta = (sq_tr / (n - 1) + (total - 2.0 * rs_tr + sq_tr) / (n - 1) ** 2).astype(np.float32)
    cent = g_te * np.float32(-1.0 / (n - 1))                     # (b, m, n) float32
    cent += alpha[:, :, None]
    cent += beta[:, None, :]
    np.maximum(cent, np.float32(f2), out=cent)
    np.log(cent, out=cent)
    test_log = 0.5 * cent.reshape(len(order), -1).sum(1, dtype=np.float64) / (m * n)
    del cent
    # nearest-neighbour measures (squared distances; log d = log(d^2) / 2): each training row's
    # nearest other training row, each test row's two nearest training rows.
    tr_d1 = g_tr.min(2)                                          # (b, n)
    a1 = g_te.argmin(2)[:, :, None]
    te_d1 = np.take_along_axis(g_te, a1, 2)[:, :, 0]             # (b, m)
    np.put_along_axis(g_te, a1, np.inf, 2)
    te_d2 = g_te.min(2)
    log = lambda d: 0.5 * np.log(np.maximum(d.astype(np.float64), f2))  # noqa: E731
    nn_log = (((n - 1) * log(te_d1) + log(te_d2)) / n).mean(1) - log(tr_d1).mean(1)
    hit_tr, hit1, hit2 = tr_d1 < enemy2[ti], te_d1 < enemy2[te], te_d2 < enemy2[te]
    nn1_gap = hit_tr.mean(1) - (hit1 * ((n - 1) + hit2) / n).mean(1)
    return np.stack([test_log - train_log, nn_log, nn1_gap], axis=1)


def enemy_distances(xtr: np.ndarray, ytr: np.ndarray, points: np.ndarray, point_class: np.ndarray,
                    num_classes: int) -> np.ndarray:
    """Distance of each of ``points`` (Q, D) to its nearest row of ``xtr`` (N, D) whose class
    ``ytr`` differs from the point's ``point_class`` (Q,); inf where no other class has a row.

    One float32 matrix product per training class, with that class's rows and the points centred on
    the class's mean: a squared distance is then exact to float32 rounding of the *centred* norms,
    which stay small next to the distance wherever the distance is small (near points), also for
    data far from the origin. Returns (Q,) float64.
    """
    best = np.full((len(points), num_classes), np.inf, np.float32)
    for k in range(num_classes):
        block = xtr[ytr == k]
        if not len(block) or not len(points):
            continue
        mu = block.mean(axis=0, dtype=np.float64)
        b, q = (block - mu).astype(np.float32), (points - mu).astype(np.float32)
        bb = (b * b).sum(axis=1)
        step = max(1, _ENEMY_CELLS // len(q))
        for s in range(0, len(b), step):
            # min over x of |q|^2 + |x|^2 - 2 q.x: |q|^2 is added after the min.
            g = q @ b[s:s + step].T
            g *= -2.0
            g += bb[s:s + step]
            np.minimum(best[:, k], g.min(axis=1), out=best[:, k])
        best[:, k] += (q * q).sum(axis=1)
    best[np.arange(len(points)), point_class] = np.inf
    return np.sqrt(np.maximum(best.min(axis=1, initial=np.inf), 0.0)).astype(np.float64)


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
    pools: dict[int, tuple[np.ndarray, int]] = {}
    for c in range(C):
        train_c, test_c = xtr[tr_keep[ytr[tr_keep] == c]], xte[te_keep[yte[te_keep] == c]]
        if all(math.isfinite(values[k][c]) for k in GAP_MEASURES) and len(train_c) >= 2 and len(test_c) >= 1:
            pools[c] = (np.concatenate([train_c, test_c]), len(train_c))
    observed = np.full((C, 3), np.nan)
    reshuffled = np.full((C, permutations, 3), np.nan)
    if not pools:
        return res
    # Every pool point's distance to its nearest training point of another class, for all classes
    # in one pass (fixed under reshuffles within a class).
    enemies = np.split(enemy_distances(xtr, ytr, np.concatenate([p for p, _ in pools.values()]),
                                       np.repeat(list(pools), [len(p) for p, _ in pools.values()]), C),
                       np.cumsum([len(p) for p, _ in pools.values()])[:-1])
    for (c, (pool, n)), enemy in zip(pools.items(), enemies, strict=True):
        if cancel is not None and cancel.is_set():
            raise Cancelled("The gap's permutation test was cancelled.")
        rng = np.random.default_rng([seed, c])
        splits = np.argsort(rng.random((permutations, len(pool))), axis=1)[:, :n]
        rows = np.concatenate([np.arange(n)[None, :], splits])   # row 0: the observed split
        stats = pool_measures(pool, rows, enemy, distance_floor(pool))
        observed[c], reshuffled[c] = stats[0], stats[1:]
        res.train_count[c], res.test_count[c] = n, len(pool) - n
    for k, name in enumerate(GAP_MEASURES):
        obs, perm = observed[:, k], reshuffled[:, :, k]
        # Ties count as "at least as wide" (conservative). A reshuffle with the observed sets repeats its
        # float32 arithmetic exactly (rows sorted in pool_measures); the tolerance only absorbs rounding
        # of the order 1e-7 and stays far below the recall gap's smallest step 1/(n m).
        tol = 1e-6 * (1.0 + np.abs(obs))
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
    if len(obs) < MIN_SPEARMAN_POINTS or np.unique(sizes).size < 2:
        return None
    rho = spearman_rho(sizes, obs)
    if not math.isfinite(rho):
        return None
    rho_perm = spearman_rho(sizes, perm)
    return float((1 + np.sum(rho_perm <= rho + 1e-12)) / (len(rho_perm) + 1))
