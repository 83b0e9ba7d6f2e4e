"""Paired differences from the control and their t-intervals over seeds (exact numbers)."""

from __future__ import annotations

import math

import pytest

from eos_core.errors import ConfigError
from eos_core.evaluation import aggregate, delta_vs, mean_interval, paired_deltas
from eos_core.names import HEADLINE

T_975_2 = 4.302652729749462  # scipy.stats.t.ppf(0.975, 2)


def _m(bacc, g, f1):
    return {"balanced_accuracy": bacc, "g_mean": g, "macro_f1": f1, "per_class_recall": [0.0]}


# three seeds, each one run: {method: metrics}
RUNS = [
    {"none": _m(0.40, 0.30, 0.35), "crt": _m(0.50, 0.40, 0.45), "eos": _m(0.60, 0.50, 0.50)},
    {"none": _m(0.44, 0.30, 0.37), "crt": _m(0.52, 0.42, 0.47), "eos": _m(0.58, 0.50, 0.50)},
    {"none": _m(0.42, 0.30, 0.36), "crt": _m(0.50, 0.40, 0.45), "eos": _m(0.64, 0.50, 0.56)},
]


def test_delta_vs_is_the_plain_difference():
    assert delta_vs(RUNS[0]["eos"], RUNS[0]["crt"]) == {
        "balanced_accuracy": 0.60 - 0.50, "g_mean": 0.50 - 0.40, "macro_f1": 0.50 - 0.45}
    assert HEADLINE == ("balanced_accuracy", "g_mean", "macro_f1")


def test_paired_deltas_per_seed():
    d = paired_deltas(RUNS)
    assert list(d) == ["none", "eos"]
    assert d["eos"]["balanced_accuracy"] == [0.60 - 0.50, 0.58 - 0.52, 0.64 - 0.50]
    assert d["none"]["g_mean"] == [0.30 - 0.40, 0.30 - 0.42, 0.30 - 0.40]


def test_mean_interval_is_the_student_t_interval():
    iv = mean_interval([0.1, 0.06, 0.14])
    half = T_975_2 * 0.04 / math.sqrt(3)
    assert iv["n"] == 3
    assert iv["mean"] == pytest.approx(0.1, abs=1e-15)
    assert iv["sd"] == pytest.approx(0.04, rel=1e-12)
    assert iv["low"] == pytest.approx(0.1 - half, rel=1e-12)
    assert iv["high"] == pytest.approx(0.1 + half, rel=1e-12)
    flat = mean_interval([0.2, 0.2])
    assert flat["sd"] == 0.0 and flat["low"] == flat["high"] == 0.2


def test_one_seed_gives_no_interval():
    assert mean_interval([0.25]) == {"n": 1, "mean": 0.25, "sd": None, "low": None, "high": None}
    agg = aggregate(RUNS[:1])
    assert agg["n_seeds"] == 1
    assert agg["methods"]["eos"]["delta_vs_crt"]["macro_f1"]["mean"] == pytest.approx(0.05, abs=1e-15)
    assert agg["methods"]["eos"]["delta_vs_crt"]["macro_f1"]["low"] is None


def test_aggregate_shape_and_numbers():
    agg = aggregate(RUNS)
    assert agg["n_seeds"] == 3 and agg["control"] == "crt" and agg["confidence"] == 0.95
    assert list(agg["methods"]) == ["none", "crt", "eos"]
    assert agg["methods"]["crt"]["delta_vs_crt"] is None
    bacc = agg["methods"]["eos"]["delta_vs_crt"]["balanced_accuracy"]
    assert bacc["mean"] == pytest.approx(0.1, abs=1e-15)
    assert bacc["high"] - bacc["mean"] == pytest.approx(T_975_2 * 0.04 / math.sqrt(3), rel=1e-9)
    assert agg["methods"]["eos"]["metrics"]["balanced_accuracy"]["mean"] == pytest.approx(1.82 / 3, abs=1e-15)
    assert agg["methods"]["crt"]["metrics"]["balanced_accuracy"]["mean"] == pytest.approx(1.52 / 3, abs=1e-15)
    g = agg["methods"]["eos"]["delta_vs_crt"]["g_mean"]
    # g-mean deltas 0.10, 0.08, 0.10: mean 0.28 / 3, sd 0.02 / sqrt(3)
    assert g["mean"] == pytest.approx(0.28 / 3, abs=1e-15)
    assert g["sd"] == pytest.approx(0.02 / math.sqrt(3), rel=1e-9)


def test_missing_control_is_one_sentence():
    with pytest.raises(ConfigError, match=r"^Run 2 of 2 has no 'crt' head to compare with\.$"):
        paired_deltas([RUNS[0], {"eos": RUNS[1]["eos"]}])
    with pytest.raises(ConfigError, match="No runs"):
        aggregate([])


def test_control_missed_classes_are_the_zero_recalls_of_the_control():
    from eos_core.evaluation import control_missed_classes

    summary = {"crt": {"per_class_recall": [0.9, 0.0, None, 0.5, 0.0]}, "eos": {"per_class_recall": [0.0] * 5}}
    assert control_missed_classes(summary) == [1, 4]  # None (no test sample) is not a miss
    assert control_missed_classes(summary, control="eos") == [0, 1, 2, 3, 4]
    assert control_missed_classes({"eos": {}}) == []
