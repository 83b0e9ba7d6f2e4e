"""A verdict for every run: does the gap widen for smaller classes here, and does EOS beat the others?

Two claims of the EOS paper (Dablain et al. 2022, arXiv 2207.06080), read from a run's stored
numbers and nothing else:

* **gap** -- "the smaller the class, the wider the generalization gap in embedding space". Read from
  ``gap.json``'s Spearman rho between training size and each gap measure and its one-sided
  permutation p-value (:mod:`eos_core.gap._null`): the claim holds for a measure when rho < 0 with
  p < :data:`ALPHA`.
* **oversampling** -- EOS's balanced accuracy minus that of the best *other* oversampler (ROS,
  SMOTE, Borderline-SMOTE or ADASYN, the one with the highest mean balanced accuracy over the
  seeds), paired by seed (same phase 1, same head seed; :func:`eos_core.evaluation.paired_deltas`).
  With at least :data:`MIN_SEEDS` seeds the call comes only from the 95 % Student-t interval of
  the mean difference (:func:`eos_core.evaluation.mean_interval`); with fewer there is no call yet.

Both are readings on the test set: nothing is chosen from them. Choosing the best other
oversampler on the test set favours it, so "EOS ahead" is a conservative reading.

Pure functions over ``gap.json``- and ``methods.json``-shaped dicts, shared by the CLI and the app;
every number a sentence prints is a value of the returned dict, at the precision of :func:`fmt_signed`,
:func:`fmt_rho`, :func:`fmt_p` and :func:`fmt_ratio`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..names import GAP_MEASURES, GAP_NAMES, method_name
from ._compare import mean_interval, paired_deltas

__all__ = ["ALPHA", "CALLS", "MIN_SEEDS", "OTHER_OVERSAMPLERS", "gap_verdict", "oversampling_verdict", "verdict"]

ALPHA = 0.05               # significance level of the size-gap permutation test
MIN_SEEDS = 3              # seeds (phase-1 runs) before an interval is trusted for a call
EOS_METHOD = "eos"
OTHER_OVERSAMPLERS: tuple[str, ...] = ("ros", "smote", "bsmote", "adasyn")
METRIC = "balanced_accuracy"
WIDEST_MEASURE = "nn_ratio"  # the measure whose largest per-class value the sentences quote
CALLS: tuple[str, ...] = ("EOS ahead", "EOS behind", "no clear difference", "not yet a verdict", "no comparison")
GAP_STATUSES: tuple[str, ...] = ("holds", "partly", "no evidence", "not measurable")


# --------------------------------------------------------------------------------------------
# number formats: the sentences print numbers only through these (the tests parse them back)
# --------------------------------------------------------------------------------------------
def _minus(text: str) -> str:
    return text.replace("-", "−")


def fmt_signed(v: float) -> str:
    """A difference in balanced accuracy: ``+0.034`` / ``−0.052`` (3 decimals)."""
    return _minus(f"{v:+.3f}")


def fmt_rho(v: float) -> str:
    """Spearman's rho, 2 decimals."""
    return _minus(f"{v:.2f}")


def fmt_p(v: float) -> str:
    """A p-value, 3 decimals."""
    return f"{v:.3f}"


def fmt_ratio(v: float) -> str:
    """A gap measure's value, 2 decimals."""
    return _minus(f"{v:.2f}")


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


# --------------------------------------------------------------------------------------------
# the gap
# --------------------------------------------------------------------------------------------
def _widest(gap: Mapping[str, Any], classes: Sequence[str] | None) -> dict[str, Any] | None:
    """The class with the largest :data:`WIDEST_MEASURE` value: ``{measure, value, class, name, train_count}``."""
    rows = [(r, _finite(r.get(WIDEST_MEASURE))) for r in gap.get("per_class") or []]
    rows = [(r, v) for r, v in rows if v is not None]
    if not rows:
        return None
    row, value = max(rows, key=lambda rv: rv[1])
    c = int(row.get("class", 0))
    name = str(classes[c]) if classes is not None and 0 <= c < len(classes) else f"class {c}"
    return {"measure": WIDEST_MEASURE, "value": value, "class": c, "name": name,
            "train_count": int(row.get("train_count", 0))}


def _measure_text(m: str, r: Mapping[str, Any]) -> str:
    return f"{GAP_NAMES[m]} Spearman {fmt_rho(r['rho'])}, p = {fmt_p(r['p'])}"


