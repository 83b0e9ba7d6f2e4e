"""How synthetic embeddings change the gap: a closure measure that follows from the gap definition,
the 1-NN test recall over real + synthetic points, and the share of synthetic points among enemies.
:func:`synthetic_quality` gathers them, with the partner share, for one oversampler (the pipeline and
the app's synthetic-points page both call it).

``nn_gap_closed`` (per class c, with synthetic points S_c of class c added to the reference set):

    (mean_t log NN(t, X_c) - mean_t log NN(t, X_c + S_c)) / log nn_ratio_c

The numerator is how much closer, on the log scale of :mod:`._measures`'s ``nn_ratio``, the
class's test points get to its training region once the synthetic points are in it; the
denominator is the class's gap on that scale. 0 = the synthetic points close nothing, 1 = they
close the whole gap (above 1: test points end up nearer to the training region than training
points are to each other). NaN, with a note, when there is no gap to close (nn_ratio <= 1), fewer
than 2 training points or no test point.

Why random over-sampling (ROS) closes nothing, by construction: its synthetic points are copies
of training points, so a test point's nearest training point is at the same distance with or
without them (numerator 0); for the same reason its 1-NN recall does not change.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError
from ._measures import check_pair, check_same_width, distance_floor, knn, nn_log_ratio

__all__ = ["nn1_recall", "closure_measures", "synthetic_enemy_share",
           "synthetic_enemy_share_per_class", "SYNTHETIC_QUALITY_KEYS", "synthetic_quality"]


def _check_synth(synth_emb: Any, synth_y: Any, width: int, num_classes: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`check_pair`, but an empty synthetic set may come as any empty array."""
    if np.asarray(synth_emb).size == 0 and np.asarray(synth_y).size == 0:
        return np.empty((0, width), np.float32), np.empty(0, np.int64)
    return check_pair(synth_emb, synth_y, "synthetic", num_classes)


def _nn_labels(base: np.ndarray, base_y: np.ndarray, query: np.ndarray) -> np.ndarray:
    if len(query) == 0:
        return np.empty(0, dtype=np.int64)
    return base_y[knn(base, query, 1)[1][:, 0]]


def nn1_recall(real_emb: np.ndarray, real_y: np.ndarray, synth_emb: np.ndarray, synth_y: np.ndarray,
               test_emb: np.ndarray, test_y: np.ndarray, *, num_classes: int) -> np.ndarray:
    """Per class, the share of test embeddings whose nearest training point (real or synthetic)
    has their label: a 1-NN test recall in embedding space.

    Parameters
    ----------
    real_emb : np.ndarray, (N, D); real_y : np.ndarray, (N,) int
    synth_emb : np.ndarray, (S, D); synth_y : np.ndarray, (S,) int
        Synthetic embeddings and labels (S may be 0; any empty array).
    test_emb : np.ndarray, (M, D); test_y : np.ndarray, (M,) int
    num_classes : int

    Returns
    -------
    np.ndarray, (C,) float64
        In [0, 1]; NaN for a class with no test point.
    """
    C = int(num_classes)
    xr, yr = check_pair(real_emb, real_y, "real training", C)
    xs, ys = _check_synth(synth_emb, synth_y, xr.shape[1], C)
    xte, yte = check_pair(test_emb, test_y, "test", C)
    check_same_width(xr, xs, xte)
    if len(xr) + len(xs) == 0:
        raise ConfigError("The 1-NN recall needs at least one training embedding.")
    nearest = _nn_labels(np.concatenate([xr, xs]), np.concatenate([yr, ys]), xte)
    hits = np.bincount(yte[nearest == yte], minlength=C).astype(np.float64)
    totals = np.bincount(yte, minlength=C).astype(np.float64)
    return np.where(totals > 0, hits / np.maximum(totals, 1.0), np.nan)


# The old name, kept while the app still imports it: it always was this 1-NN recall.


