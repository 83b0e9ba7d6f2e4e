"""eos_core.evaluation._verdict: the gap and oversampling verdicts, their calls, their sentences and edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from verdict_check import check_sentences, sentence_numbers

from eos_core.evaluation import gap_verdict, mean_interval, oversampling_verdict, verdict
from eos_core.names import GAP_MEASURES


def gap_json(rho, p, *, nn=(1.31, 1.12, 1.02), counts=(5, 30, 100)) -> dict:
    """A gap.json-shaped dict: one rho/p for every measure, per-class nearest-neighbour ratios."""
    rows = [{"class": c, "train_count": n, "nn_ratio": v} for c, (n, v) in enumerate(zip(counts, nn, strict=True))]
    rho = rho if isinstance(rho, dict) else dict.fromkeys(GAP_MEASURES, rho)
    p = p if isinstance(p, dict) else dict.fromkeys(GAP_MEASURES, p)
    return {"per_class": rows, "size_gap_spearman": rho, "size_gap_spearman_p": p}


def seeds(eos, **others) -> list[dict]:
    """One methods.json-shaped dict per seed from per-seed balanced accuracies."""
    n = len(eos)
    return [{"crt": {"balanced_accuracy": 0.5}, "eos": {"balanced_accuracy": eos[i]},
             **{m: {"balanced_accuracy": v[i]} for m, v in others.items()}} for i in range(n)]


CLASSES = ["big", "mid", "tiny"]


@pytest.mark.parametrize("eos, call", [
    ([0.82, 0.825, 0.83], "EOS ahead"),
    ([0.78, 0.775, 0.785], "EOS behind"),
    ([0.82, 0.79, 0.805], "no clear difference"),
])
def test_the_call_comes_from_the_paired_interval(eos, call) -> None:
    smote, ros = [0.80, 0.80, 0.80], [0.81, 0.70, 0.75]  # ros leads on seed 0 but SMOTE has the higher mean
    v = verdict(gap_json(-0.9, 0.01), seeds(eos, ros=ros, smote=smote), classes=CLASSES)
    o = v["oversampling"]
    assert o["best_other"] == "smote" and o["seeds"] == 3 and o["call"] == call
    iv = mean_interval([e - s for e, s in zip(eos, smote, strict=True)])
    assert o["per_seed"] == [e - s for e, s in zip(eos, smote, strict=True)]
    assert o["delta"] == iv["mean"] and o["interval"] == [iv["low"], iv["high"]]
    assert (call == "EOS ahead") == (iv["low"] > 0) and (call == "EOS behind") == (iv["high"] < 0)
    assert o["means"]["smote"] == pytest.approx(0.80) and set(o["means"]) == {"eos", "ros", "smote"}
    check_sentences(v)
    assert "SMOTE" in o["sentence"] and "A reading on the test set." in o["sentence"]
    # the sentence ties the two claims: it opens with the gap, quoting the widest ratio and its class
    assert o["sentence"].startswith("The gap widens for smaller classes here (nearest-neighbour ratio up to 1.31, "
                                    "for “big”)")


def test_fewer_than_three_seeds_is_not_yet_a_verdict() -> None:
    one = oversampling_verdict(seeds([0.9], smote=[0.8]))
    assert one["call"] == "not yet a verdict" and one["interval"] is None and one["delta"] == pytest.approx(0.1)
    assert "train 2 more seeds" in one["sentence"]
    two = verdict(gap_json(-0.9, 0.01), seeds([0.9, 0.85], smote=[0.8, 0.8], adasyn=[0.7, 0.9]))
    o = two["oversampling"]
    iv = mean_interval([0.9 - 0.8, 0.85 - 0.8])  # adasyn's mean 0.8 ties SMOTE's: the first in order wins
    assert o["best_other"] == "smote" and o["call"] == "not yet a verdict"
    assert o["interval"] == [iv["low"], iv["high"]] and "train 1 more seed for" in o["sentence"]
    check_sentences(two)


@pytest.mark.parametrize("runs, needle", [
    ([], "no re-trained heads are stored yet"),
    (seeds([0.9], smote=[0.8])[:0] + [{"crt": {"balanced_accuracy": 0.5}, "smote": {"balanced_accuracy": 0.6}}],
     "EOS was not among the methods"),
    (seeds([0.9, 0.8, 0.7], smote=[0.8, 0.8, 0.8])[:2] + [{"crt": {"balanced_accuracy": 0.5},
                                                           "smote": {"balanced_accuracy": 0.6}}],
     "EOS was not among the methods"),  # EOS missing from one seed: no pairing
    (seeds([0.9, 0.8, 0.7]), "no other oversampler"),
    (seeds([0.9, 0.8, 0.7], eos_published=[0.8, 0.8, 0.8]), "no other oversampler"),
])
def test_nothing_to_compare_is_a_sentence(runs, needle) -> None:
    v = verdict(gap_json(-0.9, 0.01), runs, classes=CLASSES)
    o = v["oversampling"]
    assert o["call"] == "no comparison" and o["best_other"] is None and o["delta"] is None and o["interval"] is None
    assert needle in o["sentence"]
    check_sentences(v)


@pytest.mark.parametrize("rho, p, status, holding", [
    (-0.9, 0.01, "holds", 3),
    ({"centroid_ratio": -0.9, "nn_ratio": -0.2, "nn1_recall_gap": 0.4}, 0.01, "partly", 2),
    (0.9, 0.01, "no evidence", 0),    # small p but the wrong sign: large classes have the wider gaps
    (-0.5, 0.2, "no evidence", 0),
    (None, None, "not measurable", 0),
    (float("nan"), float("nan"), "not measurable", 0),
    ({"centroid_ratio": -0.8, "nn_ratio": None, "nn1_recall_gap": None},
     {"centroid_ratio": 0.01, "nn_ratio": None, "nn1_recall_gap": None}, "holds", 1),
])
def test_gap_status_from_spearman_and_its_p(rho, p, status, holding) -> None:
    g = gap_verdict(gap_json(rho, p), CLASSES)
    assert g["status"] == status and g["holding"] == holding
    assert g["widest"] == {"measure": "nn_ratio", "value": 1.31, "class": 0, "name": "big", "train_count": 5}
    v = verdict(gap_json(rho, p), seeds([0.9], smote=[0.8]), classes=CLASSES)
    check_sentences(v)
    words = {"holds": "this holds here for", "partly": "so the evidence is mixed",
             "no evidence": "No evidence here", "not measurable": "could not be measured"}
    assert words[status] in g["sentence"]


def test_one_class_and_empty_gap_give_sentences() -> None:
    one = gap_verdict(gap_json(None, None, nn=(1.5,), counts=(40,)), ["only"])
    assert one["status"] == "not measurable" and one["widest"]["name"] == "only"
    empty = verdict({}, [])
    assert empty["gap"]["status"] == "not measurable" and empty["gap"]["widest"] is None
    assert empty["oversampling"]["sentence"].startswith("The size–gap relation could not be measured here; no ")
    check_sentences(empty)
    # a class name made of digits is quoted, so it is never read as a number
    g = gap_verdict(gap_json(-0.9, 0.01), ["0", "1", "9"])
    assert "“0”" in g["sentence"] and "0" not in sentence_numbers(g["sentence"].split(";")[-1])


def _embeddings(rng, counts, n_test, widen=0.0):
    """Class clouds in 8-d; with ``widen`` the test points of small classes lie farther out."""
    xs, ys, xt, yt = [], [], [], []
    for c, n in enumerate(counts):
        centre = rng.normal(0, 4, 8)
        xs.append(centre + rng.normal(0, 1, (n, 8)))
        xt.append(centre + rng.normal(0, 1 + widen * 10 / np.sqrt(n), (n_test, 8)))
        ys.append(np.full(n, c))
        yt.append(np.full(n_test, c))
    return (np.concatenate(xs).astype(np.float32), np.concatenate(ys), np.concatenate(xt).astype(np.float32),
            np.concatenate(yt))


def test_null_data_reads_no_evidence_and_a_real_gap_reads_holds() -> None:
    """Train and test from one distribution: the size-gap tests are calibrated, so "no evidence"
    most of the time; test points pushed out more for smaller classes: "holds"."""
    from eos_core.gap import generalization_gap

    counts = [160, 90, 50, 30, 18, 10, 6, 4]
    statuses = []
    for s in range(12):
        xtr, ytr, xte, yte = _embeddings(np.random.default_rng(s), counts, 25)
        rep = generalization_gap(xtr, ytr, xte, yte, num_classes=len(counts), permutations=100, seed=s).to_dict()
        statuses.append(gap_verdict(rep)["status"])
    assert statuses.count("no evidence") >= 9, statuses
    xtr, ytr, xte, yte = _embeddings(np.random.default_rng(99), counts, 25, widen=1.0)
    rep = generalization_gap(xtr, ytr, xte, yte, num_classes=len(counts), permutations=100, seed=0).to_dict()
    g = gap_verdict(rep)
    assert g["status"] == "holds", g["sentence"]
    assert g["widest"]["train_count"] <= 10  # the widest ratio is one of the small classes'


@pytest.mark.parametrize("name, status, call, delta, interval", [
    ("digits", "holds", "EOS behind", "−0.057", ("−0.091", "−0.023")),
    ("fashion", "partly", "EOS behind", "−0.056", ("−0.109", "−0.003")),
    ("cifar", "holds", "no clear difference", "+0.024", ("−0.008", "+0.056")),
])
def test_the_verdict_on_the_recorded_accuracy_study(name, status, call, delta, interval) -> None:
    """bench/RESULTS.md's verdict table is eos_core.evaluation._verdict on the stored per-seed runs of the study."""
    import json
    from pathlib import Path

    from eos_core.evaluation._verdict import fmt_signed

    study = json.loads((Path(__file__).resolve().parents[1] / "bench/results/accuracy.json").read_text())
    runs = study["settings"][name]["per_seed"]
    v = verdict(runs[0]["gap"], [r["methods"] for r in runs], classes=runs[0]["classes"])
    o = v["oversampling"]
    assert (v["gap"]["status"], o["call"], o["best_other"], o["seeds"]) == (status, call, "ros", 3)
    assert fmt_signed(o["delta"]) == delta and tuple(fmt_signed(x) for x in o["interval"]) == interval
    check_sentences(v)
