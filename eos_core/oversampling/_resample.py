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

import numpy as np
from imblearn.over_sampling import ADASYN, SMOTE, BorderlineSMOTE, RandomOverSampler
from sklearn.utils import check_random_state

from ..errors import ConfigError
from ..names import METHODS
from ..neighbors._factory import make_nn_estimator
from ._checks import check_fit_X_y, check_sampling_strategy_param, check_strategy_fits
from ._eos import EOS, _all_finite, _check_k
from ._provenance import concat_provenance, copies_provenance, fit_resample_with_provenance

__all__ = ["EOS", "METHODS", "NO_SYNTHETIC", "make_sampler", "resample"]

# Methods that add no synthetic rows ("none" keeps the phase-1 head, "crt" re-trains one).
NO_SYNTHETIC = ("none", "crt")
# EOS variants: method id -> partner rule.
_EOS_RULES = {"eos": "enemy", "eos_published": "published"}

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
    raise ConfigError(f"Unknown over-sampling method {name!r}; choose one of {', '.join(METHODS)}.")


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
    if name not in METHODS:
        raise ConfigError(f"Unknown over-sampling method {name!r}; choose one of {', '.join(METHODS)}.")
    k = _check_k(k_neighbors)
    check_sampling_strategy_param(sampling_strategy)
    return _build(name, k, k, random_state, sampling_strategy)


def _empty(d: int):
    return np.empty((0, d), np.float32), np.empty(0, np.int64)


def resample(name, X, y, *, k_neighbors=10, random_state=None, sampling_strategy="auto"):
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
        Synthetic rows only.
    y_syn : ndarray of shape (S,), int64
        Their labels.
    provenance : dict or None
        ``base``, ``partner`` (int64 rows into ``X``) and ``r`` (float32), each (S,), for every method
        that makes rows (ROS: copies, ``partner == base`` and ``r == 0``); None for ``none``/``crt``.
    """
    if name not in METHODS:
        raise ConfigError(f"Unknown over-sampling method {name!r}; choose one of {', '.join(METHODS)}.")
    k = _check_k(k_neighbors)
    check_sampling_strategy_param(sampling_strategy)
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
    if not _all_finite(X):
        raise ConfigError("The embeddings to over-sample contain NaN or infinite values.")
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ConfigError(f"Over-sampling needs at least two classes, but y has {len(classes)}.")
    n, d = X.shape
    y = y.astype(np.int64, copy=False)

    if name in NO_SYNTHETIC:
        X_syn, y_syn = _empty(d)
        return X_syn, y_syn, None
    # Every sampler below would check this too, with imbalanced-learn's multi-sentence message.
    targets = check_strategy_fits(sampling_strategy, y, "over-sampling")
    if name == "ros":
        X_res, y_res, prov = fit_resample_with_provenance(_build("ros", k, k, random_state, sampling_strategy), X, y)
        # Copy so the returned rows do not keep the resampled originals alive.
        return X_res[n:].copy(), y_res[n:].astype(np.int64), prov
    if name in _EOS_RULES:
        if k >= n:
            warnings.warn(f"k_neighbors={k} reduced to {n - 1} for EOS: only {n} samples.", stacklevel=2)
            k = n - 1
        eos = _build(name, k, k, random_state, sampling_strategy)
        X_syn, y_syn = eos.fit_generate(X, y)
        prov = {key: v.copy() for key, v in eos.provenance_.items()}
        return X_syn, y_syn.astype(np.int64, copy=False), prov

    # SMOTE family: group the classes to fill by their usable k.
    size = dict(zip(classes.tolist(), counts.tolist(), strict=True))
    groups: dict[int, dict] = {}
    singletons = []
    for label, n_gen in targets.items():
        if n_gen <= 0:
            continue
        if size[label] == 1:
            singletons.append((label, n_gen))
        else:
            k_eff = min(k, size[label] - 1)
            groups.setdefault(k_eff, {})[label] = size[label] + n_gen
    m = min(k, n - 1)
    # The first call gets random_state as given, so the common single-group case reproduces
    # make_sampler(name, random_state=seed).fit_resample exactly; later calls (other k, ADASYN
    # retries) get seeds drawn from it in a fixed order -> deterministic for an int seed.
    rng = check_random_state(random_state)
    calls = [0]
    xs, ys, provs = [], [], []

    def run(k_eff, strategy):
        seed = random_state if calls[0] == 0 else rng.randint(np.iinfo(np.int32).max)
        calls[0] += 1
        sampler = _build(name, k_eff, m, seed, strategy)
        # imbalanced-learn's own generation, observed (not re-implemented) to record base/partner/r.
        X_res, y_res, prov = fit_resample_with_provenance(sampler, X, y)
        xs.append(X_res[n:])
        ys.append(y_res[n:])
        provs.append(prov)

    for k_eff in sorted(groups, reverse=True):
        strategy = groups[k_eff]
        if name != "adasyn":
            run(k_eff, strategy)
            continue
        try:
            run(k_eff, strategy)
        except ConfigError:
            raise
        except (RuntimeError, ValueError):
            # Find the classes ADASYN cannot handle by running them one at a time.
            for label, target in strategy.items():
                try:
                    run(k_eff, {label: target})
                except ConfigError:
                    raise
                except (RuntimeError, ValueError) as err:
                    warnings.warn(
                        f"ADASYN generated no samples for class {label}: {err}", stacklevel=2
                    )
    if singletons:
        warnings.warn(
            f"{name}: class(es) {', '.join(str(c) for c, _ in singletons)} have a single sample, "
            "which cannot be interpolated; they are filled with copies (random over-sampling).",
            stacklevel=2,
        )
        for label, n_gen in singletons:
            row = int(np.flatnonzero(y == label)[0])
            xs.append(np.repeat(X[row : row + 1], n_gen, axis=0))
            ys.append(np.full(n_gen, label, dtype=np.int64))
            provs.append(copies_provenance(row, n_gen))
    if not xs:
        X_syn, y_syn = _empty(d)
        return X_syn, y_syn, concat_provenance([])
    X_syn = np.concatenate(xs).astype(np.float32, copy=False)
    y_syn = np.concatenate(ys).astype(np.int64, copy=False)
    return X_syn, y_syn, concat_provenance(provs)
