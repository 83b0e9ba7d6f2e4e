"""Type and shape checks of a run's artifacts, for :mod:`eos_core.store._results` (the one reader).

A file that parses can still be wrong: ``methods.json`` holding ``"garbage"``, embeddings full of
NaN or one column short. Each check returns None or a short reason, which the reader turns into the
run's :class:`~eos_core.errors.DamagedRun` (naming the file), so a damaged file stops its own run
with one sentence instead of a NumPy or neighbour-search error deep inside a page.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..names import HEADLINE
from ._check import is_int, is_number

# The scores a metrics dict may hold: numbers or null.
_SCORES: tuple[str, ...] = (*HEADLINE, "accuracy")


def _numbers(v: Any, n: int | None = None) -> bool:
    """A list of numbers or nulls (of length ``n`` when given)."""
    return isinstance(v, list) and (n is None or len(v) == n) and all(x is None or is_number(x) for x in v)


def phase1_problem(meta: dict[str, Any]) -> str | None:
    """``phase1.json`` beyond its keys: counts are C non-negative integers, recalls C numbers."""
    n = len(meta["classes"])
    for key in ("train_counts", "test_counts"):
        if not all(is_int(c) and c >= 0 for c in meta[key]):
            return f"{key} holds something other than counts"
    if meta["train_recall"] and not _numbers(meta["train_recall"], n):
        return f"train_recall is not a list of {n} numbers"
    for key in _SCORES:
        v = meta["metrics"].get(key)
        if v is not None and not is_number(v):
            return f"metrics.{key} is not a number"
    return None


def method_problem(name: str, m: Any) -> str | None:
    """One entry of ``methods.json``: an object with ``n_synthetic`` (int), ``seconds`` (number),
    ``per_class_recall`` (numbers) and headline scores that are numbers or null."""
    if not isinstance(m, dict) or not {"n_synthetic", "seconds", "per_class_recall"} <= set(m):
        return f"the entry of {name!r} lacks n_synthetic, seconds or recall"
    if not is_int(m["n_synthetic"]) or m["n_synthetic"] < 0:
        return f"n_synthetic of {name!r} is not a count"
    if not is_number(m["seconds"]):
        return f"seconds of {name!r} is not a number"
    if not _numbers(m["per_class_recall"]):
        return f"per_class_recall of {name!r} is not a list of numbers"
    for key in _SCORES:
        if m.get(key) is not None and not is_number(m[key]):
            return f"{key} of {name!r} is not a number"
    return None


def gap_problem(gap: dict[str, Any]) -> str | None:
    """``gap.json``: ``per_class`` a list of objects, the other known parts objects."""
    rows = gap.get("per_class", [])
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        return "per_class is not a list of objects"
    for key in ("size_gap_spearman", "size_gap_spearman_p", "null", "closure", "nn1_recall_change"):
        if key in gap and not isinstance(gap[key], dict):
            return f"{key} is not an object"
    return None


def history_problem(history: list[Any]) -> str | None:
    """``history.json``: one object per epoch."""
    return None if all(isinstance(r, dict) for r in history) else "an epoch row is not an object"


def _float_matrix(a: np.ndarray, name: str) -> str | None:
    if a.ndim != 2 or a.dtype.kind != "f":
        return f"{name} is not a 2-D float array"
    if not np.isfinite(a).all():
        return f"{name} holds NaN or infinite values"
    return None


def _labels(a: np.ndarray, name: str, n_classes: int) -> str | None:
    if a.ndim != 1 or a.dtype.kind not in "iu":
        return f"{name} is not a 1-D integer array"
    if len(a) and (a.min() < 0 or a.max() >= n_classes):
        return f"{name} holds labels outside 0..{n_classes - 1}"
    return None


def embeddings_problem(arr: dict[str, np.ndarray], n_classes: int) -> str | None:
    """``embeddings.npz``: train/test embeddings (N, D), (M, D) and logits (N, C), (M, C) finite
    floats, labels (N,), (M,) in ``0..C-1``, ``train_idx`` (N,) integers."""
    for split in ("train", "test"):
        emb, logits, y = arr[f"{split}_emb"], arr[f"{split}_logits"], arr[f"{split}_y"]
        p = (_float_matrix(emb, f"{split}_emb") or _float_matrix(logits, f"{split}_logits")
             or _labels(y, f"{split}_y", n_classes))
        if p:
            return p
        if not len(emb) == len(logits) == len(y):
            return f"{split}_emb, {split}_logits and {split}_y have {len(emb)}, {len(logits)} and {len(y)} rows"
        if logits.shape[1] != n_classes:
            return f"{split}_logits has {logits.shape[1]} columns for {n_classes} classes"
    if arr["train_emb"].shape[1] != arr["test_emb"].shape[1]:
        return f"train_emb has {arr['train_emb'].shape[1]} columns and test_emb {arr['test_emb'].shape[1]}"
    idx = arr["train_idx"]
    if idx.ndim != 1 or idx.dtype.kind not in "iu" or len(idx) != len(arr["train_emb"]):
        return "train_idx is not one integer per training row"
    return None


def synthetic_problem(arr: dict[str, np.ndarray]) -> str | None:
    """``synthetic_<m>.npz``: ``X_syn`` (S, D) finite floats, ``y_syn`` (S,) integers, provenance
    ``base``/``partner``/``r`` empty or (S,)."""
    x, y = arr["X_syn"], arr["y_syn"]
    if len(x) != len(y):
        return "X_syn and y_syn have different lengths"
    if len(x) and (p := _float_matrix(x, "X_syn")):
        return p
    if y.ndim != 1 or (len(y) and y.dtype.kind not in "iu"):
        return "y_syn is not a 1-D integer array"
    for key in ("base", "partner", "r"):
        if len(arr[key]) not in (0, len(x)) or arr[key].ndim != 1:
            return f"{key} does not give one value per synthetic point"
    return None
