"""Nearest-neighbour search, behind one scikit-learn estimator contract (faiss, torch or scikit-learn).

The modules are private; import from the package (names load on first use, see :mod:`eos_core._lazy`).
"""

from .._lazy import lazy_exports

_EXPORTS: dict[str, tuple[str, ...]] = {
    "_base": ("DEVICES", "ExactNeighborsBase", "as_float32", "check_device", "check_n_neighbors", "drop_self",
              "sqrt_clip"),
    "_factory": ("BACKENDS", "faiss_available", "make_nn_estimator", "nearest_enemies", "nn_backend"),
    "_faiss": ("FaissNearestNeighbors", "faiss_gpu_available", "build_index", "search"),
    "_torch": ("TorchNearestNeighbors", "knn_search", "torch_knn_device"),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
