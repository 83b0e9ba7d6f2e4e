"""One oversampler's quality figures as a page shows them: read from ``methods.json`` when the run stored
them, else computed by :func:`eos_core.gap.synthetic_quality` (what the pipeline stores), plus the
per-class enemy share, which the run does not store.

Either way the same engine function produced the numbers, so a page shows one set of figures whether
they come from the run folder (the run's own k) or are measured now (another k, or a method the run lacks).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._closure import SYNTHETIC_QUALITY_KEYS, synthetic_enemy_share_per_class, synthetic_quality

__all__ = ["method_quality"]


def _nan_array(values: Any) -> np.ndarray:
    """A stored list (None where undefined) or an array, as float64 with NaN."""
    return np.asarray([np.nan if v is None else v for v in values], dtype=float)


def method_quality(
    train_emb: np.ndarray, train_y: np.ndarray, synth_emb: np.ndarray, synth_y: np.ndarray,
    test_emb: np.ndarray, test_y: np.ndarray, *, num_classes: int,
    base: np.ndarray | None = None, partner: np.ndarray | None = None,
    stored: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The quality figures of one oversampler's synthetic points, as arrays.

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
        (the run's own k). If it holds every ``SYNTHETIC_QUALITY_KEYS`` field, those values are used as
        stored instead of recomputed.

    Returns
    -------
    dict
        ``nn_gap_closed`` (C,) float64 and ``nn_gap_closed_note`` (C str or None), ``nn1_recall`` and
        ``nn1_recall_change`` (C,) float64; ``enemy_share`` float (NaN without synthetic points) and
        ``enemy_share_per_class`` (C,) float64; ``partner_share`` (dict or None); ``n`` (S) and ``source``
        (``"stored"`` or ``"computed"``).
    """
    stored = stored or {}
    n = len(synth_y)
    if all(key in stored for key in SYNTHETIC_QUALITY_KEYS):
        out, source = {key: stored[key] for key in SYNTHETIC_QUALITY_KEYS}, "stored"
    else:
        known = base is not None and partner is not None and n and len(base) == n
        provenance = {"base": base, "partner": partner} if known else None
        out, source = synthetic_quality(train_emb, train_y, synth_emb, synth_y, test_emb, test_y,
                                        num_classes=num_classes, provenance=provenance), "computed"
    # Not in methods.json: always computed (one nearest-neighbour search of the synthetic points).
    per_class = (synthetic_enemy_share_per_class(train_emb, train_y, synth_emb, synth_y, num_classes=num_classes)
                 if n else np.full(num_classes, np.nan))
    share = out["enemy_share"]
    return {"nn_gap_closed": _nan_array(out["nn_gap_closed"]), "nn_gap_closed_note": list(out["nn_gap_closed_note"]),
            "nn1_recall": _nan_array(out["nn1_recall"]), "nn1_recall_change": _nan_array(out["nn1_recall_change"]),
            "enemy_share": math.nan if share is None else float(share),
            "partner_share": out["partner_share"], "source": source,
            "enemy_share_per_class": np.asarray(per_class, dtype=float), "n": int(n)}
