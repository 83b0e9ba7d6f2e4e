"""One oversampler's synthetic points, judged against the real ones: how much of each class's gap they
close, how the 1-NN test recall moves, how many land among another class, and whom EOS paired.

The pipeline stores these figures per method in ``methods.json`` (at the run's k);
:func:`synthetic_quality` reads them from there when given, and computes them with the same engine
functions otherwise (another k, or a method the run lacks), so a page shows one set of numbers either way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..oversampling._eos import partner_share
from ._closure import closure_measures, synthetic_enemy_share, synthetic_enemy_share_per_class

__all__ = ["QUALITY_KEYS", "synthetic_quality"]

# The per-method fields of methods.json that synthetic_quality reads back (eos_core.gap._closure,
# eos_core.oversampling._eos).
QUALITY_KEYS: tuple[str, ...] = ("nn_gap_closed", "nn_gap_closed_note", "nn1_recall", "nn1_recall_change",
                                 "enemy_share", "partner_share")


def _nan_array(values: Any) -> np.ndarray:
    """A stored list (None where undefined) or an array, as float64 with NaN."""
    return np.asarray([np.nan if v is None else v for v in values], dtype=float)


def _computed(train_emb: np.ndarray, train_y: np.ndarray, synth_emb: np.ndarray, synth_y: np.ndarray,
              test_emb: np.ndarray, test_y: np.ndarray, num_classes: int,
              base: np.ndarray | None, partner: np.ndarray | None) -> dict[str, Any]:
    """The :data:`QUALITY_KEYS` figures computed from the points (what the pipeline stores)."""
    out = closure_measures(train_emb, train_y, synth_emb, synth_y, test_emb, test_y, num_classes=num_classes)
    out["enemy_share"] = synthetic_enemy_share(train_emb, train_y, synth_emb, synth_y) if len(synth_y) else None
    has_provenance = base is not None and partner is not None and len(synth_y) and len(base) == len(synth_y)
    out["partner_share"] = partner_share(train_y, base, partner) if has_provenance else None
    return out


def synthetic_quality(
    train_emb: np.ndarray, train_y: np.ndarray, synth_emb: np.ndarray, synth_y: np.ndarray,
    test_emb: np.ndarray, test_y: np.ndarray, *, num_classes: int,
    base: np.ndarray | None = None, partner: np.ndarray | None = None,
    stored: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The quality figures of one oversampler's synthetic points.

    Parameters
    ----------
    train_emb : np.ndarray, (N, D); train_y : np.ndarray, (N,) int
        The real training embeddings and their classes.
    synth_emb : np.ndarray, (S, D); synth_y : np.ndarray, (S,) int
        The synthetic embeddings and their classes (S may be 0: ``none``, ``crt``).
    test_emb : np.ndarray, (M, D); test_y : np.ndarray, (M,) int
    num_classes : int
        C.
    base, partner : np.ndarray, (S,) int, optional
        Each synthetic point's base and partner row in the training set (its provenance); without
        them ``partner_share`` is None.
    stored : mapping, optional
        The method's ``methods.json`` entry, when it was computed from these same synthetic points
        (the run's own k). If it holds every :data:`QUALITY_KEYS` field, those values are used as
        stored instead of recomputed.

    Returns
    -------
    dict
        ``nn_gap_closed`` (C,) float64 and ``nn_gap_closed_note`` (C str or None), ``nn1_recall`` and
        ``nn1_recall_change`` (C,) float64 (:func:`eos_core.gap.closure_measures`); ``enemy_share``
        float (share of synthetic points whose nearest real point is of another class, NaN without
        synthetic points) and ``enemy_share_per_class`` (C,) float64; ``partner_share`` (dict or None,
        :func:`eos_core.oversampling.partner_share`); ``n`` (S) and ``source`` (``"stored"`` or
        ``"computed"``).
    """
    stored = stored or {}
    if all(key in stored for key in QUALITY_KEYS):
        out, source = {key: stored[key] for key in QUALITY_KEYS}, "stored"
    else:
        out, source = _computed(train_emb, train_y, synth_emb, synth_y, test_emb, test_y, num_classes,
                                base, partner), "computed"
    n = len(synth_y)
    # Not in methods.json: always computed (one nearest-neighbour search of the synthetic points).
    per_class = (synthetic_enemy_share_per_class(train_emb, train_y, synth_emb, synth_y, num_classes=num_classes)
                 if n else np.full(num_classes, np.nan))
    share = out["enemy_share"]
    return {"nn_gap_closed": _nan_array(out["nn_gap_closed"]), "nn_gap_closed_note": list(out["nn_gap_closed_note"]),
            "nn1_recall": _nan_array(out["nn1_recall"]), "nn1_recall_change": _nan_array(out["nn1_recall_change"]),
            "enemy_share": math.nan if share is None else float(share),
            "partner_share": out["partner_share"], "source": source,
            "enemy_share_per_class": np.asarray(per_class, dtype=float), "n": int(n)}
