"""Exact k-nearest-neighbour search: which backend, and the nearest enemies.

Every neighbour search of the engine (EOS, SMOTE, Borderline-SMOTE, ADASYN, the gap measures,
the map's neighbour graph) should take its estimator from :func:`make_nn_estimator`, which picks
one of two interchangeable exact backends with scikit-learn's ``NearestNeighbors`` contract:

=====================  ==========================================================================
backend                when
=====================  ==========================================================================
``faiss-gpu``          faiss is installed with GPU support and sees a GPU
``torch-cuda``         torch sees a CUDA GPU and faiss has no GPU (or is not installed)
``faiss-cpu``          otherwise, when faiss is installed (the default install)
``torch-cpu``          otherwise (a machine without faiss)
=====================  ==========================================================================

``device="cpu"`` keeps the search on the CPU; ``EOS_NN_BACKEND=faiss|torch`` forces a library
(for benchmarks and tests). :class:`~eos_core.neighbors.FaissNearestNeighbors` and
:class:`~eos_core.neighbors.TorchNearestNeighbors` are importable from here; both load their
library only when first used, so the engine imports without faiss.

:func:`nearest_enemies` — for every row, its k nearest rows of *other* classes.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from ._base import as_float32, check_device, check_n_neighbors, drop_self, sqrt_clip

if TYPE_CHECKING:
    from ._faiss import FaissNearestNeighbors
    from ._torch import TorchNearestNeighbors

__all__ = [
    "BACKENDS", "FaissNearestNeighbors", "TorchNearestNeighbors", "drop_self", "faiss_available",
    "faiss_gpu_available", "make_nn_estimator", "nearest_enemies", "nn_backend",
]

BACKENDS = ("faiss-gpu", "torch-cuda", "faiss-cpu", "torch-cpu")
_LIBRARIES = ("faiss", "torch")


def __getattr__(name: str) -> Any:
    # Lazy: importing faiss (and its OpenBLAS hints) or torch only when a backend is used.
    if name == "FaissNearestNeighbors":
        from ._faiss import FaissNearestNeighbors  # deferred: imports faiss (seconds)

        return FaissNearestNeighbors
    if name == "TorchNearestNeighbors":
        from ._torch import TorchNearestNeighbors  # deferred: imports torch (seconds)

        return TorchNearestNeighbors
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def faiss_available() -> bool:
    """True when the faiss package is installed (it is not imported to find out)."""
    if "faiss" in sys.modules:  # imported already, or blocked with sys.modules["faiss"] = None
        return sys.modules["faiss"] is not None
    return importlib.util.find_spec("faiss") is not None


def faiss_gpu_available() -> bool:
    """True when faiss is installed, has GPU support and sees at least one GPU."""
    if not faiss_available():
        return False
    from ._faiss import faiss_gpu_available as gpu  # deferred: imports faiss (seconds)

    return gpu()


def _forced_library() -> str | None:
    forced = os.environ.get("EOS_NN_BACKEND", "").strip().lower()
    if not forced:
        return None
    if forced not in _LIBRARIES:
        raise ConfigError(f"EOS_NN_BACKEND must be one of {', '.join(_LIBRARIES)}, got {forced!r}.")
    if forced == "faiss" and not faiss_available():
        raise ConfigError("EOS_NN_BACKEND=faiss was set but faiss is not installed.")
    return forced


def nn_backend(device: str = "auto") -> str:
    """The backend :func:`make_nn_estimator` uses for ``device``: one of :data:`BACKENDS`.

    Raises
    ------
    ConfigError
        For an unknown device, or ``"cuda"`` when neither faiss nor torch sees a GPU.
    """
    dev = check_device(device)
    forced = _forced_library()
    if dev != "cpu":
        if forced != "torch" and faiss_gpu_available():
            return "faiss-gpu"
        import torch  # deferred: torch loads in seconds; a CPU search on faiss needs none

        if forced != "faiss" and torch.cuda.is_available():
            return "torch-cuda"
        if dev == "cuda":
            raise ConfigError("Device 'cuda' was requested for the neighbour search but no GPU is available to it.")
    if forced == "torch" or not faiss_available():
        return "torch-cpu"
    return "faiss-cpu"


def make_nn_estimator(n_neighbors: int = 5, *, device: str = "auto"):
    """An unfitted exact Euclidean k-NN estimator on the best backend for ``device``.

    Parameters
    ----------
    n_neighbors : int, default=5
        The estimator's default neighbour count (imbalanced-learn samplers want ``k + 1``).
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where to search; see the module docstring for the rule.

    Returns
    -------
    FaissNearestNeighbors or TorchNearestNeighbors
        Its ``device`` parameter is the concrete ``"cuda"`` or ``"cpu"``, so clones (imbalanced-learn
        clones its ``k_neighbors`` estimator) stay on the same backend.
    """
    check_n_neighbors(n_neighbors)
    backend = nn_backend(device)
    library, where = backend.split("-")
    where = "cuda" if where in ("gpu", "cuda") else "cpu"
    if library == "faiss":
        from ._faiss import FaissNearestNeighbors  # deferred: imports faiss (seconds)

        return FaissNearestNeighbors(n_neighbors, device=where)
    from ._torch import TorchNearestNeighbors  # deferred: imports torch (seconds)

    return TorchNearestNeighbors(n_neighbors, device=where)


def nearest_enemies(X, y, k, *, device="auto", only_class=None):
    """k nearest neighbours of each row among the rows of *other* classes.

    On faiss: one flat index per class over the other classes' points, queried with that class's
    points. On torch: one upload of all points and one search with same-class columns masked.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Points (converted to float32).
    y : array-like of shape (n_samples,)
        Class labels.
    k : int
        Number of enemies per row; at most the number of points outside the smallest queried class.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where to search (see :func:`nn_backend`).
    only_class : label or None, default=None
        Compute the enemies of this class's rows only.

    Returns
    -------
    idx : ndarray of shape (n_rows, k), int64
        Row indices into ``X`` of the nearest other-class points, nearest first. ``n_rows`` is
        ``n_samples``, or the size of ``only_class`` (its rows in increasing order).
    dist : ndarray of shape (n_rows, k), float32
        The matching Euclidean distances.
    """
    backend = nn_backend(device)
    X = as_float32(X)
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(X):
        raise ConfigError(f"y must be 1-D with one label per row of X ({len(X)}), got shape {y.shape}.")
    k = check_n_neighbors(k)
    classes, y_enc = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ConfigError("Nearest enemies need at least two classes, but y has only one.")
    if only_class is not None:
        hits = np.flatnonzero(classes == only_class)
        if len(hits) == 0:
            raise ConfigError(f"Class {only_class!r} does not occur in y.")
        todo = [int(hits[0])]
    else:
        todo = list(range(len(classes)))
    # Row positions of each class, and of everything else, grouped by class in one stable sort.
    order = np.argsort(y_enc, kind="stable")
    bounds = np.searchsorted(y_enc[order], np.arange(len(classes) + 1))
    for c in todo:
        n_other = len(X) - int(bounds[c + 1] - bounds[c])
        if k > n_other:
            raise ConfigError(
                f"Asked for {k} nearest enemies but class {classes[c]!r} has only {n_other} "
                "points of other classes."
            )
    where = "cuda" if backend.endswith(("gpu", "cuda")) else "cpu"
    if backend.startswith("torch"):
        from ._torch import TorchNearestNeighbors  # deferred: imports torch (seconds)

        nn = TorchNearestNeighbors(k, device=where).fit(X)
        rows = None if only_class is None else np.flatnonzero(y_enc == todo[0])
        return nn.enemies(y_enc, k, rows)
    return _faiss_enemies(X, y_enc, k, todo, order, bounds, where, only_class is not None)


def _faiss_enemies(X, y_enc, k, todo, order, bounds, where, one_class):
    from ._faiss import build_index, search  # deferred: imports faiss (seconds)

    n_rows = int(bounds[todo[0] + 1] - bounds[todo[0]]) if one_class else len(X)
    idx_out = np.empty((n_rows, k), dtype=np.int64)
    dist_out = np.empty((n_rows, k), dtype=np.float32)
    for c in todo:
        rows = order[bounds[c]:bounds[c + 1]]
        others = np.concatenate([order[: bounds[c]], order[bounds[c + 1]:]])
        index = build_index(np.ascontiguousarray(X[others]), where == "cuda")
        d2, local = search(index, np.ascontiguousarray(X[rows]), k)
        out_rows = slice(None) if one_class else rows
        idx_out[out_rows] = others[local]
        dist_out[out_rows] = sqrt_clip(d2)
    return idx_out, dist_out
