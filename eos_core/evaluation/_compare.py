"""Paired comparison of methods over seeds: each method minus the control, with a t-interval.

Every re-trained head is compared with ``"crt"`` (a head re-trained with the same recipe and seed
on the real embeddings only) *within* one run — same phase 1, same head seed — so the difference
isolates what the oversampler adds. Over several seeds (one phase 1 each) the per-seed differences
are summarised by their mean and a Student-t confidence interval.

Pure functions over plain dicts (the ``methods.json`` shape: method id -> metrics dict), shared by
the CLI, the app and the benchmarks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigError
from ..names import CONTROL_METHOD, HEADLINE

__all__ = ["aggregate", "control_missed_classes", "delta_vs", "mean_interval", "paired_deltas"]

MethodMetrics = Mapping[str, Mapping[str, Any]]  # method id -> metrics dict of one run


def delta_vs(metrics: Mapping[str, Any], control: Mapping[str, Any],
             keys: Sequence[str] = HEADLINE) -> dict[str, float]:
    """``metrics[k] - control[k]`` for every headline key ``k`` (floats)."""
    return {k: float(metrics[k]) - float(control[k]) for k in keys}


def paired_deltas(per_seed: Sequence[MethodMetrics], *, control: str = CONTROL_METHOD,
                  keys: Sequence[str] = HEADLINE) -> dict[str, dict[str, list[float]]]:
    """Per method and metric, the list over seeds of (method − control) in the same run.

    Parameters
    ----------
    per_seed : sequence of mappings, one per seed
        ``{method: {metric: value, ...}}`` of one run (e.g. ``methods.json``).
    control : str, default "crt"
    keys : sequence of str, default :data:`eos_core.names.HEADLINE`

    Returns
    -------
    dict
        ``{method: {metric: [delta_seed0, delta_seed1, ...]}}`` for every method except the control
        that is present in every seed, in the first seed's order.

    Raises
    ------
    ConfigError
        A seed lacks the control, or no seed is given.
    """
    if not per_seed:
        raise ConfigError("No runs were given to compare.")
    for i, run in enumerate(per_seed):
        if control not in run:
            raise ConfigError(f"Run {i + 1} of {len(per_seed)} has no {control!r} head to compare with.")
    methods = [m for m in per_seed[0] if m != control and all(m in run for run in per_seed)]
    return {m: {k: [float(run[m][k]) - float(run[control][k]) for run in per_seed] for k in keys}
            for m in methods}


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> dict[str, Any]:
    """Mean and two-sided Student-t interval of the mean.

    Parameters
    ----------
    values : sequence of float, length n >= 1
    confidence : float, default 0.95

    Returns
    -------
    dict
        ``n``, ``mean``, ``sd`` (sample standard deviation, ddof=1), ``low``, ``high``
        (``mean ± t_{(1+confidence)/2, n-1} · sd / sqrt(n)``). With one value ``sd``, ``low`` and
        ``high`` are ``None``: one seed gives no interval.
    """
    from scipy import stats  # deferred: scipy loads in a second; the app imports this module at start-up

    vals = [float(v) for v in values]
    n = len(vals)
    if n == 0:
        raise ConfigError("An interval needs at least one value.")
    mean = math.fsum(vals) / n
    if n == 1:
        return {"n": 1, "mean": mean, "sd": None, "low": None, "high": None}
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / (n - 1))
    half = float(stats.t.ppf((1.0 + confidence) / 2.0, n - 1)) * sd / math.sqrt(n)
    return {"n": n, "mean": mean, "sd": sd, "low": mean - half, "high": mean + half}


def aggregate(per_seed: Sequence[MethodMetrics], *, control: str = CONTROL_METHOD,
              keys: Sequence[str] = HEADLINE, confidence: float = 0.95) -> dict[str, Any]:
    """Summarise several seeds' runs: each method's metrics and its paired difference from the control.

    Parameters
    ----------
    per_seed : sequence of ``{method: metrics}`` mappings, one per seed (one phase 1 each)
    control, keys, confidence : see :func:`paired_deltas` and :func:`mean_interval`

    Returns
    -------
    dict
        ``{"n_seeds": n, "control": control, "confidence": confidence,
        "methods": {method: {"metrics": {metric: interval}, "delta_vs_crt": {metric: interval} | None}}}``
        where each interval is :func:`mean_interval`'s dict; ``delta_vs_crt`` is ``None`` for the
        control itself. Methods are those present in every seed, in the first seed's order.
    """
    deltas = paired_deltas(per_seed, control=control, keys=keys)
    methods = [m for m in per_seed[0] if all(m in run for run in per_seed)]
    out: dict[str, Any] = {}
    for m in methods:
        out[m] = {
            "metrics": {k: mean_interval([run[m][k] for run in per_seed], confidence) for k in keys},
            "delta_vs_crt": (None if m == control else
                             {k: mean_interval(deltas[m][k], confidence) for k in keys}),
        }
    return {"n_seeds": len(per_seed), "control": control, "confidence": confidence, "methods": out}


def control_missed_classes(summary: dict[str, dict[str, Any]], *, control: str = CONTROL_METHOD) -> list[int]:
    """Classes the control's head never predicts right on the test set (recall exactly 0).

    Such a class makes the control's g-mean 0, so every method's Δ g-mean is its own g-mean: a page
    says so beside the table rather than let the difference read as an effect.
    """
    recall = (summary.get(control) or {}).get("per_class_recall") or []
    return [c for c, r in enumerate(recall) if r is not None and r == 0]
