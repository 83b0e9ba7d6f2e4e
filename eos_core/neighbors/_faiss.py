"""Exact k-nearest-neighbour search on faiss, wrapped as a scikit-learn estimator.

:class:`FaissNearestNeighbors` is a drop-in for ``sklearn.neighbors.NearestNeighbors`` (Euclidean,
brute force) backed by a faiss ``IndexFlatL2`` (on all GPUs when this faiss build sees one). It
follows the ``KNeighborsMixin`` contract through :class:`~eos_core.neighbors.ExactNeighborsBase`
(``kneighbors`` / ``kneighbors_graph``, ``X=None`` excludes each point itself), is ``clone``-able,
and imbalanced-learn's samplers accept it for ``k_neighbors=`` / ``m_neighbors=`` / ``n_neighbors=``.
Which backend a caller gets is decided in :mod:`eos_core.neighbors._factory` (``make_nn_estimator``); this
module imports without faiss, but :class:`FaissNearestNeighbors` then refuses to fit.

The search is exact: faiss computes squared L2 distances in float32 with a BLAS matrix product, so
indices equal scikit-learn's brute force up to float32 ties and distances agree to float32
precision.

Two library-load-time settings are applied to faiss's *own* bundled runtimes (set only around
``import faiss`` when the variables are unset, then removed again; ``EOS_NO_FAISS_ENV_HINTS=1``
disables both). Both were measured on the project's 2-core Xeon box:

* ``OPENBLAS_CORETYPE``: the faiss-cpu wheel bundles an old OpenBLAS (0.3.15) that does not
  recognise recent CPU models and silently falls back to its ``Prescott`` (SSE3) kernels, making the
  distance GEMM — i.e. the whole search — 2.5-3x slower (12.4k x 64 self-search, 1 thread: 0.87 s
  -> 0.33 s). The hint names a kernel only when ``/proc/cpuinfo`` proves the CPU has its
  instructions, so it can never select an unsupported one.
* ``OMP_WAIT_POLICY=PASSIVE``: with the default spin-waiting, faiss's OpenMP threads collapse as
  soon as another process (a training job, the app) uses a core — the same 12.4k x 64 search went
  from 0.34 s to 1.2 s with the default policy on a loaded box; passive waiting keeps it near the
  idle-box time (as faiss's own troubleshooting notes recommend for OpenBLAS builds).

Threads: faiss's default is one OpenMP thread per core, which is best on an idle machine; before a
large search the number of free cores is sampled and faiss uses only those (see
:func:`_search_threads` for the measurements). ``EOS_FAISS_THREADS=n`` forces n threads.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import time

import numpy as np

from ..errors import ConfigError
from ._base import ExactNeighborsBase, as_float32, check_device, check_n_neighbors

__all__ = ["FaissNearestNeighbors", "faiss_gpu_available", "build_index", "search"]

_log = logging.getLogger(__name__)


def _openblas_coretype_hint() -> str | None:
    """OpenBLAS kernel name the CPU provably supports (Linux x86-64 only), or None."""
    if sys.platform != "linux" or platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
            else:
                return None
    except OSError:
        return None
    # The instruction sets each OpenBLAS kernel family compiles against.
    if {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "fma"} <= flags:
        return "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return None


def _import_faiss():
    """Import faiss with the library-load-time settings described in the module docstring.

    Both variables are read once, when faiss's own bundled OpenBLAS and libgomp are loaded, so
    they are set only around the import and then restored: nothing else in the process (torch's
    own OpenMP runtime, numpy's OpenBLAS) sees them.
    """
    if "faiss" in sys.modules or os.environ.get("EOS_NO_FAISS_ENV_HINTS"):
        import faiss as mod  # deferred: faiss loads in seconds, at this module's import only (no hints here)

        return mod
    wanted = {"OMP_WAIT_POLICY": "PASSIVE"}
    coretype = _openblas_coretype_hint()
    if coretype:
        wanted["OPENBLAS_CORETYPE"] = coretype
    added = [name for name in wanted if not os.environ.get(name)]
    for name in added:
        os.environ[name] = wanted[name]
    try:
        import faiss as mod  # deferred: faiss loads here, once, with the settings above (module docstring)
    finally:
        for name in added:
            os.environ.pop(name, None)
    return mod


try:
    faiss = _import_faiss()
except ImportError:
    # Importable without faiss (a GPU machine may have only torch): the class then refuses to fit,
    # and make_nn_estimator never hands it out.
    faiss = None


def faiss_gpu_available() -> bool:
    """True when this faiss build has GPU support and sees at least one GPU."""
    get_num_gpus = getattr(faiss, "get_num_gpus", None)
    return bool(get_num_gpus and get_num_gpus() > 0 and hasattr(faiss, "index_cpu_to_all_gpus"))


def _use_gpu(device: str) -> bool:
    dev = check_device(device)
    if dev == "cpu":
        return False
    if dev == "cuda" and not faiss_gpu_available():
        raise ConfigError("Device 'cuda' was requested for the neighbour search but faiss sees no GPU.")
    return faiss_gpu_available()


def build_index(X: np.ndarray, use_gpu: bool):
    index = faiss.IndexFlatL2(X.shape[1])
    if use_gpu:
        index = faiss.index_cpu_to_all_gpus(index)
    index.add(X)
    return index


# Searches below this many multiply-adds (query x database x dim) take well under a second; they
# keep faiss's default thread count without sampling the CPU load first.
_ADAPT_THREADS_MIN_WORK = 2e9


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies summed over all CPUs from /proc/stat, or None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = fh.readline().split()[1:]
    except OSError:
        return None
    values = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _search_threads(work: float) -> int | None:
    """OpenMP threads for one large search, or None to keep faiss's default.

    faiss's flat search synchronises its OpenMP threads thousands of times (per GEMM block and
    heap merge). When other processes already occupy some cores, a thread that gets descheduled
    stalls all the others at every barrier: on the 2-core box, with other jobs running, the 30k x
    50k x 64 search took 2.9 s on 1 thread vs 7.8 s on 2 (idle box: 2 threads win, 0.79 vs 1.25 s
    for 12.4k x 50k). So, before a search big enough to matter, the busy share of the CPUs is
    sampled for 50 ms and faiss uses only the cores that are free (at least 1).
    ``EOS_FAISS_THREADS=n`` forces n threads.
    """
    forced = os.environ.get("EOS_FAISS_THREADS")
    if forced:
        try:
            return max(1, int(forced))
        except ValueError:
            _log.warning("EOS_FAISS_THREADS=%r is not a whole number; faiss chooses its threads.", forced)
            return None
    if work < _ADAPT_THREADS_MIN_WORK:
        return None
    default = faiss.omp_get_max_threads()
    if default <= 1:
        return None
    first = _cpu_times()
    if first is None:
        return None
    time.sleep(0.05)
    second = _cpu_times()
    busy, total = second[0] - first[0], second[1] - first[1]
    if total <= 0:
        return None
    n_cpus = os.cpu_count() or default
    free = n_cpus * (1.0 - busy / total)
    return int(min(default, max(1, round(free))))


def search(index, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """faiss search; returns (squared L2 float32 (n, k), int64 indices (n, k))."""
    if len(Q) == 0:
        return np.empty((0, k), np.float32), np.empty((0, k), np.int64)
    # Only CPU flat indexes run on OpenMP; a GPU index searches as is.
    on_cpu = isinstance(index, faiss.IndexFlat)
    threads = _search_threads(float(len(Q)) * index.ntotal * index.d) if on_cpu else None
    if threads is None:
        return index.search(Q, k)
    # omp_set_num_threads sets the calling thread's OpenMP default, so the setting is restored
    # right after and never leaks into other callers.
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        return index.search(Q, k)
    finally:
        faiss.omp_set_num_threads(previous)


class FaissNearestNeighbors(ExactNeighborsBase):
    """Exact Euclidean k-NN on a faiss ``IndexFlatL2``, with scikit-learn's ``NearestNeighbors`` API.

    Parameters
    ----------
    n_neighbors : int, default=5
        Number of neighbours returned by :meth:`kneighbors` when ``n_neighbors`` is not given.
    device : {"auto", "cpu", "cuda"}, default="auto"
        ``"auto"`` moves the index to all GPUs when this faiss build sees one, else stays on CPU.

    Attributes
    ----------
    index_ : faiss.Index
        The fitted flat L2 index holding the training points.
    n_samples_fit_ : int
        Number of training points.
    n_features_in_ : int
        Dimensionality of the training points.

    Notes
    -----
    Inputs are converted to C-contiguous float32 (faiss's only dtype); distances are returned as
    float32. The fitted estimator pickles (the index is serialised with faiss).
    """

    def __init__(self, n_neighbors=5, *, device="auto"):
        self.n_neighbors = n_neighbors
        self.device = device

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Index the training points.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training points (converted to float32).
        y : ignored

        Returns
        -------
        self : FaissNearestNeighbors
        """
        check_n_neighbors(self.n_neighbors)
        if faiss is None:
            raise ConfigError("faiss is not installed; use eos_core.neighbors.make_nn_estimator() instead.")
        use_gpu = _use_gpu(self.device)
        X = as_float32(X)
        self.index_ = build_index(X, use_gpu)
        self.n_samples_fit_ = int(X.shape[0])
        self.n_features_in_ = int(X.shape[1])
        self._on_gpu = use_gpu
        return self

    # -- search (the query logic is ExactNeighborsBase's) -----------------------------------
    def _search(self, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return search(self.index_, Q, k)

    def _stored_points(self) -> np.ndarray:
        """The fitted points back from the index, (n_samples_fit, n_features) float32."""
        if self._on_gpu:
            # A temporary CPU copy of the index: copy its buffer out before the copy is freed.
            index = faiss.index_gpu_to_cpu(self.index_)
            return faiss.vector_to_array(index.codes).view(np.float32).reshape(index.ntotal, index.d)
        index = self.index_
        # IndexFlat keeps its vectors in one contiguous buffer; this is a copy-free view that lives
        # as long as the index (held by self).
        return faiss.rev_swig_ptr(index.get_xb(), index.ntotal * index.d).reshape(index.ntotal, index.d)

    # -- pickling: faiss indexes are SWIG objects; store them serialised ---------------------
    def __getstate__(self):
        # object.__getstate__ returns the live __dict__ itself: copy before removing the index.
        state = dict(super().__getstate__())
        index = state.pop("index_", None)
        if index is not None:
            cpu = faiss.index_gpu_to_cpu(index) if state.get("_on_gpu") else index
            state["_index_bytes"] = faiss.serialize_index(cpu)
        return state

    def __setstate__(self, state):
        state = dict(state)
        blob = state.pop("_index_bytes", None)
        super().__setstate__(state)
        if blob is not None:
            index = faiss.deserialize_index(blob)
            if getattr(self, "_on_gpu", False):
                if faiss_gpu_available():
                    index = faiss.index_cpu_to_all_gpus(index)
                else:
                    self._on_gpu = False
            self.index_ = index
