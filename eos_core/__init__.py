"""EOS Explorer engine: imbalanced data, phase-1 CNN training, embeddings, oversampling in
embedding space (EOS and baselines), head re-training, metrics, the generalization gap, projection
and a crash-safe run store.

One package per phase (``data``, ``phase1``, ``neighbors``, ``oversampling``, ``evaluation``,
``gap``, ``maps``, ``store``), with the run configuration, errors, names, progress events and the
pipeline that joins the phases at the top; ARCHITECTURE.md is the map.

Heavy dependencies (torch, faiss, imbalanced-learn, umap-learn) load on first use, so importing
``eos_core`` — or ``from eos_core import EOS`` — stays cheap for the app's start-up.
"""

from __future__ import annotations

from ._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS: dict[str, tuple[str, ...]] = {
    "config": ("RunConfig", "DataConfig", "TrainConfig", "HeadConfig"),
    "data": ("load_dataset", "make_imbalanced", "class_counts"),
    "phase1": ("build_model",),
    "neighbors": ("FaissNearestNeighbors", "nearest_enemies"),
    "oversampling": ("EOS", "partner_share", "make_sampler", "resample"),
    "evaluation": ("train_head", "attach_head", "classification_report_dict", "paired_deltas"),
    "gap": ("generalization_gap", "closure_measures"),
    "maps": ("compute_map", "fit_projection"),
    "store": ("RunStore", "load_phase1", "load_methods", "load_map"),
    "pipeline": ("run_phase1", "run_methods", "run_pipeline"),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
