"""Exact k-nearest-neighbour search on torch (CUDA or CPU), as a scikit-learn estimator.

:class:`TorchNearestNeighbors` has the contract of :class:`~eos_core.neighbors.FaissNearestNeighbors`
(both inherit ``kneighbors`` / ``kneighbors_graph`` from :class:`~eos_core.neighbors.ExactNeighborsBase`)
and exists so that a CUDA machine without a GPU build of faiss still searches on its GPU.

How the search stays exact (:func:`knn_search`):

1. Queries are taken in blocks sized to a memory budget. For each block, squared distances to every
   fitted point come from one float32 matrix product, ``||q||^2 + ||x||^2 - 2 q.x`` (clamped at 0),
   with TF32 switched off for the product: TF32 keeps 10 mantissa bits and would reorder neighbours.
2. ``topk`` keeps ``k + margin`` candidates. The product formula loses precision by cancellation
   when two points are much closer than their norms, so candidate distances are then recomputed
   from differences, ``sum((q - x)^2)``, which is exact to float32 rounding (and exactly 0 for
   duplicates). The margin absorbs reordering at the k-th place caused by the product's rounding.
3. Candidates are sorted by index, then stably by the exact distance: equal distances keep the lower
   index first, as scikit-learn's brute force and faiss do, which makes leave-self-out among
   duplicates identical across backends.

``labels`` masking (same-label columns set to +inf) gives the nearest *enemies* in one pass over
the fitted points with a single upload, instead of one index per class.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch

from ..errors import ConfigError
from ._base import ExactNeighborsBase, as_float32, check_device, check_n_neighbors

__all__ = ["TorchNearestNeighbors", "knn_search", "torch_knn_device"]

# Working memory of one query block (distance rows plus the gathered candidates). On CUDA the
# distance block of 1 GiB keeps the GEMM and topk large enough to saturate the GPU; on CPU a
# smaller block stays in the last-level cache's neighbourhood and leaves memory to the app.
_BLOCK_BYTES = {"cuda": 1 << 30, "cpu": 64 << 20}


def torch_knn_device(device: str = "auto") -> torch.device:
    """The torch device a torch neighbour search runs on (``"auto"``: CUDA when present)."""
    dev = check_device(device)
    if dev == "cuda" and not torch.cuda.is_available():
        raise ConfigError("Device 'cuda' was requested for the neighbour search but torch sees no CUDA GPU.")
    if dev == "auto":
        dev = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(dev)


@contextmanager
def _full_fp32_matmul():
    """Float32 products in full precision (no TF32) for the duration, then the caller's setting."""
    previous = torch.get_float32_matmul_precision()
    if previous == "highest":
        yield
        return
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


