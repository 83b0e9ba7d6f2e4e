"""The ratio study (eos_core.study) and run labels by what differs (eos_core.run_labels)."""

from __future__ import annotations

import threading

import pytest

from eos_core.config import DataConfig, HeadConfig, RunConfig, TrainConfig
from eos_core.errors import Cancelled, ConfigError
from eos_core.evaluation import mean_interval
from eos_core.run_labels import differing_fields, run_labels
from eos_core.store import RunStore
from eos_core.study import (
    DamagedStudy,
    StudyConfig,
    StudyRecord,
    current_status,
    list_studies,
    load_study,
    run_study,
    save_study,
    summarize,
)


def cfg(ratio=50.0, seed=0, **train) -> dict:
    return RunConfig(data=DataConfig(ratio=ratio), train=TrainConfig(**train)).with_seed(seed).to_dict()


# --------------------------------------------------------------------------- labels

def test_labels_name_the_ratio_and_seed_that_differ():
    configs = [cfg(1, 0), cfg(10, 0), cfg(10, 1)]
    assert differing_fields(configs) == ["data.ratio", "seed"]
    assert run_labels(configs) == ["ρ=1 · seed 0", "ρ=10 · seed 0", "ρ=10 · seed 1"]


def test_labels_leave_out_what_is_shared_and_what_does_not_change_results():
    assert run_labels([cfg(10, 0), cfg(10, 1)]) == ["seed 0", "seed 1"]
    assert run_labels([cfg(10, 0), cfg(100, 0)]) == ["ρ=10", "ρ=100"]
    on_gpu = cfg(10, 0)
    on_gpu["train"]["device"] = "cuda"
    on_gpu["methods"] = ["eos"]
    assert run_labels([cfg(10, 0), on_gpu]) == ["ρ=10 · seed 0", "ρ=10 · seed 0 (2)"]
    assert run_labels([cfg(50, 3)]) == ["ρ=50 · seed 3"]
    assert run_labels([cfg(loss="ce", epochs=30), cfg(loss="focal", epochs=5)]) == [
        "cross-entropy · 30 epochs", "focal loss · 5 epochs"]


def test_labels_show_a_folder_by_its_name_never_its_path():
    folder = cfg(100, 0)
    folder["data"].update(dataset="folder", folder="/srv/uploads/abc123/cifar10-jpeg")
    labels = run_labels([cfg(100, 0), folder])
    assert labels == ["digits", "cifar10-jpeg (folder)"]


def test_labels_name_each_seed_when_a_run_has_unequal_seeds():
    odd = cfg(10, 0)
    odd["head"]["seed"] = 7
    assert run_labels([cfg(10, 0), odd]) == ["head seed 0", "head seed 7"]
    assert run_labels([cfg(10, 0), odd, cfg(1, 1)]) == ["ρ=10 · data seed 0 · phase-1 seed 0 · head seed 0",
                                                        "ρ=10 · data seed 0 · phase-1 seed 0 · head seed 7",
                                                        "ρ=1 · data seed 1 · phase-1 seed 1 · head seed 1"]


# --------------------------------------------------------------------------- config and record

def test_study_config_rules_and_round_trip():
    base = RunConfig(data=DataConfig(profile="step"))
    sc = StudyConfig(base=base, ratios=[1, 10.0, 100], seeds=[0, 2])
    sc.validate()
    assert sc.grid() == [(1.0, 0), (1.0, 2), (10.0, 0), (10.0, 2), (100.0, 0), (100.0, 2)]
    run = sc.run_config(10.0, 2)
    assert (run.data.ratio, run.data.seed, run.train.seed, run.head.seed, run.data.profile) == (10.0, 2, 2, 2, "step")
    assert StudyConfig.from_dict(sc.to_dict()).to_dict() == sc.to_dict()
    for bad, text in [(StudyConfig(ratios=[1, 1]), "ratios must be distinct"),
                      (StudyConfig(ratios=[]), "at least one imbalance ratio"),
                      (StudyConfig(seeds=[0, 0]), "seeds must be distinct"),
                      (StudyConfig(ratios=[1, 5000]), "between 1 and 1000"),
                      (StudyConfig(base=RunConfig(data=DataConfig(profile="as_is"))), "as_is profile ignores ρ"),
                      (StudyConfig(ratios=list(range(1, 32)), seeds=[0, 1]), "at most 60 runs")]:
        with pytest.raises(ConfigError, match=text):
            bad.validate()


