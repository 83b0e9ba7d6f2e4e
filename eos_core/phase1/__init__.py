"""Phase 1: train the CNN end-to-end on the imbalanced data, then embed the training and test sets.

Models, losses, augmentation, the training loop, embeddings, device and multi-GPU helpers, and the
estimate of how long phase 1 takes on this machine.

The modules are private; import from the package (names load on first use, see :mod:`eos_core._lazy`).
"""

from .._lazy import lazy_exports

_EXPORTS: dict[str, tuple[str, ...]] = {
    "_augment": ("AugmentSpec", "SPECS", "augment_batch"),
    "_device": (
        "DEVICE_CHOICES", "COMPILE_MODES", "choose_device", "configure_threads", "Accel", "compile_mode_from_env",
        "accel_for"
    ),
    "_distributed": (
        "DistContext", "all_gather_rows", "broadcast_buffers", "current", "gather_rows", "init_from_env",
        "shard_bounds", "shutdown", "split_global_batch"
    ),
    "_embeddings": ("embed_batches", "compute_embeddings"),
    "_estimate": (
        "WARN_SECONDS", "Phase1Estimate", "cache_file", "estimate_phase1", "record_phase1", "seconds_per_image"
    ),
    "_losses": (
        "LOSS_NAMES", "ClassBalancedCE", "CrossEntropy", "FocalLoss", "ImbalanceLoss", "LDAMDRWLoss",
        "LDAM_COSINE_SCALE", "build_loss", "drw_start_epoch", "effective_number_weights", "ldam_margins"
    ),
    "_models": ("MODEL_NAMES", "ResNet32", "SmallCNN", "build_model", "resolve_model"),
    "_train": ("lr_at", "train_model"),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
