"""Tables built from a run's saved results (``phase1.json``, ``methods.json``, ``gap.json``).

Pure reading and arranging: every number in these tables is the stored one (rounded for
display only where stated), so the app tests compare them with the run folder exactly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from eos_core.errors import DamagedRun, EOSError
from eos_core.gap import GapReport
from ui import cache
from ui.labels import DEFAULT_GAP_MEASURE, GAP_NAMES, method_name


@dataclass
class RunResults:
    """Page 1's per-class table and the per-method summary of one run."""

    table: pd.DataFrame  # one row per class: class, train n, test n, train recall, <method> recall…, gap
    methods: dict  # methods.json as saved


def per_class_table(phase1: dict, methods: dict, gap: dict | None) -> pd.DataFrame:
    """One row per class (class-id order): ``class``, ``train n``, ``test n``, ``train recall``,
    one column of test recall per method (``method_name``), ``gap (<name of DEFAULT_GAP_MEASURE>)``:
    the stored values unrounded (the page formats them)."""
    df = pd.DataFrame({"class": phase1["classes"], "train n": phase1["train_counts"],
                       "test n": phase1["test_counts"]})
    rec = phase1.get("train_recall")
    df["train recall"] = np.asarray(rec, dtype=float) if rec else np.nan
    for name, m in methods.items():
        if m.get("per_class_recall") is not None:
            df[method_name(name)] = np.asarray(m["per_class_recall"], dtype=float)
    gap_col = GapReport.from_dict(gap, len(df)).values.get(DEFAULT_GAP_MEASURE)
    if gap_col is not None:
        df[gap_column()] = gap_col
    return df


def gap_column() -> str:
    """Title of the gap column of :func:`per_class_table`."""
    return f"gap ({GAP_NAMES[DEFAULT_GAP_MEASURE]})"


def per_class_results(run_id: str) -> RunResults | None:
    """The run's per-class table and methods summary, or None before phase 1 is saved.

    Raises ``DamagedRun`` (its index row or a file is damaged) instead of dropping the table."""
    try:
        cache.get_store().get_run(run_id)
    except DamagedRun:
        raise
    except EOSError:  # no such run (deleted, or a stale link): nothing to show
        return None
    meta = cache.phase1_summary(run_id)
    if not meta:
        return None
    methods = cache.methods_summary(run_id)
    return RunResults(per_class_table(meta, methods, cache.gap_report(run_id)), methods)


def run_seed(rec: Any) -> int:
    """The seed of a run record (``config["train"]["seed"]``, 0 when absent)."""
    return int(((rec.config or {}).get("train") or {}).get("seed", 0))


def one_run_per_seed(runs: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """``(kept, repeats)``: the first run of each seed, in the given order, and the later runs of a
    seed already kept. A repeated seed is the same draw again, not a new one, so intervals over
    seeds use ``kept`` only."""
    kept, repeats, seen = [], [], set()
    for r in runs:
        s = run_seed(r)
        (repeats if s in seen else kept).append(r)
        seen.add(s)
    return kept, repeats


def seed_runs(rec: Any) -> tuple[list[Any], list[Any], list[dict]]:
    """``(kept, repeats, per_seed)``: the runs of ``rec``'s configuration, one per seed (``rec``
    first), the later repeats of a seed, and the ``methods.json`` of every kept run that has one."""
    kept, repeats = one_run_per_seed(cache.same_config_runs(rec))
    return kept, repeats, [m for m in (cache.methods_summary(r.id) for r in kept) if m]


def run_verdict(rec: Any, per_seed: list[dict] | None = None) -> dict:
    """The engine's verdict (:func:`eos_core.evaluation.verdict`) for the run shown: its own
    ``gap.json``, and the heads of every seed of its configuration (one run per seed;
    ``per_seed``: :func:`seed_runs`'s, when the page has them already)."""
    from eos_core.evaluation import verdict

    if per_seed is None:
        per_seed = seed_runs(rec)[2]
    return verdict(cache.gap_report(rec.id), per_seed, classes=cache.phase1_summary(rec.id).get("classes"))


# A class named in an oversampler's warning: ``class 7``, ``class '7'`` (imbalanced-learn's and the
# pipeline's wordings); numbers elsewhere in a wording (counts of points) vary per class as well.
_CLASS_REF = re.compile(r"class '([^']*)'|class (\S+?)(?=[:,.;)]?(?:\s|$))")
_NUMBER = re.compile(r"\b\d+\b")


def group_notices(notes: Sequence[str]) -> list[tuple[str, list[str]]]:
    """One entry per wording of a method's warnings, whatever class it names.

    Returns
    -------
    list of (wording, classes)
        ``wording``: the first such warning with its class and counts replaced by "…";
        ``classes``: the classes it named, in order (empty when it names none). A wording repeated
        for every class (ADASYN warns twice per skipped class) becomes one entry.
    """
    groups: dict[str, list[str]] = {}
    for note in notes:
        found = _CLASS_REF.search(note)
        key = _NUMBER.sub("…", _CLASS_REF.sub("class …", note))
        cls = groups.setdefault(key, [])
        if found:
            cls.append(found.group(1) if found.group(1) is not None else found.group(2))
    return list(groups.items())
