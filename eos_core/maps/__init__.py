"""The 2-D map of a run's embeddings (UMAP, or PCA as a fallback), and placing synthetic points on it.

The modules are private; import from the package (names load on first use, see :mod:`eos_core._lazy`).
"""

from .._lazy import lazy_exports

_EXPORTS: dict[str, tuple[str, ...]] = {
    "_compute": ("MAP_SYNTHETIC_MAX", "compute_map", "map_sample", "place_by_neighbors"),
    "_projection": ("Projection", "PROJECTION_METHODS", "fit_projection", "fit_rows", "warm_up_umap"),
    "_umap": ("fit_umap",),
    "_umap_cache": ("enable_umap_disk_cache",),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