def test_record_saves_lists_and_a_damaged_one_is_one_sentence(tmp_path):
    store = RunStore(tmp_path / "runs")
    a = StudyRecord("20260101-000000-aaaaaa", 1.0, StudyConfig(), runs=[{"ratio": 1.0, "seed": 0, "run_id": "r"}])
    b = StudyRecord("20260102-000000-bbbbbb", 2.0, StudyConfig(ratios=[2.0]), status="finished")
    save_study(store, a)
    save_study(store, b)
    assert load_study(store, a.study_id).to_dict() == a.to_dict()
    assert [r.study_id for r in list_studies(store)] == [b.study_id, a.study_id]
    (store.root / "studies" / f"{a.study_id}.json").write_text('{"study_id": "20260101-000000-aaaaaa", "runs": [')
    damaged: list[str] = []
    assert [r.study_id for r in list_studies(store, damaged=damaged)] == [b.study_id]
    assert damaged == [a.study_id]
    with pytest.raises(DamagedStudy) as err:
        load_study(store, a.study_id)
    assert str(err.value) == (f"Study {a.study_id} cannot be read: its record is damaged; its runs are still "
                              "listed with the other runs.")
    assert str(tmp_path) not in str(err.value)
    with pytest.raises(DamagedStudy, match="is not a study id"):
        load_study(store, "../../etc/passwd")
    with pytest.raises(DamagedStudy, match="There is no study 20260103-000000-cccccc"):
        load_study(store, "20260103-000000-cccccc")


# --------------------------------------------------------------------------- summary

def _fake_run(store: RunStore, ratio: float, seed: int, nn: list, p5: list, eos_bacc: float,
              status: str = "finished") -> str:
    rid = store.create_run(cfg(ratio, seed))
    store.save_json(rid, "phase1", {"classes": ["a", "b"], "train_counts": [20, 2], "test_counts": [5, 5]})
    rows = [{"class": c, "train_count": n, "nn_ratio": nn[c], "nn_ratio_p5": p5[c], "nn_ratio_p95": 1.2}
            for c, n in enumerate([20, int(20 / ratio)])]
    store.save_json(rid, "gap", {"per_class": rows, "size_gap_spearman": {"nn_ratio": -1.0 * seed}})
    head = {"per_class_recall": [1.0, 0.5], "n_synthetic": 0, "seconds": 0.1, "g_mean": 0.5, "macro_f1": 0.5}
    store.save_json(rid, "methods", {"crt": {**head, "balanced_accuracy": 0.7},
                                     "eos": {**head, "balanced_accuracy": eos_bacc}})
    if status == "finished":
        store.finish_run(rid)
    return rid


def test_summary_means_over_seeds_and_reuses_the_paired_intervals(tmp_path):
    store = RunStore(tmp_path / "runs")
    r0 = _fake_run(store, 10, 0, [1.0, 2.0], [0.8, 0.6], 0.8)
    r1 = _fake_run(store, 10, 1, [1.5, None], [0.9, 0.7], 0.9)
    r2 = _fake_run(store, 1, 0, [1.1, 1.0], [0.8, 0.8], 0.75)
    r3 = _fake_run(store, 1, 1, [9.0, 9.0], [9.0, 9.0], 0.1, status="running")  # not finished: left out
    runs = [{"ratio": 10.0, "seed": 0, "run_id": r0}, {"ratio": 10.0, "seed": 1, "run_id": r1},
            {"ratio": 1.0, "seed": 0, "run_id": r2}, {"ratio": 1.0, "seed": 1, "run_id": r3}]
    s = summarize(store, runs)
    assert [r["ratio"] for r in s["ratios"]] == [1.0, 10.0]
    one, ten = s["ratios"]
    assert (one["run_ids"], one["seeds"], one["n_seeds"]) == ([r2], [0], 1)
    assert (ten["run_ids"], ten["seeds"], ten["n_seeds"]) == ([r0, r1], [0, 1], 2)
    assert ten["classes"] == ["a", "b"] and ten["train_count"] == [20, 2]
    assert ten["gap"]["nn_ratio"] == [1.25, 2.0]
    assert ten["gap_p5"]["nn_ratio"] == [pytest.approx(0.85), pytest.approx(0.65)]
    assert ten["gap_p95"]["nn_ratio"] == [1.2, 1.2]
    assert ten["gap"]["centroid_ratio"] == [None, None]  # not in these reports: undefined, not 0
    assert ten["size_gap_spearman"]["nn_ratio"] == -0.5
    delta = ten["methods"]["eos"]["delta_vs_crt"]["balanced_accuracy"]
    assert delta == mean_interval([0.8 - 0.7, 0.9 - 0.7])
    assert delta["mean"] == pytest.approx(0.15)
    assert ten["methods"]["crt"]["delta_vs_crt"] is None
    assert one["methods"]["eos"]["delta_vs_crt"]["balanced_accuracy"]["low"] is None  # one seed: no interval