def _margin(k: int) -> int:
    return max(8, k // 4)


@torch.no_grad()
def knn_search(Q: torch.Tensor, X: torch.Tensor, k: int, *, x_sq: torch.Tensor | None = None,
               q_labels: torch.Tensor | None = None, x_labels: torch.Tensor | None = None,
               block_bytes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest rows of ``X`` for every row of ``Q`` (squared Euclidean distances).

    Parameters
    ----------
    Q : torch.Tensor of shape (n_queries, d), float32
        Queries, on the device of ``X``.
    X : torch.Tensor of shape (n_fit, d), float32
        Searched points.
    k : int
        Neighbours per query, ``1 <= k <= n_fit`` (at most the unmasked count when masking).
    x_sq : torch.Tensor of shape (n_fit,), optional
        Precomputed ``(X * X).sum(1)``.
    q_labels, x_labels : torch.Tensor of shapes (n_queries,) and (n_fit,), optional
        When given, points sharing the query's label are never returned (nearest enemies).
    block_bytes : int, optional
        Working-memory budget of one query block (default: 1 GiB on CUDA, 64 MiB on CPU).

    Returns
    -------
    d2 : ndarray of shape (n_queries, k), float32
        Squared distances, ascending per row, recomputed from differences.
    idx : ndarray of shape (n_queries, k), int64
        Row indices into ``X``; equal distances keep the lower index first.
    """
    n_q, d = Q.shape
    n_fit = X.shape[0]
    if n_q == 0:
        return np.empty((0, k), np.float32), np.empty((0, k), np.int64)
    if x_sq is None:
        x_sq = (X * X).sum(1)
    masked = q_labels is not None and x_labels is not None
    kc = min(n_fit, k + _margin(k))
    budget = block_bytes or _BLOCK_BYTES["cuda" if X.is_cuda else "cpu"]
    rows = int(max(1, min(n_q, budget // max(1, 4 * (n_fit + kc * d)))))
    d2_out = torch.empty((n_q, k), dtype=torch.float32, device=X.device)
    idx_out = torch.empty((n_q, k), dtype=torch.int64, device=X.device)
    with _full_fp32_matmul():
        for s in range(0, n_q, rows):
            q = Q[s:s + rows]
            # d2 = ||x||^2 - 2 q.x (one fused GEMM), then + ||q||^2; float32 accumulation.
            d2 = torch.addmm(x_sq.unsqueeze(0), q, X.T, beta=1.0, alpha=-2.0)
            d2.add_((q * q).sum(1, keepdim=True)).clamp_(min=0.0)
            if masked:
                d2.masked_fill_(q_labels[s:s + rows, None] == x_labels[None, :], float("inf"))
            cand = torch.topk(d2, kc, dim=1, largest=False, sorted=False).indices
            del d2
            cand = cand.sort(dim=1).values  # ascending index: the tie-break of the stable sort below
            diff = X[cand] - q[:, None, :]  # (B, kc, d)
            exact = (diff * diff).sum(-1)
            del diff
            if masked:
                exact.masked_fill_(x_labels[cand] == q_labels[s:s + rows, None], float("inf"))
            exact, order = torch.sort(exact, dim=1, stable=True)
            d2_out[s:s + rows] = exact[:, :k]
            idx_out[s:s + rows] = cand.gather(1, order[:, :k])
    return d2_out.cpu().numpy(), idx_out.cpu().numpy()


class TorchNearestNeighbors(ExactNeighborsBase):
    """Exact Euclidean k-NN on torch, with scikit-learn's ``NearestNeighbors`` API.

    Parameters
    ----------
    n_neighbors : int, default=5
        Number of neighbours returned by :meth:`kneighbors` when ``n_neighbors`` is not given.
    device : {"auto", "cpu", "cuda"}, default="auto"
        ``"auto"`` searches on the CUDA GPU when torch sees one, else on the CPU.

    Attributes
    ----------
    points_ : torch.Tensor of shape (n_samples_fit, n_features), float32
        The fitted points, on the search device.
    sq_norms_ : torch.Tensor of shape (n_samples_fit,)
        Their squared norms.
    n_samples_fit_, n_features_in_ : int

    Notes
    -----
    Same semantics as :class:`~eos_core.neighbors.FaissNearestNeighbors`: float32 inputs,
    float32 distances, ``X=None`` leaves each point out of its own neighbours. Pickles to CPU arrays
    and returns to CUDA on unpickling where CUDA is available.
    """

    _fitted_attr = "points_"

    def __init__(self, n_neighbors=5, *, device="auto"):
        self.n_neighbors = n_neighbors
        self.device = device

    def fit(self, X, y=None):
        """Store the training points on the search device.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training points (converted to float32).
        y : ignored

        Returns
        -------
        self : TorchNearestNeighbors
        """
        check_n_neighbors(self.n_neighbors)
        dev = torch_knn_device(self.device)
        X = as_float32(X)
        self._set_points(torch.from_numpy(X).to(dev))
        return self

    def _set_points(self, points: torch.Tensor) -> None:
        self.points_ = points
        self.sq_norms_ = (points * points).sum(1)
        self.n_samples_fit_ = int(points.shape[0])
        self.n_features_in_ = int(points.shape[1])

    def _search(self, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = torch.from_numpy(Q).to(self.points_.device)
        return knn_search(q, self.points_, k, x_sq=self.sq_norms_)

    def _self_search(self, k1: int) -> tuple[np.ndarray, np.ndarray]:
        # The fitted points are already on the device: no round trip through the host.
        return knn_search(self.points_, self.points_, k1, x_sq=self.sq_norms_)

    def _stored_points(self) -> np.ndarray:
        return self.points_.cpu().numpy()

    def enemies(self, labels: np.ndarray, k: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """k nearest fitted points of another label for the fitted points ``rows`` (all by default).

        Parameters
        ----------
        labels : ndarray of shape (n_samples_fit,), integer
        k : int
        rows : ndarray of shape (n_rows,), optional

        Returns
        -------
        idx : ndarray of shape (n_rows, k), int64;  dist : ndarray of shape (n_rows, k), float32
        """
        lab = torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64)).to(self.points_.device)
        if rows is None:
            q, q_lab = self.points_, lab
        else:
            r = torch.from_numpy(np.asarray(rows, dtype=np.int64)).to(self.points_.device)
            q, q_lab = self.points_[r], lab[r]
        d2, idx = knn_search(q, self.points_, k, x_sq=self.sq_norms_, q_labels=q_lab, x_labels=lab)
        return idx, np.sqrt(np.maximum(d2, 0.0, out=d2), out=d2)

    # -- pickling: CPU arrays, back on the device where it exists ------------------------------
    def __getstate__(self):
        state = dict(super().__getstate__())
        points = state.pop("points_", None)
        state.pop("sq_norms_", None)
        if points is not None:
            state["_points_np"] = points.cpu().numpy()
        return state

    def __setstate__(self, state):
        state = dict(state)
        points = state.pop("_points_np", None)
        super().__setstate__(state)
        if points is not None:
            dev = "cuda" if torch.cuda.is_available() and self.device != "cpu" else "cpu"
            self._set_points(torch.from_numpy(points).to(dev))
