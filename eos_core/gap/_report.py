"""Generalization gap in embedding space, per class: how much farther test points lie from a class's
training embeddings than the training embeddings lie from each other.

EOS (Dablain et al. 2022, arXiv 2207.06080) starts from one observation: a CNN trained on
imbalanced data maps the *test* images of minority classes further from the class's training
embeddings than it does for majority classes. This module measures that gap; :mod:`._null`
gives each value a permutation null band and p-value, :mod:`._closure` measures how synthetic
points close the gap.

See :mod:`._measures` for the definitions and why they read "no gap" on null data.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..names import GAP_MEASURES
from ._measures import (
    MIN_SPEARMAN_POINTS,
    check_pair,
    check_preds,
    check_same_width,
    observed_measures,
    spearman_rho,
)
from ._null import permutation_null

__all__ = ["GapReport", "generalization_gap"]


def _finite_rho(sizes: np.ndarray, values: np.ndarray) -> float | None:
    ok = np.isfinite(values)
    if ok.sum() < MIN_SPEARMAN_POINTS:
        return None
    rho = spearman_rho(sizes[ok], values[ok])
    return float(rho) if math.isfinite(rho) else None


def _none_if_nan(v: float) -> float | None:
    return None if not math.isfinite(v) else float(v)


def _by_class(rows: Sequence[Mapping[str, Any]], key: str, num_classes: int, fill: float = math.nan,
              dtype: type = np.float64) -> np.ndarray | None:
    """One ``per_class`` field as a (C,) array by class id (``fill`` where a class has no row or a
    None), or None when no row has the field."""
    if not any(key in r for r in rows):
        return None
    out = np.full(num_classes, fill, dtype=dtype)
    for i, r in enumerate(rows):
        c = int(r.get("class", i))
        if 0 <= c < num_classes and r.get(key) is not None:
            out[c] = r[key]
    return out


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
@dataclass
class GapReport:
    """Per-class generalization gap in embedding space (arrays of shape (C,)).

    Attributes
    ----------
    classes, train_count, test_count : np.ndarray, (C,) int64
        Class ids ``0..C-1`` and the embeddings per class that were measured.
    values : dict[str, np.ndarray (C,) float64]
        Each measure of :data:`GAP_MEASURES` (see the module doc); NaN for a class with fewer than
        2 training points or no test point.
    p5, p95, p_value : dict[str, np.ndarray (C,) float64]
        The 5 % / 95 % quantiles of the measure over train/test reshuffles within the class and the
        one-sided p-value of "test points lie farther than training points" (:mod:`._null`).
        NaN when no permutation was run.
    perm_train_count, perm_test_count : np.ndarray, (C,) int64
        Points per class the permutation test used (capped, see :func:`._null.permutation_null`).
    head_recall_gap : np.ndarray, (C,) float64
        The classifier's train recall minus test recall (descriptive, no band: the head saw the
        training points); NaN without predictions or when a side has no point.
    size_gap_spearman, size_gap_spearman_p : dict[str, float | None]
        Spearman's rho between ``train_count`` and each measure (negative: the smaller the class,
        the wider its gap) and its one-sided permutation p-value of "rho this negative".
    null : dict
        The permutation settings: ``permutations``, ``seed``, ``cap_per_side``, ``sidedness``.
    """

    classes: np.ndarray
    train_count: np.ndarray
    test_count: np.ndarray
    values: dict[str, np.ndarray]
    p5: dict[str, np.ndarray]
    p95: dict[str, np.ndarray]
    p_value: dict[str, np.ndarray]
    perm_train_count: np.ndarray
    perm_test_count: np.ndarray
    head_recall_gap: np.ndarray
    size_gap_spearman: dict[str, float | None] = field(default_factory=dict)
    size_gap_spearman_p: dict[str, float | None] = field(default_factory=dict)
    null: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> np.ndarray:
        # report.centroid_ratio etc. read the values dict.
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN written as None)::

            {"per_class": [{class, train_count, test_count, <m>, <m>_p5, <m>_p95, <m>_p,
                            head_recall_gap, perm_train_count, perm_test_count}, ...],
             "size_gap_spearman": {<m>: rho}, "size_gap_spearman_p": {<m>: p}, "null": {...}}

        for each measure <m> of :data:`GAP_MEASURES`.
        """
        rows = []
        for i, c in enumerate(self.classes):
            row: dict[str, Any] = {"class": int(c), "train_count": int(self.train_count[i]),
                                   "test_count": int(self.test_count[i])}
            for m in GAP_MEASURES:
                row[m] = _none_if_nan(float(self.values[m][i]))
                row[f"{m}_p5"] = _none_if_nan(float(self.p5[m][i]))
                row[f"{m}_p95"] = _none_if_nan(float(self.p95[m][i]))
                row[f"{m}_p"] = _none_if_nan(float(self.p_value[m][i]))
            row["head_recall_gap"] = _none_if_nan(float(self.head_recall_gap[i]))
            row["perm_train_count"] = int(self.perm_train_count[i])
            row["perm_test_count"] = int(self.perm_test_count[i])
            rows.append(row)
        return {"per_class": rows, "size_gap_spearman": dict(self.size_gap_spearman),
                "size_gap_spearman_p": dict(self.size_gap_spearman_p), "null": dict(self.null)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, num_classes: int | None = None) -> GapReport:
        """The report of a saved ``gap.json`` (:meth:`to_dict`'s form), typed again (None -> NaN).

        The one reader of that form for the app and its figures, so none of them parses it.

        Parameters
        ----------
        d : mapping or None
            ``gap.json`` as read; empty or None for a run without one.
        num_classes : int, optional
            C. Default: one more than the largest class id of ``per_class``. Rows of other class ids
            are ignored; a class without a row reads NaN (counts 0).

        Returns
        -------
        GapReport
            Every array (C,) by class id. ``values`` holds the measures of :data:`GAP_MEASURES` the
            file has; ``p5``, ``p95`` and ``p_value`` the measures whose three band fields it has;
            ``head_recall_gap`` is NaN where absent.
        """
        d = d or {}
        rows = list(d.get("per_class") or [])
        C = int(num_classes) if num_classes is not None else max(
            (int(r.get("class", i)) + 1 for i, r in enumerate(rows)), default=0)

        def counts(key: str) -> np.ndarray:
            col = _by_class(rows, key, C, fill=0, dtype=np.int64)
            return np.zeros(C, np.int64) if col is None else col

        def measures(suffix: str, need: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
            cols = {m: _by_class(rows, m + suffix, C) for m in GAP_MEASURES}
            return {m: v for m, v in cols.items()
                    if v is not None and all(_by_class(rows, m + s, C) is not None for s in need)}

        band = ("_p5", "_p95", "_p")
        head = _by_class(rows, "head_recall_gap", C)
        return cls(
            classes=np.arange(C, dtype=np.int64), train_count=counts("train_count"), test_count=counts("test_count"),
            values=measures(""), p5=measures("_p5", band), p95=measures("_p95", band), p_value=measures("_p", band),
            perm_train_count=counts("perm_train_count"), perm_test_count=counts("perm_test_count"),
            head_recall_gap=np.full(C, np.nan) if head is None else head,
            size_gap_spearman=dict(d.get("size_gap_spearman") or {}),
            size_gap_spearman_p=dict(d.get("size_gap_spearman_p") or {}), null=dict(d.get("null") or {}),
        )

    def snapshot(self) -> dict[str, list[float | None]]:
        """The per-epoch form stored in ``EpochStats.gap``: ``{measure: [per-class value or None]}``
        for :data:`GAP_MEASURES`."""
        return {m: [_none_if_nan(float(v)) for v in self.values[m]] for m in GAP_MEASURES}


def _head_recall_gap(ytr: np.ndarray, ptr: np.ndarray, yte: np.ndarray, pte: np.ndarray, c: int) -> np.ndarray:
    """Per-class train recall - test recall (NaN where a side has no point), via eos_core.evaluation._metrics."""
    from ..evaluation._metrics import per_class_recall  # deferred: imports imbalanced-learn and sklearn (seconds)

    return per_class_recall(ytr, ptr, c) - per_class_recall(yte, pte, c)


def generalization_gap(
    train_emb: np.ndarray,
    train_y: np.ndarray,
    test_emb: np.ndarray,
    test_y: np.ndarray,
    *,
    num_classes: int,
    train_pred: np.ndarray | None = None,
    test_pred: np.ndarray | None = None,
    permutations: int = 200,
    seed: int = 0,
    cap_per_side: int = 100,
    cancel: threading.Event | None = None,
) -> GapReport:
    """Measure each class's train-vs-test gap in embedding space, with a permutation null band.

    Parameters
    ----------
    train_emb : np.ndarray, (N, D); train_y : np.ndarray, (N,) int
        Training embeddings (converted to float32) and their classes in ``0..num_classes-1``.
    test_emb : np.ndarray, (M, D); test_y : np.ndarray, (M,) int
        Test embeddings from the same model and their classes.
    num_classes : int
        Number of classes C (classes with no sample still get a row, with NaN measures).
    train_pred, test_pred : np.ndarray, (N,) / (M,) int, optional
        Predicted classes, for the descriptive ``head_recall_gap``; give both or neither.
    permutations : int
        Train/test reshuffles per class for the null band and p-values; 0 skips them (bands NaN),
        as the per-epoch snapshots do.
    seed : int
        Seed of the reshuffles and of the subsample of large classes.
    cap_per_side : int
        The permutation test uses at most this many training and this many test points per class
        (a seeded subsample; the reported value always uses every point).
    cancel : threading.Event, optional
        Checked between classes of the permutation test; raises :class:`~eos_core.errors.Cancelled`.

    Returns
    -------
    GapReport

    Raises
    ------
    ConfigError
        NaN/inf embeddings, mismatched lengths or widths, out-of-range labels, only one of the
        two prediction arrays, negative ``permutations`` or a cap below 2.
    """
    if int(num_classes) < 1:
        raise ConfigError(f"num_classes must be at least 1, got {num_classes!r}.")
    if int(permutations) < 0 or int(cap_per_side) < 2:
        raise ConfigError("The permutation count must be at least 0 and the cap per side at least 2.")
    C = int(num_classes)
    xtr, ytr = check_pair(train_emb, train_y, "train", C)
    xte, yte = check_pair(test_emb, test_y, "test", C)
    check_same_width(xtr, xte)
    if (train_pred is None) != (test_pred is None):
        raise ConfigError("Give both train and test predictions for the head's recall gap, or neither.")
    head_gap = np.full(C, np.nan)
    if train_pred is not None:
        head_gap = _head_recall_gap(ytr, check_preds(train_pred, len(xtr), "train"), yte,
                                    check_preds(test_pred, len(xte), "test"), C)

    values = observed_measures(xtr, ytr, xte, yte, C)
    train_count = np.bincount(ytr, minlength=C).astype(np.int64)
    null = permutation_null(xtr, ytr, xte, yte, C, values=values, permutations=int(permutations), seed=int(seed),
                            cap_per_side=int(cap_per_side), cancel=cancel)
    sizes = train_count.astype(np.float64)
    return GapReport(
        classes=np.arange(C, dtype=np.int64), train_count=train_count,
        test_count=np.bincount(yte, minlength=C).astype(np.int64), values=values,
        p5=null.p5, p95=null.p95, p_value=null.p_value, perm_train_count=null.train_count,
        perm_test_count=null.test_count, head_recall_gap=head_gap,
        size_gap_spearman={m: _finite_rho(sizes, values[m]) for m in GAP_MEASURES},
        size_gap_spearman_p=null.spearman_p, null=null.settings,
    )
