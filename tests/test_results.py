"""The saved-run format (eos_core.store._results), the map placement and the progress events, without training."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from eos_core.config import RunConfig
from eos_core.errors import DamagedRun
from eos_core.events import EpochDone, EpochStats, HeadEpoch, MethodStarted, RunCreated, from_dict
from eos_core.maps import fit_projection, map_sample, place_by_neighbors
from eos_core.store import (
    Embeddings,
    MethodResult,
    Phase1Result,
    RunStore,
    load_map,
    load_method_summary,
    load_methods,
    load_phase1,
    save_map,
    save_method,
    save_phase1,
)

RNG = np.random.default_rng(0)


def _phase1(store: RunStore) -> Phase1Result:
    rid = store.create_run(RunConfig().to_dict())
    emb = Embeddings(RNG.normal(size=(12, 4)).astype(np.float32), np.zeros((12, 3), np.float32),
                     np.repeat(np.arange(3), 4), RNG.normal(size=(6, 4)).astype(np.float32),
                     np.zeros((6, 3), np.float32), np.repeat(np.arange(3), 2))
    p1 = Phase1Result(run_id=rid, config=RunConfig(), classes=["a", "b", "c"], train_counts=[4, 4, 4],
                      test_counts=[2, 2, 2], train_idx=np.arange(12), history=[], embeddings=emb,
                      metrics={"balanced_accuracy": 0.5}, train_recall=[1.0, None, 0.5], timings={"phase1_s": 1.0},
                      gap={"per_class": []}, head=torch.nn.Linear(4, 3), model=torch.nn.Linear(4, 3))
    save_phase1(store, p1)
    return p1


def test_phase1_round_trip_is_torch_free_until_a_head_is_asked_for(tmp_path):
    store = RunStore(tmp_path)
    p1 = _phase1(store)
    back = load_phase1(store, p1.run_id)
    assert back.head is None and back.model is None
    assert back.classes == ["a", "b", "c"] and back.train_recall == [1.0, None, 0.5]
    assert np.array_equal(back.embeddings.test_emb, p1.embeddings.test_emb) and back.gap == {"per_class": []}
    head = load_phase1(store, p1.run_id, with_head=True).head
    assert torch.equal(head.weight, p1.head.weight)


def test_methods_round_trip_in_display_order(tmp_path):
    store = RunStore(tmp_path)
    p1 = _phase1(store)
    x = np.ones((2, 4), np.float32)
    for name in ("eos", "none"):
        save_method(store, p1.run_id, MethodResult(name, {"per_class_recall": [1.0, 0.5, None]}, 2, 0.1, x,
                                                   np.array([1, 2]), None, torch.nn.Linear(4, 3)))
    assert list(load_method_summary(store, p1.run_id)) == ["none", "eos"]
    loaded = load_methods(store, p1.run_id)
    assert loaded["eos"].head is None and loaded["eos"].n_synthetic == 2 and loaded["eos"].provenance is None
    assert loaded["eos"].metrics == {"per_class_recall": [1.0, 0.5, None]}
    assert load_methods(store, p1.run_id, with_heads=True)["eos"].head.weight.shape == (3, 4)


WRONG_SHAPES = {
    "phase1.json is a list": ("phase1", [1, 2]),
    "phase1.json lacks classes": ("phase1", {"train_counts": [4, 4, 4], "test_counts": [2, 2, 2]}),
    "train_counts of the wrong length": ("phase1", {"classes": ["a", "b", "c"], "train_counts": [4],
                                                    "test_counts": [2, 2, 2]}),
    "metrics not a dict": ("phase1", {"classes": ["a"], "train_counts": [4], "test_counts": [2], "metrics": 3}),
    "gap.json is a string": ("gap", "oops"),
    "history.json is a dict": ("history", {"epoch": 1}),
}


@pytest.mark.parametrize("case", list(WRONG_SHAPES))
def test_valid_json_of_the_wrong_shape_is_a_damaged_run(tmp_path, case):
    store = RunStore(tmp_path)
    p1 = _phase1(store)
    name, obj = WRONG_SHAPES[case]
    (store.run_dir(p1.run_id) / f"{name}.json").write_text(json.dumps(obj))
    with pytest.raises(DamagedRun) as err:
        load_phase1(store, p1.run_id)
    msg = str(err.value)
    assert p1.run_id in msg and f"{name}.json" in msg and len(msg.splitlines()) == 1


def test_methods_json_of_the_wrong_shape_is_a_damaged_run(tmp_path):
    store = RunStore(tmp_path)
    p1 = _phase1(store)
    store.save_json(p1.run_id, "methods", {"eos": [0.5]})
    with pytest.raises(DamagedRun, match=f"Run {p1.run_id} cannot be opened: methods.json is damaged"):
        load_methods(store, p1.run_id)
    store.save_json(p1.run_id, "methods", {"eos": {"per_class_recall": [1.0], "n_synthetic": 2, "seconds": 0.1}})
    store.save_arrays(p1.run_id, "synthetic_eos", X_syn=np.ones((2, 4), np.float32))  # no labels
    with pytest.raises(DamagedRun, match=f"Run {p1.run_id} cannot be opened: synthetic_eos.npz is damaged"):
        load_methods(store, p1.run_id)


def _sentence(rid: str, file: str, reason: str) -> str:
    return (f"Run {rid} cannot be opened: {file} is damaged ({reason}); `python -m eos_core repair` moves it to "
            "the quarantine folder, and other runs are not affected.")


_EMB = "embeddings.npz"
# file that parses, of the wrong types -> (file, the reason in the one sentence); each edits one file
WRONG_TYPES = {
    "methods.json is a string": ("methods.json", "it holds a string where an object belongs",
                                 lambda d: (d / "methods.json").write_text('"garbage"')),
    "n_synthetic is text": ("methods.json", "n_synthetic of 'eos' is not a count",
                            lambda d: (d / "methods.json").write_text(json.dumps(
                                {"eos": {"per_class_recall": [1.0], "n_synthetic": "2", "seconds": 0.1}}))),
    "a recall is text": ("methods.json", "per_class_recall of 'eos' is not a list of numbers",
                         lambda d: (d / "methods.json").write_text(json.dumps(
                             {"eos": {"per_class_recall": ["high"], "n_synthetic": 2, "seconds": 0.1}}))),
    "a score is text": ("methods.json", "balanced_accuracy of 'eos' is not a number",
                        lambda d: (d / "methods.json").write_text(json.dumps(
                            {"eos": {"per_class_recall": [1.0], "n_synthetic": 2, "seconds": 0.1,
                                     "balanced_accuracy": "good"}}))),
    "gap rows are numbers": ("gap.json", "per_class is not a list of objects",
                             lambda d: (d / "gap.json").write_text('{"per_class": [1, 2]}')),
    "a count is text": ("phase1.json", "train_counts holds something other than counts",
                        lambda d: _edit_json(d / "phase1.json", train_counts=["4", 4, 4])),
    "NaN embeddings": (_EMB, "train_emb holds NaN or infinite values", lambda d: _edit_npz(
        d / _EMB, train_emb=np.full((12, 4), np.nan, np.float32))),
    "embeddings one column short": (_EMB, "train_emb has 3 columns and test_emb 4", lambda d: _edit_npz(
        d / _EMB, train_emb=np.zeros((12, 3), np.float32))),
    "embeddings rows unequal": (_EMB, "train_emb, train_logits and train_y have 11, 12 and 12 rows",
                                lambda d: _edit_npz(d / _EMB, train_emb=np.zeros((11, 4), np.float32))),
    "a label out of range": (_EMB, "test_y holds labels outside 0..2", lambda d: _edit_npz(
        d / _EMB, test_y=np.array([0, 0, 1, 1, 2, 7]))),
    "text labels": (_EMB, "train_y is not a 1-D integer array", lambda d: _edit_npz(
        d / _EMB, train_y=np.array(["a"] * 12))),
}


def _edit_json(path, **fields) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


def _edit_npz(path, **arrays) -> None:
    with np.load(path) as z:
        old = {k: z[k] for k in z.files}
    np.savez(path, **{**old, **arrays})


@pytest.mark.parametrize("case", list(WRONG_TYPES))
def test_valid_json_and_arrays_of_the_wrong_types_are_one_sentence(tmp_path, case):
    store = RunStore(tmp_path)
    keep, p1 = _phase1(store), _phase1(store)
    save_method(store, p1.run_id, MethodResult("eos", {"per_class_recall": [1.0, 0.5, None]}, 2, 0.1,
                                               np.ones((2, 4), np.float32), np.array([0, 1]), None))
    file, reason, damage = WRONG_TYPES[case]
    damage(store.run_dir(p1.run_id))
    with pytest.raises(DamagedRun) as err:
        load_phase1(store, p1.run_id)
        load_methods(store, p1.run_id)
    assert str(err.value) == _sentence(p1.run_id, file, reason)
    assert (err.value.run_id, err.value.file, err.value.reason) == (p1.run_id, file, reason)
    assert load_phase1(store, keep.run_id).classes == ["a", "b", "c"]  # the other run keeps working


def test_map_round_trip_with_placed_rows(tmp_path):
    store = RunStore(tmp_path)
    p1 = _phase1(store)
    assert load_map(store, p1.run_id) is None
    e = p1.embeddings
    syn = RNG.normal(size=(5, 4)).astype(np.float32)
    proj = fit_projection(e.train_emb, method="pca", extra={"test": e.test_emb, "synthetic_eos": syn[[1, 3]]})
    save_map(store, p1.run_id, proj, {"eos": np.array([1, 3])})
    m = load_map(store, p1.run_id)
    assert m.method == "pca" and m.train.shape == (12, 2) and m.test.shape == (6, 2)
    assert m.synthetic_rows["eos"].tolist() == [1, 3]
    assert np.array_equal(m.synthetic["eos"], proj.extra_xy["synthetic_eos"])


def test_map_sample_is_stratified_and_capped():
    y = np.repeat([0, 1], [5000, 10])
    rows = map_sample(y, seed=0, cap=100)
    assert len(rows) == 100 and np.bincount(y[rows]).tolist() == [90, 10]
    assert map_sample(y[:50], cap=100).tolist() == list(range(50))


def test_place_by_neighbors_is_the_inverse_distance_mean():
    train = np.array([[0, 0], [1, 0], [10, 10]], np.float32)
    xy = np.array([[0, 0], [2, 0], [5, 5]], np.float32)
    out = place_by_neighbors(train, xy, np.array([[0.25, 0], [0, 0]], np.float32), k=2)
    w = np.array([1 / (0.25 + 1e-6), 1 / (0.75 + 1e-6)])
    assert out[0] == pytest.approx([float(w @ [0, 2] / w.sum()), 0.0], abs=1e-5)
    assert out[1] == pytest.approx([0.0, 0.0], abs=1e-4)  # an exact duplicate lands on its twin
    assert place_by_neighbors(train, xy, np.zeros((0, 2), np.float32)).shape == (0, 2)


def test_events_round_trip_through_their_json_form():
    stats = EpochStats(epoch=2, epochs=5, loss=0.5, train_acc=0.9, test_bacc=0.8, seconds=1.0, lr=0.1)
    for ev in (RunCreated("r1"), EpochDone(stats), MethodStarted("eos", 1, 3), HeadEpoch(1, 2, 0.3)):
        d = json.loads(json.dumps(ev.to_dict()))
        assert from_dict(d) == ev
    assert EpochDone(stats).to_dict() == {"phase": "train", **stats.to_dict()}
    assert from_dict({"phase": "something else"}) is None


def test_a_failed_run_hands_its_exception_to_the_store(tmp_path):
    from eos_core.pipeline import _record_failure

    store = RunStore(tmp_path)
    rid = store.create_run(RunConfig().to_dict())
    _record_failure(store, rid, KeyboardInterrupt())  # outside an except block: only `error` tells the store
    assert store.get_run(rid).status == "cancelled"
    rid = store.create_run(RunConfig().to_dict())
    _record_failure(store, rid, ValueError("bad"))
    rec = store.get_run(rid)
    assert rec.status == "failed" and rec.message == "ValueError: bad"
