"""Tables built from a run's saved results (``phase1.json``, ``methods.json``, ``gap.json``).

Pure reading and arranging: every number in these tables is the stored one (rounded for
display only where stated), so the app tests compare them with the run folder exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ui import cache
from ui.figures.gap import gap_values
from ui.labels import method_name


@dataclass
class RunResults:
    """Page 1's per-class table and the per-method summary of one run."""

    table: pd.DataFrame  # one row per class: class, train n, test n, train recall, <method> recall…, gap
    methods: dict  # methods.json as saved


def per_class_table(phase1: dict, methods: dict, gap: dict | None) -> pd.DataFrame:
    """One row per class (class-id order): ``class``, ``train n``, ``test n``, ``train recall``,
    one column of test recall per method (``method_name``), ``gap (spread ratio)``: the stored
    values unrounded (the page formats them)."""
    df = pd.DataFrame({"class": phase1["classes"], "train n": phase1["train_counts"],
                       "test n": phase1["test_counts"]})
    rec = phase1.get("train_recall")
    df["train recall"] = np.asarray(rec, dtype=float) if rec else np.nan
    for name, m in methods.items():
        if m.get("per_class_recall") is not None:
            df[method_name(name)] = np.asarray(m["per_class_recall"], dtype=float)
    spread = gap_values(gap or {}, len(df)).get("spread_ratio")
    if spread is not None:
        df["gap (spread ratio)"] = np.asarray(spread, dtype=float)
    return df


def per_class_results(run_id: str) -> RunResults | None:
    """The run's per-class table and methods summary, or None before phase 1 is saved."""
    meta = cache.phase1_summary(run_id)
    if not meta:
        return None
    methods = cache.methods_summary(run_id)
    return RunResults(per_class_table(meta, methods, cache.gap_report(run_id)), methods)
