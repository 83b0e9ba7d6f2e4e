"""numba's on-disk cache for umap-learn's jitted functions.

umap-learn declares ``cache=True`` on almost none of its numba functions, so ``NUMBA_CACHE_DIR``
alone changes nothing: :func:`enable_umap_disk_cache` switches them to numba's disk cache before
their first compilation. :func:`eos_core.maps.warm_up_umap` fills the cache by compiling them on a
tiny problem through the same code path as a real map, so the first real map of a process skips
compilation (first tiny fit ~6 s cold, ~0.3 s with a warm disk cache).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

__all__ = ["enable_umap_disk_cache"]

_log = logging.getLogger(__name__)
_cache_lock = threading.Lock()
_cache_enabled: int | None = None


def enable_umap_disk_cache() -> int:
    """Turn on numba's on-disk cache for umap-learn's jitted functions; idempotent, thread-safe.

    Only functions not compiled yet in this process are affected, so call it before the first map
    (:func:`eos_core.maps.fit_projection` does, through :mod:`eos_core.maps._umap`). The folder follows
    numba's rules (see the module docstring); the cache is invalidated by numba when umap-learn's
    source files change.

    Returns
    -------
    int
        Number of umap-learn functions switched to the disk cache (0 when numba cannot write
        anywhere: compilation then simply happens in memory, as without this call).
    """
    global _cache_enabled
    with _cache_lock:
        if _cache_enabled is None:
            _cache_enabled = _enable_caching_on(_umap_dispatchers())
        return _cache_enabled


def _umap_dispatchers() -> list:
    """umap-learn's numba dispatchers (module-level ``@njit`` functions) not already disk-cached."""
    # deferred: umap-learn and numba load in seconds; only a UMAP map needs them
    import umap  # noqa: F401  (loads the submodules below)
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    found: dict[int, Any] = {}
    for name in ("umap.umap_", "umap.layouts", "umap.utils", "umap.distances", "umap.spectral", "umap.sparse"):
        module = __import__(name, fromlist=["_"])
        for obj in vars(module).values():
            if isinstance(obj, Dispatcher) and isinstance(getattr(obj, "_cache", None), NullCache):
                found[id(obj)] = obj
    return list(found.values())


def _enable_caching_on(dispatchers: list) -> int:
    n, refused = 0, []
    for disp in dispatchers:
        try:
            disp.enable_caching()  # what @njit(cache=True) does at decoration time
        except RuntimeError as err:  # "cannot cache function ...: no locator available" (read-only places)
            refused.append(err)
            continue
        n += 1
    if refused:  # once per process: enable_umap_disk_cache runs this once
        _log.warning("numba cannot cache %d of umap-learn's functions (%s); the first map of each process "
                     "compiles them (set NUMBA_CACHE_DIR to a writable folder).", len(refused), refused[0])
    return n

