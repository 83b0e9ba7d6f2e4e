"""The arguments of a sampler's ``fit_resample``, checked with one :class:`ConfigError` sentence each.

scikit-learn and imbalanced-learn check the same things, but their messages can span many lines (a
1-D ``X`` prints the whole array), name internals ("an instance of 'collections.abc.Mapping'"), or
are not ``EOSError``s at all. The public methods of :class:`~eos_core.oversampling.EOS` and
:func:`~eos_core.oversampling.resample` run these checks first, so a user reads one sentence.
``ConfigError`` is also a ``ValueError``, so scikit-learn's estimator contract (bad input raises
``ValueError``) still holds.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp
from imblearn.utils import check_sampling_strategy, check_target_type
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.multiclass import type_of_target

from ..errors import ConfigError

__all__ = ["OVER_SAMPLING_STRATEGIES", "all_finite", "check_fit_X_y", "check_k", "check_sampling_strategy_param",
           "check_strategy_fits", "first_sentence", "lower_first", "validate_params"]

# The string strategies imbalanced-learn accepts for an over-sampler ("majority" is under-sampling only).
OVER_SAMPLING_STRATEGIES = ("auto", "all", "minority", "not minority", "not majority")

_PARAM_ERROR = re.compile(r"The '(?P<name>\w+)' parameter of \w+ must be (?P<spec>.*)\. Got (?P<got>.*) instead\.")
_ONE_LABEL_PER_ROW = ("{who} supports one label per sample (binary, multiclass or one-hot encoded), not multilabel "
                      "or multioutput targets.")


def first_sentence(text: str) -> str:
    """The first sentence of a library message, ending in a full stop (its first line, cut at ". ")."""
    line = (str(text).strip().splitlines() or [""])[0]
    line = line.split(". ", 1)[0].rstrip(" .:;,")
    return f"{line}." if line else "Invalid input."


def lower_first(text: str) -> str:
    """Lower-case a message's first letter so it can continue a sentence (not an acronym like "X")."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_k(k: Any, what: str = "k_neighbors") -> int:
    """``k`` as an int; :class:`ConfigError` unless it is an integer of at least 1 (``True`` is not 1)."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ConfigError(f"{what} must be an integer of at least 1, got {k!r}.")
    return int(k)


def all_finite(X: np.ndarray) -> bool:
    """Whether every value of the float array ``X`` (any shape) is finite."""
    # One pass without a temporary; the element-wise test only runs when the sum is not finite.
    return bool(np.isfinite(X.sum(dtype=np.float64)) or np.isfinite(X).all())


def check_sampling_strategy_param(strategy: Any) -> None:
    """Raise :class:`ConfigError` unless ``strategy`` is a valid over-sampling ``sampling_strategy``.

    Only the type and range are checked here; whether a dict's classes exist is a property of the
    labels (:func:`check_strategy_fits`).
    """
    if callable(strategy) or isinstance(strategy, Mapping):
        return
    if isinstance(strategy, str) and strategy in OVER_SAMPLING_STRATEGIES:
        return
    if isinstance(strategy, numbers.Real) and not isinstance(strategy, bool) and 0 < strategy <= 1:
        return
    names = ", ".join(repr(s) for s in OVER_SAMPLING_STRATEGIES)
    raise ConfigError(f"sampling_strategy must be one of {names}, a float in (0, 1], a dict {{class: count}} "
                      f"or a callable, got {_short(strategy)}.")


def validate_params(estimator: Any) -> None:
    """``estimator._validate_params()`` with scikit-learn's ``InvalidParameterError`` as one sentence.

    Parameters
    ----------
    estimator : scikit-learn estimator with ``_parameter_constraints``
    """
    check_sampling_strategy_param(estimator.sampling_strategy)
    try:
        estimator._validate_params()
    except InvalidParameterError as err:
        m = _PARAM_ERROR.match(str(err))
        text = f"{m['name']} must be {m['spec']}, got {m['got']}." if m else first_sentence(str(err))
        raise ConfigError(text) from None


def _example_non_integer(y: Any) -> str:
    values = np.asarray(y, dtype=np.float64).ravel()
    odd = values[values != np.round(values)]
    return f"{odd[0]:g}" if len(odd) else f"{values[0]:g}"


def check_fit_X_y(X: Any, y: Any, who: str = "EOS") -> None:
    """Raise one :class:`ConfigError` sentence unless ``X`` and ``y`` can be resampled.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Must be 2-D with at least one row and one column (dtype and finiteness are checked later,
        by the sampler).
    y : array-like of shape (n_samples,), (n_samples, 1) or one-hot (n_samples, n_classes)
        Class labels: integers or strings, one per row of ``X``.
    who : str
        The sampler's name, for the message.
    """
    dtypes = getattr(X, "dtypes", None)  # a pandas DataFrame with sparse columns is sparse too
    if sp.issparse(X) or (hasattr(dtypes, "__iter__") and any(str(t).startswith("Sparse") for t in dtypes)):
        raise ConfigError(f"{who} needs a dense X; convert a sparse matrix with X.toarray().")
    try:
        shape = tuple(np.shape(X))
    except ValueError:  # a ragged list of lists
        raise ConfigError(f"{who} needs X as a 2-D array (n_samples, n_features), but its rows differ in length.") \
            from None
    if len(shape) != 2:
        hint = "; a single feature is X.reshape(-1, 1)" if len(shape) == 1 else ""
        raise ConfigError(f"{who} needs X as a 2-D array (n_samples, n_features), got shape {shape}{hint}.")
    if shape[0] == 0 or shape[1] == 0:
        raise ConfigError(f"{who} needs at least one sample and one feature, got X of shape {shape}.")
    if y is None:
        raise ConfigError(f"{who} needs the class labels y, got None.")
    try:
        y_shape = tuple(np.shape(y))
        kind = type_of_target(y, input_name="y")
    except ValueError:
        raise ConfigError(f"{who} needs y as an array of class labels (integers or strings).") from None
    if len(y_shape) == 0 or len(y_shape) > 2:
        raise ConfigError(f"{who} needs y as a 1-D array of class labels, got shape {y_shape}.")
    if y_shape[0] != shape[0]:
        raise ConfigError(f"X has {shape[0]} rows but y has {y_shape[0]} labels; give one label per row.")
    if kind.startswith("continuous"):
        raise ConfigError(f"{who} needs class labels, but y holds continuous values such as "
                          f"{_example_non_integer(y)}; pass integer or string class ids.")
    if kind == "unknown":
        raise ConfigError(f"{who} needs y as an array of class labels (integers or strings).")
    if kind == "multiclass-multioutput":
        raise ConfigError(_ONE_LABEL_PER_ROW.format(who=who))
    try:
        check_target_type(np.asarray(y) if kind == "multilabel-indicator" else y)
    except ValueError:  # a multilabel indicator (a row with several ones)
        raise ConfigError(_ONE_LABEL_PER_ROW.format(who=who)) from None


def check_strategy_fits(strategy: Any, y: np.ndarray, sampling_type: str = "over-sampling") -> dict:
    """imbalanced-learn's ``check_sampling_strategy``, with its ``ValueError`` as one sentence.

    Parameters
    ----------
    strategy : float, str, dict or callable
    y : ndarray of shape (n_samples,)
        Validated 1-D labels.
    sampling_type : str

    Returns
    -------
    dict
        Class label -> number of samples to generate.
    """
    try:
        return check_sampling_strategy(strategy, y, sampling_type)
    except ValueError as err:
        parts = " ".join(str(err).split()).rstrip(".").replace('"', "").split(". ")
        reason = "; ".join(lower_first(part) for part in parts)
        raise ConfigError(f"sampling_strategy={_short(strategy)} does not fit these labels ({reason}).") from None
