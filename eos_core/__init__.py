"""EOS Explorer engine: imbalanced data, phase-1 CNN training, embeddings, oversampling in
embedding space (EOS and baselines), head re-training, metrics, the generalization gap, projection
and a crash-safe run store.

Heavy dependencies (torch, faiss, imbalanced-learn, umap-learn) load on first use, so importing
``eos_core`` — or ``from eos_core import EOS`` — stays cheap for the app's start-up.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "EOS": "eos",
    "partner_share": "eos",
    "make_sampler": "oversampling",
    "resample": "oversampling",
    "FaissNearestNeighbors": "neighbors",
    "nearest_enemies": "neighbors",
    "RunConfig": "config",
    "DataConfig": "config",
    "TrainConfig": "config",
    "HeadConfig": "config",
    "RunStore": "store",
    "load_dataset": "data",
    "make_imbalanced": "imbalance",
    "class_counts": "imbalance",
    "run_phase1": "pipeline",
    "run_methods": "pipeline",
    "run_pipeline": "pipeline",
    "load_phase1": "results",
    "load_methods": "results",
    "load_map": "results",
    "compute_map": "maps",
    "generalization_gap": "gap",
    "closure_measures": "closure",
    "fit_projection": "projection",
    "train_head": "head",
    "attach_head": "head",
    "build_model": "models",
    "classification_report_dict": "metrics",
    "paired_deltas": "compare",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'eos_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