# --------------------------------------------------------------------------- running one

TINY = RunConfig(data=DataConfig(max_per_class=30), train=TrainConfig(epochs=1), head=HeadConfig(epochs=1),
                 methods=["eos"])


def test_run_study_saves_every_run_and_the_record(tmp_path):
    store = RunStore(tmp_path / "runs")
    events = []
    res = run_study(StudyConfig(base=TINY, ratios=[1, 10], seeds=[0]), store=store,
                    progress=lambda e: events.append(e) if e.kind == "study_run" else None)
    rec = res.record
    assert [(e.ratio, e.seed, e.index, e.total) for e in events] == [(1.0, 0, 0, 2), (10.0, 0, 1, 2)]
    assert rec.status == "finished" and [(r["ratio"], r["seed"]) for r in rec.runs] == [(1.0, 0), (10.0, 0)]
    assert [r.phase1.run_id for r in res.results] == [r["run_id"] for r in rec.runs]
    for r in rec.runs:
        run = store.get_run(r["run_id"])
        assert run.status == "finished" and run.config["data"]["ratio"] == r["ratio"]
    assert load_study(store, rec.study_id).to_dict() == rec.to_dict()
    assert [s["ratio"] for s in rec.summary["ratios"]] == [1.0, 10.0]
    ten = rec.summary["ratios"][1]
    assert ten["train_count"] == res.results[1].phase1.train_counts
    assert ten["gap"]["nn_ratio"] == [g["nn_ratio"] for g in res.results[1].gap["per_class"]]
    assert ten["methods"]["eos"]["delta_vs_crt"]["balanced_accuracy"]["mean"] == pytest.approx(
        res.results[1].methods["eos"].metrics["delta_vs_crt"]["balanced_accuracy"])


def test_a_cancelled_study_keeps_its_finished_runs(tmp_path):
    store = RunStore(tmp_path / "runs")
    cancel = threading.Event()

    def progress(e) -> None:
        if e.kind == "study_run" and e.index == 1:
            cancel.set()  # while the second run starts: it stops at its first check

    with pytest.raises(Cancelled):
        run_study(StudyConfig(base=TINY, ratios=[1, 10], seeds=[0]), store=store, progress=progress, cancel=cancel)
    (rec,) = list_studies(store)
    assert rec.status == "cancelled"
    assert [store.get_run(r["run_id"]).status for r in rec.runs] == ["finished", "cancelled"]
    assert [s["ratio"] for s in rec.summary["ratios"]] == [1.0]


def test_a_running_study_whose_newest_run_was_interrupted_reads_interrupted(tmp_path):
    store = RunStore(tmp_path / "runs")
    done, last = store.create_run(cfg(1, 0)), store.create_run(cfg(10, 0))
    store.finish_run(done)
    rec = StudyRecord("20260101-000000-aaaaaa", 1.0, StudyConfig(ratios=[1, 10]),
                      runs=[{"ratio": 1.0, "seed": 0, "run_id": done}, {"ratio": 10.0, "seed": 0, "run_id": last}])
    assert current_status(store, rec) == "running"  # its run is alive (this process beats for it)
    store.fail_run(last, "stopped")
    assert current_status(store, rec) == "running"  # failed, not interrupted: the study writes its own end
    store._set(last, status="interrupted")  # what the store reports once a dead process's lease ran out
    assert current_status(store, rec) == "interrupted"
    rec.status = "finished"
    assert current_status(store, rec) == "finished"


def test_study_event_round_trips_through_its_json_form():
    from eos_core.events import StudyRunStarted, from_dict

    ev = StudyRunStarted("s1", 10.0, 2, 1, 6)
    assert ev.to_dict() == {"phase": "study_run", "study_id": "s1", "ratio": 10.0, "seed": 2, "index": 1, "total": 6}
    assert from_dict(ev.to_dict()) == ev
