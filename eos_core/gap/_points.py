"""The gap of one point: its distance to the nearest training point of its own class.

The per-class measures (:mod:`._measures`) summarise a class; this per-point distance is what a map
colours a point by ("how far is this test image from anything the class was trained on"). A training
point is measured to the nearest *other* training point of its class, so it never reads 0 against
itself.
"""

from __future__ import annotations

import numpy as np

from ..neighbors._factory import make_nn_estimator

__all__ = ["same_class_gap"]


def same_class_gap(train_emb: np.ndarray, train_y: np.ndarray, query_emb: np.ndarray, query_y: np.ndarray,
                   *, is_train: bool = False) -> np.ndarray:
    """Per-point gap: Euclidean distance to the nearest training point of the point's own class.

    Parameters
    ----------
    train_emb : np.ndarray, (N, D); train_y : np.ndarray, (N,) int
        The training embeddings and their classes.
    query_emb : np.ndarray, (M, D); query_y : np.ndarray, (M,) int
        The points to measure and their classes.
    is_train : bool
        The queries are the training points themselves: their own row is skipped (the nearest *other*
        point of the class; NaN for a class of one).

    Returns
    -------
    np.ndarray, (M,) float32
        NaN where the class has no (other) training point.
    """
    train_emb = np.asarray(train_emb, np.float32)
    query_emb = np.asarray(query_emb, np.float32)
    train_y, query_y = np.asarray(train_y), np.asarray(query_y)
    out = np.full(len(query_y), np.nan, np.float32)
    skip = 1 if is_train else 0
    for c in np.unique(query_y):
        ref = train_emb[train_y == c]
        q = np.flatnonzero(query_y == c)
        if len(ref) <= skip:
            continue
        # CPU: one small index per class; a GPU's start-up would cost more than these searches.
        nn = make_nn_estimator(skip + 1, device="cpu").fit(ref)
        dist, _ = nn.kneighbors(query_emb[q], n_neighbors=skip + 1)
        out[q] = np.asarray(dist, np.float32)[:, skip]
    return out