def closure_measures(real_emb: np.ndarray, real_y: np.ndarray, synth_emb: np.ndarray, synth_y: np.ndarray,
                     test_emb: np.ndarray, test_y: np.ndarray, *, num_classes: int) -> dict[str, Any]:
    """What one oversampler's synthetic points do to each class's gap (see the module doc).

    Parameters are those of :func:`nn1_recall`.

    Returns
    -------
    dict
        ``nn_gap_closed`` (C,) float64 and ``nn_gap_closed_note`` (list of C str or None: why a
        value is NaN); ``nn1_recall`` (C,) with the synthetic points and ``nn1_recall_change`` (C,)
        = that minus the value without them.
    """
    C = int(num_classes)
    with_syn = nn1_recall(real_emb, real_y, synth_emb, synth_y, test_emb, test_y, num_classes=C)
    xr, yr = check_pair(real_emb, real_y, "real training", C)
    xs, ys = _check_synth(synth_emb, synth_y, xr.shape[1], C)
    xte, yte = check_pair(test_emb, test_y, "test", C)
    without = nn1_recall(xr, yr, [], [], xte, yte, num_classes=C)
    closed = np.full(C, np.nan)
    notes: list[str | None] = [None] * C
    for c in range(C):
        train_c, test_c, syn_c = xr[yr == c], xte[yte == c], xs[ys == c]
        n = len(train_c)
        if n < 2 or len(test_c) == 0:
            notes[c] = "fewer than 2 training points" if n < 2 else "no test point"
            continue
        floor = distance_floor(np.concatenate([train_c, test_c]))
        top2, _ = knn(train_c, test_c, 2)
        gap = nn_log_ratio(knn(train_c, None, 1)[0][:, 0], top2, n, floor)
        if not gap > 0.0:
            notes[c] = "no gap to close (nearest-neighbour ratio <= 1)"
            continue
        near_real = np.log(np.maximum(top2[:, 0].astype(np.float64), floor))
        near_all = near_real
        if len(syn_c):
            near_syn = np.log(np.maximum(knn(syn_c, test_c, 1)[0][:, 0].astype(np.float64), floor))
            near_all = np.minimum(near_real, near_syn)
        closed[c] = float((near_real - near_all).mean() / gap)
    return {"nn_gap_closed": closed, "nn_gap_closed_note": notes, "nn1_recall": with_syn,
            "nn1_recall_change": with_syn - without}


def _synthetic_is_enemy(real_emb: Any, real_y: Any, synth_emb: Any, synth_y: Any) -> tuple[np.ndarray, np.ndarray]:
    """(labels (S,), is_enemy (S,) bool): whether each synthetic point's nearest real point has
    another label."""
    xr, yr = check_pair(real_emb, real_y, "real training")
    xs, ys = _check_synth(synth_emb, synth_y, xr.shape[1], None)
    check_same_width(xr, xs)
    if len(xs) and len(xr) == 0:
        raise ConfigError("The synthetic enemy share needs at least one real embedding.")
    return ys, _nn_labels(xr, yr, xs) != ys


def synthetic_enemy_share(real_emb: np.ndarray, real_y: np.ndarray, synth_emb: np.ndarray,
                          synth_y: np.ndarray) -> float:
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


# The figures of one oversampler's synthetic points: stored per method in methods.json by the
# pipeline, shown (or, for another k, recomputed) on the app's synthetic-points page.
SYNTHETIC_QUALITY_KEYS: tuple[str, ...] = ("nn_gap_closed", "nn_gap_closed_note", "nn1_recall", "nn1_recall_change",
                                           "enemy_share", "partner_share")


def synthetic_quality(real_emb: np.ndarray, real_y: np.ndarray, synth_emb: np.ndarray, synth_y: np.ndarray,
                      test_emb: np.ndarray, test_y: np.ndarray, *, num_classes: int,
                      provenance: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Every figure of :data:`SYNTHETIC_QUALITY_KEYS` for one oversampler's synthetic points.

    Parameters
    ----------
    real_emb : np.ndarray, (N, D); real_y : np.ndarray, (N,) int
        The real training embeddings and labels.
    synth_emb : np.ndarray, (S, D); synth_y : np.ndarray, (S,) int
        The synthetic points (S may be 0).
    test_emb : np.ndarray, (M, D); test_y : np.ndarray, (M,) int
    num_classes : int
    provenance : dict, optional
        ``base`` and ``partner`` (S,) rows into ``real_emb``; None or empty when unknown.

    Returns
    -------
    dict
        :func:`closure_measures`' four keys (per class, NaN where undefined), ``enemy_share``
        (:func:`synthetic_enemy_share`, None without synthetic points) and ``partner_share``
        (:func:`eos_core.oversampling.partner_share`, None without provenance).
    """
    from ..oversampling._eos import partner_share  # deferred: the module imports imbalanced-learn

    out = closure_measures(real_emb, real_y, synth_emb, synth_y, test_emb, test_y, num_classes=num_classes)
    out["enemy_share"] = float(synthetic_enemy_share(real_emb, real_y, synth_emb, synth_y)) if len(synth_emb) else None
    out["partner_share"] = partner_share(real_y, provenance["base"], provenance["partner"]) if provenance else None
    return out
