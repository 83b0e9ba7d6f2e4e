"""What every exact k-NN backend shares: input checks, leave-self-out and the scikit-learn contract.

:class:`ExactNeighborsBase` implements ``kneighbors`` / ``kneighbors_graph`` once, with
scikit-learn's ``NearestNeighbors`` semantics (``X=None`` queries the fitted points and excludes
each point itself, even among exact duplicates); a backend only supplies ``fit``, ``_search`` (squared
distances and indices of the k nearest fitted points) and ``_stored_points``. So the faiss and the
torch backends cannot drift apart in their validation, their errors or their self-exclusion.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_array, check_is_fitted

from ..errors import ConfigError

__all__ = ["DEVICES", "ExactNeighborsBase", "as_float32", "check_device", "check_n_neighbors", "drop_self", "sqrt_clip"]

# Where a neighbour search may run; "auto" is a GPU when the backend sees one, else the CPU.
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")


def as_float32(X, what: str = "X") -> np.ndarray:
    """Validated C-contiguous float32 (n, d) copy-if-needed of ``X``; rejects NaN/inf."""
    X = check_array(X, dtype=np.float32, order="C", ensure_all_finite=False, input_name=what)
    # Cheap first test (one pass, no temporary), as scikit-learn does: a finite sum proves every
    # value finite; only a non-finite sum (NaN/inf, or overflow) pays for the element-wise check.
    if not np.isfinite(X.sum(dtype=np.float64)) and not np.isfinite(X).all():
        raise ConfigError(f"The {what} points given to the neighbour search contain NaN or infinite values.")
    return X


def check_device(device: Any) -> str:
    """``device`` as one of :data:`DEVICES` (None or "" -> "auto"; a ``torch.device`` by its name), or
    :class:`ConfigError`."""
    dev = "auto" if device is None or device == "" else str(device).lower()
    if dev not in DEVICES:
        raise ConfigError(f"Unknown neighbour-search device {device!r}; choose one of {', '.join(DEVICES)}.")
    return dev


def check_n_neighbors(k) -> int:
    """``k`` as an int, or :class:`ConfigError` when it is not a positive integer."""
    if isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
        raise ConfigError(f"n_neighbors must be a positive integer, got {k!r}.")
    return int(k)


def sqrt_clip(d2: np.ndarray) -> np.ndarray:
    """Euclidean distances from squared ones, in place; ``||x||^2 + ||y||^2 - 2 x.y`` can round below 0."""
    np.maximum(d2, 0.0, out=d2)
    return np.sqrt(d2, out=d2)


def drop_self(idx: np.ndarray, self_rows: np.ndarray, dist: np.ndarray | None = None):
    """Remove each query's own row from a k+1 self-search.

    Parameters
    ----------
    idx : ndarray of shape (n, k + 1)
        Neighbour indices of points that are themselves in the searched set.
    self_rows : ndarray of shape (n,)
        The row each query point has in the searched set.
    dist : ndarray of shape (n, k + 1) or None
        Matching distances, filtered the same way.

    Returns
    -------
    idx : ndarray of shape (n, k)
    dist : ndarray of shape (n, k) or None

    Notes
    -----
    As scikit-learn does, the column holding the query's own row is dropped; when exact duplicates
    push the point itself out of its k+1 results, the last column is dropped instead.
    """
    n, k1 = idx.shape
    is_self = idx == np.asarray(self_rows, dtype=idx.dtype)[:, None]
    # Common case: the point itself is its own first neighbour -> a plain column slice.
    if is_self[:, 0].all():
        return idx[:, 1:], None if dist is None else dist[:, 1:]
    is_self[~is_self.any(axis=1), -1] = True
    # A row can match its own index only once, so exactly one column per row is dropped.
    keep = ~is_self
    return idx[keep].reshape(n, k1 - 1), None if dist is None else dist[keep].reshape(n, k1 - 1)


class ExactNeighborsBase(BaseEstimator):
    """``kneighbors`` / ``kneighbors_graph`` of an exact Euclidean search (shared by the backends).

    Subclasses set ``n_samples_fit_`` and ``n_features_in_`` in ``fit`` plus the attribute named by
    ``_fitted_attr``, and implement ``_search(Q, k) -> (d2 float32 (n, k), idx int64 (n, k))`` with
    rows sorted by distance, and ``_stored_points() -> (n_samples_fit, n_features) float32``.
    """

    _fitted_attr = "index_"

    def _search(self, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def _stored_points(self) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _self_search(self, k1: int) -> tuple[np.ndarray, np.ndarray]:
        """k1 nearest fitted points of every fitted point (itself included); backends may do better."""
        return self._search(self._stored_points(), k1)

    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        """Find the k nearest training points of each query point.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features) or None
            Query points. ``None`` queries the training points themselves and excludes each point
            from its own neighbours (scikit-learn semantics).
        n_neighbors : int or None
            Number of neighbours; defaults to the constructor's ``n_neighbors``.
        return_distance : bool, default=True
            Also return the Euclidean distances.

        Returns
        -------
        neigh_dist : ndarray of shape (n_queries, n_neighbors), float32
            Euclidean distances, ascending per row (only when ``return_distance``).
        neigh_ind : ndarray of shape (n_queries, n_neighbors), int64
            Row indices into the training points.
        """
        check_is_fitted(self, self._fitted_attr)
        k = check_n_neighbors(self.n_neighbors if n_neighbors is None else n_neighbors)
        n_fit = self.n_samples_fit_
        if X is None:
            if k > n_fit - 1:
                raise ConfigError(
                    f"Asked for {k} neighbours of each training point (itself excluded) but only "
                    f"{n_fit} points were fitted; use at most {n_fit - 1}."
                )
            d2, idx = self._self_search(k + 1)
            idx, d2 = drop_self(idx, np.arange(n_fit), d2)
        else:
            if k > n_fit:
                raise ConfigError(
                    f"Asked for {k} neighbours but only {n_fit} points were fitted; use at most {n_fit}."
                )
            Q = as_float32(X)
            if Q.shape[1] != self.n_features_in_:
                raise ConfigError(
                    f"X has {Q.shape[1]} features but the neighbour index was fitted with "
                    f"{self.n_features_in_}."
                )
            d2, idx = self._search(Q, k)
        if not return_distance:
            return idx
        return sqrt_clip(d2), idx

    def kneighbors_graph(self, X=None, n_neighbors=None, mode="connectivity"):
        """Sparse graph of k-neighbours, like ``NearestNeighbors.kneighbors_graph``.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features) or None
            Query points; ``None`` uses the training points, each excluded from its neighbours.
        n_neighbors : int or None
            Number of neighbours per row.
        mode : {"connectivity", "distance"}, default="connectivity"
            Ones, or the Euclidean distances, as the stored values.

        Returns
        -------
        A : scipy.sparse.csr_matrix of shape (n_queries, n_samples_fit)
            ``A[i, j]`` is set when ``j`` is one of the neighbours of ``i``.
        """
        if mode not in ("connectivity", "distance"):
            raise ConfigError(f"Unsupported kneighbors_graph mode {mode!r}; use 'connectivity' or 'distance'.")
        check_is_fitted(self, self._fitted_attr)
        k = check_n_neighbors(self.n_neighbors if n_neighbors is None else n_neighbors)
        if mode == "connectivity":
            idx = self.kneighbors(X, k, return_distance=False)
            data = np.ones(idx.size, dtype=np.float64)
        else:
            dist, idx = self.kneighbors(X, k, return_distance=True)
            data = dist.ravel().astype(np.float64)
        n_queries = idx.shape[0]
        indptr = np.arange(0, n_queries * k + 1, k)
        return sp.csr_matrix((data, idx.ravel(), indptr), shape=(n_queries, self.n_samples_fit_))