def gap_verdict(gap: Mapping[str, Any] | None, classes: Sequence[str] | None = None) -> dict[str, Any]:
    """Whether "the smaller the class, the wider the gap" holds in one run's ``gap.json``.

    Parameters
    ----------
    gap : mapping or None
        ``gap.json`` (``GapReport.to_dict()``): ``size_gap_spearman``, ``size_gap_spearman_p``,
        ``per_class`` rows.
    classes : sequence of str, optional
        Class names by id (``phase1.json``'s ``classes``), for the sentence.

    Returns
    -------
    dict
        ``measures``: ``{m: {"rho", "p", "holds"}}`` for each of :data:`GAP_MEASURES` (``None``
        where not measured); ``tested``, ``holding``: how many measures have a p-value and how many
        of them show rho < 0 with p < :data:`ALPHA`; ``status``: one of :data:`GAP_STATUSES`
        ("holds": every tested measure, "partly": some, "no evidence": none, "not measurable":
        no p-value); ``widest``: the class with the largest nearest-neighbour ratio (or None);
        ``alpha``; ``sentence``.
    """
    gap = gap or {}
    rho, rho_p = gap.get("size_gap_spearman") or {}, gap.get("size_gap_spearman_p") or {}
    measures: dict[str, dict[str, Any]] = {}
    for m in GAP_MEASURES:
        r, p = _finite(rho.get(m)), _finite(rho_p.get(m))
        measures[m] = {"rho": r, "p": p, "holds": bool(r is not None and p is not None and r < 0 and p < ALPHA)}
    tested = [m for m, v in measures.items() if v["rho"] is not None and v["p"] is not None]
    holding = [m for m in tested if measures[m]["holds"]]
    status = ("not measurable" if not tested else "holds" if len(holding) == len(tested)
              else "partly" if holding else "no evidence")
    out = {"measures": measures, "tested": len(tested), "holding": len(holding), "status": status,
           "widest": _widest(gap, classes), "alpha": ALPHA}
    out["sentence"] = _gap_sentence(out, tested)
    return out


def _widest_text(w: dict[str, Any] | None) -> str:
    if w is None:
        return ""
    return (f"; the widest {GAP_NAMES[w['measure']]} is {fmt_ratio(w['value'])}, for “{w['name']}” "
            f"({w['train_count']} training images)")


def _gap_sentence(v: dict[str, Any], tested: list[str]) -> str:
    detail = "; ".join(_measure_text(m, v["measures"][m]) for m in tested)
    if v["status"] == "not measurable":
        return ("The size–gap correlation could not be measured here (fewer than 3 classes with a gap value, "
                "or every class the same size), so there is no reading on whether smaller classes have wider gaps"
                + _widest_text(v["widest"]) + ".")
    if v["status"] == "holds":
        head = (f"The smaller the class, the wider the gap: this holds here for "
                f"{'the' if v['tested'] == 1 else 'all'} {v['tested']} measure{'s' if v['tested'] > 1 else ''} "
                f"with a test ({detail})")
    elif v["status"] == "partly":
        head = (f"The smaller the class, the wider the gap: this holds here for only {v['holding']} of "
                f"{v['tested']} measures ({detail}), so the evidence is mixed")
    else:
        head = (f"No evidence here that the smaller the class, the wider the gap: no measure has a negative "
                f"size–gap Spearman ρ with permutation p < {ALPHA:g} ({detail})")
    return head + _widest_text(v["widest"]) + ". A reading on the test set's embeddings."


def gap_clause(v: Mapping[str, Any]) -> str:
    """The gap verdict as the opening clause of the oversampling sentence (no final stop)."""
    w = v.get("widest")
    up_to = f" ({GAP_NAMES[w['measure']]} up to {fmt_ratio(w['value'])}, for “{w['name']}”)" if w else ""
    return {
        "holds": f"The gap widens for smaller classes here{up_to}",
        "partly": f"The gap widens for smaller classes by only {v['holding']} of {v['tested']} measures here{up_to}",
        "no evidence": f"There is no evidence here that smaller classes have wider gaps{up_to}",
        "not measurable": "The size–gap relation could not be measured here",
    }[v["status"]]


# --------------------------------------------------------------------------------------------
# the oversamplers
# --------------------------------------------------------------------------------------------
def _means(per_seed: Sequence[Mapping[str, Mapping[str, Any]]], methods: Sequence[str]) -> dict[str, float]:
    return {m: math.fsum(float(run[m][METRIC]) for run in per_seed) / len(per_seed) for m in methods}


