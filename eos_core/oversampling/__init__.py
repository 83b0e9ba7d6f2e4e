"""Phase 2: balance the embeddings. EOS (synthetic points toward the nearest enemies), the
imbalanced-learn baselines, provenance of every synthetic row, and the checks of ``fit_resample``'s input.

The modules are private; import from the package (names load on first use, see :mod:`eos_core._lazy`).
"""

from .._lazy import lazy_exports

_EXPORTS: dict[str, tuple[str, ...]] = {
    "_checks": (
        "OVER_SAMPLING_STRATEGIES", "all_finite", "check_fit_X_y", "check_k", "check_sampling_strategy_param",
        "check_strategy_fits", "first_sentence", "lower_first", "validate_params"
    ),
    "_eos": ("EOS", "PARTNER_RULES", "partner_share"),
    "_provenance": ("fit_resample_with_provenance", "concat_provenance", "copies_provenance", "reconstruct"),
    "_resample": ("NO_SYNTHETIC", "make_sampler", "resample"),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
