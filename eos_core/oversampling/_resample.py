"""Phase 2: over-sampling in embedding space, one entry point per compared method.

* :func:`make_sampler` — every method compared by the app (ids in :data:`eos_core.names.METHODS`),
  as imbalanced-learn samplers whose neighbour searches come from
  :func:`~eos_core.neighbors.make_nn_estimator` (faiss, or torch on a GPU without faiss-gpu); EOS
  itself lives in :mod:`eos_core.oversampling._eos`.
* :func:`resample` — what the pipeline calls: only the synthetic rows, with the small-class cases
  imbalanced-learn cannot handle made safe.

``"none"`` (the phase-1 head) and ``"crt"`` (a re-trained head on the real embeddings only, the
control) add no synthetic rows. ``"eos"`` is EOS as the paper describes it; ``"eos_published"``
is EOS with the partner choice of the public reference code (see :mod:`eos_core.oversampling._eos`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from imblearn.over_sampling import ADASYN, SMOTE, BorderlineSMOTE, RandomOverSampler
from sklearn.utils import check_random_state

from ..errors import ConfigError
from ..names import METHODS
from ..neighbors._factory import make_nn_estimator
from ._checks import all_finite, check_fit_X_y, check_k, check_sampling_strategy_param, check_strategy_fits
from ._eos import EOS
from ._provenance import concat_provenance, copies_provenance, fit_resample_with_provenance

__all__ = ["EOS", "METHODS", "NO_SYNTHETIC", "make_sampler", "resample"]

# Methods that add no synthetic rows ("none" keeps the phase-1 head, "crt" re-trains one).
NO_SYNTHETIC = ("none", "crt")
# EOS variants: method id -> partner rule.
_EOS_RULES = {"eos": "enemy", "eos_published": "published"}

# What each path returns: rows X (S, D) float32, their labels y (S,) int64, their provenance (or None).
_Synthetic = tuple[np.ndarray, np.ndarray, dict[str, np.ndarray] | None]


# ------------------------------------------------------------------------------------------------
# The methods the app compares
# ------------------------------------------------------------------------------------------------
def _build(name: str, k: int, m: int, random_state, sampling_strategy):
    if name in NO_SYNTHETIC:
        return None
    if name == "ros":
        return RandomOverSampler(sampling_strategy=sampling_strategy, random_state=random_state)
    if name in _EOS_RULES:
        return EOS(sampling_strategy=sampling_strategy, random_state=random_state, k_neighbors=k,
                   partner_rule=_EOS_RULES[name])
    # imbalanced-learn queries these with the point itself included, hence k + 1 (the same
    # "additional_neighbor" it adds when given an int).
    nn_k = make_nn_estimator(k + 1)
    if name == "smote":
        return SMOTE(sampling_strategy=sampling_strategy, random_state=random_state, k_neighbors=nn_k)
    if name == "bsmote":
        return BorderlineSMOTE(
            sampling_strategy=sampling_strategy, random_state=random_state, k_neighbors=nn_k,
            m_neighbors=make_nn_estimator(m + 1), kind="borderline-1",
        )
    if name == "adasyn":
        return ADASYN(sampling_strategy=sampling_strategy, random_state=random_state, n_neighbors=nn_k)
    raise _unknown_method(name)


def _unknown_method(name: str) -> ConfigError:
    return ConfigError(f"Unknown over-sampling method {name!r}; choose one of {', '.join(METHODS)}.")


def _check_params(name: str, k_neighbors: Any, sampling_strategy: Any) -> int:
    """The method id, k and ``sampling_strategy``, each refused with one ConfigError sentence; k as an int."""
    if name not in METHODS:
        raise _unknown_method(name)
    k = check_k(k_neighbors)
    check_sampling_strategy_param(sampling_strategy)
    return k


def make_sampler(name, *, k_neighbors=10, random_state=None, sampling_strategy="auto"):
    """Build the sampler of one compared method.

    Parameters
    ----------
    name : {"none", "crt", "ros", "smote", "bsmote", "adasyn", "eos", "eos_published"}
        Method. ``"bsmote"`` is Borderline-SMOTE-1 with ``m_neighbors = k_neighbors`` (one k for
        every method; with the default 10 that is imbalanced-learn's own default m).
    k_neighbors : int, default=10
        Neighbourhood size (ignored by ``"ros"``).
    random_state : int, RandomState instance or None
        Seed.
    sampling_strategy : float, str, dict or callable, default="auto"
        imbalanced-learn's sampling strategy.

    Returns
    -------
    sampler : imbalanced-learn sampler or None
        ``None`` for ``"none"`` and ``"crt"``; otherwise ``RandomOverSampler``, ``SMOTE``,
        ``BorderlineSMOTE``, ``ADASYN`` (neighbour searches from :func:`make_nn_estimator`) or
        :class:`EOS` (``partner_rule="published"`` for ``"eos_published"``).
        SMOTE-family samplers need ``k_neighbors < `` the smallest filled class size; use
        :func:`resample` to have that handled.
    """
    k = _check_params(name, k_neighbors, sampling_strategy)
    return _build(name, k, k, random_state, sampling_strategy)


def resample(name, X, y, *, k_neighbors=10, random_state=None, sampling_strategy="auto") -> _Synthetic:
    """Over-sample with one method and return only the synthetic rows.

    Small classes are made safe instead of failing:

    * SMOTE, Borderline-SMOTE and ADASYN interpolate within the class, so they need
      ``k < class size``: each class uses ``k_eff = min(k, n_class - 1)`` (classes sharing a
      ``k_eff`` are resampled in one call). A class with a single sample has nothing to interpolate
      with; it is filled by random over-sampling (copies of that sample), with a warning, so the
      class counts still match the target.
    * ADASYN raises when a class has no other-class neighbour ("not any neighbours belong to the
      majority") or rounds its quota to zero; such a class gets zero synthetic rows, with a warning.
    * Borderline-SMOTE generates nothing for a class without "danger" samples (imbalanced-learn's
      behaviour, kept).
    * EOS and the ``m`` neighbourhood of Borderline-SMOTE search the whole set; their k is clamped
      to ``n_samples - 1`` (with a warning for EOS).

    Parameters
    ----------
    name : str
        One of :data:`METHODS`.
    X : array-like of shape (N, D)
        Embeddings.
    y : array-like of shape (N,)
        Integer class labels.
    k_neighbors : int, default=10
    random_state : int, RandomState instance or None
        An int makes the result deterministic.
    sampling_strategy : float, str, dict or callable, default="auto"

    Returns
    -------
    X_syn : ndarray of shape (S, D), float32
        _Synthetic rows only.
    y_syn : ndarray of shape (S,), int64
        Their labels.
    provenance : dict or None
        ``base``, ``partner`` (int64 rows into ``X``) and ``r`` (float32), each (S,), for every method
        that makes rows (ROS: copies, ``partner == base`` and ``r == 0``); None for ``none``/``crt``.
    """
    k = _check_params(name, k_neighbors, sampling_strategy)
    X, y = _embeddings_and_labels(X, y)
    if name in NO_SYNTHETIC:
        return _no_synthetic(X.shape[1])
    # Every sampler below would check this too, with imbalanced-learn's multi-sentence message.
    targets = check_strategy_fits(sampling_strategy, y, "over-sampling")
    if name == "ros":
        return _random_copies(X, y, random_state, sampling_strategy)
    if name in _EOS_RULES:
        synthetic, notes = _eos(name, X, y, k, random_state, sampling_strategy)
    else:
        synthetic, notes = _smote_family(name, X, y, targets, k, random_state)
    for note in notes:  # warned here, so that they point at resample's caller
        warnings.warn(note, stacklevel=2)
    return synthetic


def _embeddings_and_labels(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """``X`` as C-contiguous float32 (N, D) and ``y`` as int64 (N,), or one ConfigError sentence on what is wrong."""
    check_fit_X_y(X, y, "Over-sampling")
    try:
        X = np.ascontiguousarray(X, dtype=np.float32)
    except (TypeError, ValueError):
        raise ConfigError("The embeddings to over-sample must be numbers.") from None
    y = np.asarray(y)
    if y.ndim != 1:
        raise ConfigError(f"Over-sampling needs y as a 1-D array of class labels, got shape {y.shape}.")
    if y.dtype.kind not in "iub":
        raise ConfigError(f"Class labels must be integers, got dtype {y.dtype}.")
    if not all_finite(X):
        raise ConfigError("The embeddings to over-sample contain NaN or infinite values.")
    n_classes = len(np.unique(y))
    if n_classes < 2:
        raise ConfigError(f"Over-sampling needs at least two classes, but y has {n_classes}.")
    return X, y.astype(np.int64, copy=False)


def _empty(d: int) -> tuple[np.ndarray, np.ndarray]:
    return np.empty((0, d), np.float32), np.empty(0, np.int64)


# ------------------------------------------------------------------------------------------------
# One function per kind of method
# ------------------------------------------------------------------------------------------------
def _no_synthetic(d: int) -> _Synthetic:
    """``none`` and ``crt``: no rows, no provenance."""
    X_syn, y_syn = _empty(d)
    return X_syn, y_syn, None


def _random_copies(X: np.ndarray, y: np.ndarray, random_state, sampling_strategy) -> _Synthetic:
    """``ros``: random over-sampling; the provenance of a copy has ``partner == base`` and ``r == 0``."""
    sampler = _build("ros", 1, 1, random_state, sampling_strategy)  # k is not used by ROS
    X_res, y_res, prov = fit_resample_with_provenance(sampler, X, y)
    n = len(X)
    # Copy so the returned rows do not keep the resampled originals alive.
    return X_res[n:].copy(), y_res[n:].astype(np.int64), prov


def _eos(name: str, X: np.ndarray, y: np.ndarray, k: int, random_state,
         sampling_strategy) -> tuple[_Synthetic, list[str]]:
    """``eos`` / ``eos_published`` over the whole set, k clamped to N - 1; the rows and the warnings to give."""
    n = len(X)
    notes = []
    if k >= n:
        notes.append(f"k_neighbors={k} reduced to {n - 1} for EOS: only {n} samples.")
        k = n - 1
    eos = _build(name, k, k, random_state, sampling_strategy)
    X_syn, y_syn = eos.fit_generate(X, y)
    prov = {key: v.copy() for key, v in eos.provenance_.items()}
    return (X_syn, y_syn.astype(np.int64, copy=False), prov), notes


def _smote_family(name: str, X: np.ndarray, y: np.ndarray, targets: dict[int, int], k: int,
                  random_state) -> tuple[_Synthetic, list[str]]:
    """SMOTE, Borderline-SMOTE or ADASYN with every class's k made safe (see :func:`resample`).

    Parameters
    ----------
    targets : dict
        Class label -> number of rows to generate (``check_strategy_fits``).

    Returns
    -------
    synthetic : (X_syn (S, D), y_syn (S,), provenance)
        The groups' rows by decreasing k, then the copies of single-sample classes.
    notes : list of str
        The warnings to give: classes ADASYN refused, single-sample classes filled with copies.
    """
    groups, singletons = _group_by_k(targets, _class_sizes(y), k)
    fill = _group_filler(name, X, y, m=min(k, len(X) - 1), random_state=random_state)
    parts: list[_Synthetic] = []
    notes: list[str] = []
    for k_eff in sorted(groups, reverse=True):
        if name == "adasyn":
            got, refused = _adasyn_group(fill, k_eff, groups[k_eff])
            parts += got
            notes += refused
        else:
            parts.append(fill(k_eff, groups[k_eff]))
    if singletons:
        notes.append(
            f"{name}: class(es) {', '.join(str(c) for c, _ in singletons)} have a single sample, "
            "which cannot be interpolated; they are filled with copies (random over-sampling)."
        )
        parts += [_copies(X, y, label, n_gen) for label, n_gen in singletons]
    return _concatenate(parts, X.shape[1]), notes


# ------------------------------------------------------------------------------------------------
# The SMOTE family's steps
# ------------------------------------------------------------------------------------------------
def _class_sizes(y: np.ndarray) -> dict[int, int]:
    classes, counts = np.unique(y, return_counts=True)
    return dict(zip(classes.tolist(), counts.tolist(), strict=True))


def _group_by_k(targets: dict[int, int], size: dict[int, int],
                k: int) -> tuple[dict[int, dict[int, int]], list[tuple[int, int]]]:
    """The classes to fill, grouped by their usable k.

    Returns
    -------
    groups : dict
        ``k_eff = min(k, n_class - 1)`` -> {class label: target class size} for classes of 2+ samples.
    singletons : list of (label, n_gen)
        Classes of one sample (nothing to interpolate with) and how many rows each needs.
    """
    groups: dict[int, dict[int, int]] = {}
    singletons: list[tuple[int, int]] = []
    for label, n_gen in targets.items():
        if n_gen <= 0:
            continue
        if size[label] == 1:
            singletons.append((label, n_gen))
        else:
            groups.setdefault(min(k, size[label] - 1), {})[label] = size[label] + n_gen
    return groups, singletons


def _seeds(random_state) -> Iterator[Any]:
    """The seed of each sampler call: ``random_state`` as given, then seeds drawn from it in order.

    The first call reproduces ``make_sampler(name, random_state=seed).fit_resample`` exactly in the
    common single-group case; the draws keep later calls (other k, ADASYN retries) deterministic for
    an int seed.
    """
    rng = check_random_state(random_state)
    yield random_state
    while True:
        yield rng.randint(np.iinfo(np.int32).max)


def _group_filler(name: str, X: np.ndarray, y: np.ndarray, *, m: int,
                  random_state) -> Callable[[int, dict[int, int]], _Synthetic]:
    """``fill(k_eff, strategy)``: one sampler call filling the classes of ``strategy`` (label -> target
    size) with ``k_eff`` neighbours; each call takes the next of :func:`_seeds`."""
    seeds = _seeds(random_state)
    n = len(X)

    def fill(k_eff: int, strategy: dict[int, int]) -> _Synthetic:
        sampler = _build(name, k_eff, m, next(seeds), strategy)
        # imbalanced-learn's own generation, observed (not re-implemented) to record base/partner/r.
        X_res, y_res, prov = fit_resample_with_provenance(sampler, X, y)
        return X_res[n:], y_res[n:], prov

    return fill


def _adasyn_group(fill: Callable[[int, dict[int, int]], _Synthetic], k_eff: int,
                  strategy: dict[int, int]) -> tuple[list[_Synthetic], list[str]]:
    """ADASYN for one k group; when it refuses, the classes one at a time, skipping those it refuses.

    Returns the rows made and one note per class skipped.
    """
    rows, refusal = _adasyn_call(fill, k_eff, strategy)
    if refusal is None:
        return [rows], []
    made: list[_Synthetic] = []
    notes: list[str] = []
    for label, target in strategy.items():
        rows, refusal = _adasyn_call(fill, k_eff, {label: target})
        if refusal is None:
            made.append(rows)
        else:
            notes.append(f"ADASYN generated no samples for class {label}: {refusal}")
    return made, notes


def _adasyn_call(fill: Callable[[int, dict[int, int]], _Synthetic], k_eff: int,
                 strategy: dict[int, int]) -> tuple[_Synthetic | None, Exception | None]:
    """``fill(k_eff, strategy)``, with ADASYN's refusal returned instead of raised.

    ADASYN raises a ``RuntimeError`` or ``ValueError`` when a class has no other-class neighbour or
    rounds its quota to zero; a :class:`ConfigError` (also a ``ValueError``) is the caller's mistake
    and still raises.
    """
    try:
        return fill(k_eff, strategy), None
    except (RuntimeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        return None, err


def _copies(X: np.ndarray, y: np.ndarray, label: int, n_gen: int) -> _Synthetic:
    """``n_gen`` copies of the single sample of class ``label``."""
    row = int(np.flatnonzero(y == label)[0])
    rows = np.repeat(X[row : row + 1], n_gen, axis=0)
    return rows, np.full(n_gen, label, dtype=np.int64), copies_provenance(row, n_gen)


def _concatenate(parts: list[_Synthetic], d: int) -> _Synthetic:
    """The parts' rows, labels and provenance, joined in order (empty (0, d) rows when there are none)."""
    if not parts:
        X_syn, y_syn = _empty(d)
        return X_syn, y_syn, concat_provenance([])
    X_syn = np.concatenate([X_part for X_part, _, _ in parts]).astype(np.float32, copy=False)
    y_syn = np.concatenate([y_part for _, y_part, _ in parts]).astype(np.int64, copy=False)
    return X_syn, y_syn, concat_provenance([prov for _, _, prov in parts])