def oversampling_verdict(per_seed: Sequence[Mapping[str, Mapping[str, Any]]],
                         gap: Mapping[str, Any] | None = None, confidence: float = 0.95) -> dict[str, Any]:
    """EOS minus the best other oversampler, paired by seed.

    Parameters
    ----------
    per_seed : sequence of ``{method: metrics}``, one per seed (``methods.json``, one run per seed)
    gap : mapping, optional
        :func:`gap_verdict`'s dict; its clause opens the sentence.
    confidence : float, default 0.95

    Returns
    -------
    dict
        ``best_other`` (method id or None), ``delta`` (mean over seeds of EOS − best other in
        balanced accuracy, or None), ``interval`` (``[low, high]``, the t-interval of that mean,
        None with fewer than 2 seeds), ``seeds`` (paired runs), ``call`` (one of :data:`CALLS`),
        ``means`` (mean balanced accuracy of EOS and every other oversampler present),
        ``per_seed`` (the paired differences), ``metric``, ``confidence``, ``sentence``.
    """
    runs = [r for r in per_seed if r]
    out: dict[str, Any] = {"best_other": None, "delta": None, "interval": None, "seeds": len(runs),
                           "call": "no comparison", "means": {}, "per_seed": [], "metric": METRIC,
                           "confidence": confidence}
    has_eos = bool(runs) and all(EOS_METHOD in r for r in runs)
    others = [m for m in OTHER_OVERSAMPLERS if runs and all(m in r for r in runs)]
    if has_eos and others:
        means = _means(runs, [EOS_METHOD, *others])
        best = max(others, key=lambda m: means[m])  # ties: the first in OTHER_OVERSAMPLERS order
        deltas = paired_deltas(runs, control=best, keys=(METRIC,))[EOS_METHOD][METRIC]
        iv = mean_interval(deltas, confidence)
        out.update(best_other=best, delta=iv["mean"], means=means, per_seed=deltas,
                   interval=None if iv["low"] is None else [iv["low"], iv["high"]])
        if len(runs) < MIN_SEEDS:
            out["call"] = "not yet a verdict"
        elif iv["low"] > 0:
            out["call"] = "EOS ahead"
        elif iv["high"] < 0:
            out["call"] = "EOS behind"
        else:
            out["call"] = "no clear difference"
    out["sentence"] = _oversampling_sentence(out, has_eos, gap)
    return out


def _oversampling_sentence(v: dict[str, Any], has_eos: bool, gap: Mapping[str, Any] | None) -> str:
    opening = gap_clause(gap) if gap else "In this run"
    n = v["seeds"]
    if n == 0:
        return f"{opening}; no re-trained heads are stored yet, so there is nothing to compare."
    if not has_eos:
        return f"{opening}; EOS was not among the methods, so there is nothing to compare it with."
    if v["best_other"] is None:
        return (f"{opening}; no other oversampler (ROS, SMOTE, Borderline-SMOTE or ADASYN) was run, so EOS has "
                "nothing to be compared with.")
    other, d = method_name(v["best_other"]), fmt_signed(v["delta"])
    best = f"the best other oversampler, {other} (highest mean balanced accuracy on the test set)"
    if v["call"] == "not yet a verdict":
        iv = (f" (95 % t-interval [{fmt_signed(v['interval'][0])}, {fmt_signed(v['interval'][1])}])"
              if v["interval"] else "")
        over = "in 1 seed" if n == 1 else f"mean over {n} seeds"
        return (f"{opening}; EOS minus {best}, is {d} in balanced accuracy, {over}{iv}. Not yet a verdict: "
                f"{n} seed{'s' if n > 1 else ''} cannot tell a difference from the seed-to-seed spread; "
                f"train {MIN_SEEDS - n} more seed{'s' if MIN_SEEDS - n > 1 else ''} for a 95 % interval over "
                f"{MIN_SEEDS}.")
    lo, hi = fmt_signed(v["interval"][0]), fmt_signed(v["interval"][1])
    verb = {"EOS ahead": "and EOS leads", "EOS behind": "and EOS trails",
            "no clear difference": "and EOS shows no clear difference from"}[v["call"]]
    why = {"EOS ahead": "the whole interval is above 0", "EOS behind": "the whole interval is below 0",
           "no clear difference": "the interval contains 0"}[v["call"]]
    return (f"{opening}, {verb} {best}: EOS minus {other} is {d} in balanced accuracy, mean over {n} paired "
            f"seeds, 95 % t-interval [{lo}, {hi}] ({why}). A reading on the test set.")


def verdict(gap: Mapping[str, Any] | None, per_seed: Sequence[Mapping[str, Mapping[str, Any]]], *,
            classes: Sequence[str] | None = None) -> dict[str, Any]:
    """The whole verdict: ``{"gap": gap_verdict(...), "oversampling": oversampling_verdict(...)}``.

    ``gap`` is the ``gap.json`` of the run shown (with several seeds, the first seed's run);
    ``per_seed`` one ``methods.json`` per seed of the same configuration.
    """
    g = gap_verdict(gap, classes)
    return {"gap": g, "oversampling": oversampling_verdict(per_seed, g)}
