"""Phases 1-3 end to end on digits: one small real run shared by the tests of this module."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from eos_core.config import METHODS, DataConfig, HeadConfig, RunConfig, TrainConfig
from eos_core.data import load_dataset
from eos_core.evaluation import attach_head, predict_head, train_head
from eos_core.pipeline import run_method, run_methods, run_pipeline
from eos_core.store import RunStore, load_map, load_methods, load_phase1


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("runs"))
    cfg = RunConfig(data=DataConfig(dataset="digits", ratio=20, seed=0),
                    train=TrainConfig(epochs=10, seed=0, gap_snapshots=False), head=HeadConfig(epochs=10, seed=0))
    return store, cfg, run_pipeline(cfg, store=store)


def test_every_method_balances_and_is_scored(result):
    _, _, res = result
    counts = np.array(res.phase1.train_counts)
    assert list(res.methods) == list(METHODS)
    assert res.methods["none"].n_synthetic == 0
    for name in ("ros", "smote", "eos"):
        m = res.methods[name]
        # filled up to the majority count exactly
        assert m.n_synthetic == int((counts.max() - counts).sum()), name
        assert np.array_equal(np.bincount(m.y_syn, minlength=10) + counts, np.full(10, counts.max()))
    for m in res.methods.values():
        assert 0.0 <= m.metrics["balanced_accuracy"] <= 1.0 and len(m.metrics["per_class_recall"]) == 10


def test_eos_provenance_on_real_embeddings(result):
    _, cfg, res = result
    e = res.phase1.embeddings
    m = res.methods["eos"]
    base, partner, r = m.provenance["base"], m.provenance["partner"], m.provenance["r"]
    assert len(base) == len(partner) == len(r) == m.n_synthetic
    assert np.all(e.train_y[partner] != e.train_y[base])
    assert np.array_equal(m.y_syn, e.train_y[base])
    expect = e.train_emb[base] + r[:, None] * (e.train_emb[partner] - e.train_emb[base])
    assert np.allclose(m.X_syn, expect, atol=1e-5)


def test_head_put_back_on_the_cnn_predicts_like_the_head(result):
    store, _, res = result
    p1 = load_phase1(store, res.phase1.run_id, with_model=True)
    head = load_methods(store, res.phase1.run_id, with_heads=True)["eos"].head
    assert torch.equal(head.weight, res.methods["eos"].head.weight)
    combined = attach_head(p1.model, head).eval()
    data = load_dataset("digits")
    with torch.no_grad():
        img_pred = combined(torch.from_numpy(data.x_test)).argmax(1).numpy()
    emb_pred, _ = predict_head(head, p1.embeddings.test_emb)
    assert np.array_equal(img_pred, emb_pred)


def test_results_are_saved_and_reloaded_without_recomputation(result):
    store, _, res = result
    rec = store.get_run(res.phase1.run_id)
    assert rec.status == "finished"
    assert set(rec.metrics["methods"]) == set(METHODS)
    loaded = load_methods(store, res.phase1.run_id)
    assert set(loaded) == set(METHODS)
    assert np.array_equal(loaded["eos"].X_syn, res.methods["eos"].X_syn)
    assert np.array_equal(loaded["eos"].provenance["partner"], res.methods["eos"].provenance["partner"])
    assert loaded["smote"].metrics["balanced_accuracy"] == res.methods["smote"].metrics["balanced_accuracy"]


def test_gap_report_and_closure(result):
    _, _, res = result
    gap = res.gap
    assert [g["class"] for g in gap["per_class"]] == list(range(10))
    assert [g["train_count"] for g in gap["per_class"]] == res.phase1.train_counts
    assert set(gap["size_gap_spearman"]) == {"centroid_ratio", "nn_ratio", "nn1_recall_gap"}
    assert set(gap["closure"]) == set(METHODS)
    assert all(0.0 <= v <= 1.0 for v in gap["closure"]["none"] if v is not None)


def test_run_json_cli_on_digits(tmp_path):
    out = subprocess.run([sys.executable, "-m", "eos_core", "run", "--dataset", "digits", "--ratio", "50",
                          "--seed", "0", "--epochs", "4", "--methods", "none,ros,eos", "--json",
                          "--runs-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert set(res) >= {"run_id", "train_counts", "test_counts", "phase1", "timings", "methods", "gap"}
    assert list(res["methods"]) == ["none", "crt", "ros", "eos"]  # the control is always added
    for m in res["methods"].values():
        assert set(m) >= {"balanced_accuracy", "g_mean", "macro_f1", "per_class_recall", "n_synthetic", "seconds",
                          "delta_vs_crt", "partner_share"}
    assert res["methods"]["crt"]["delta_vs_crt"] is None and res["methods"]["ros"]["partner_share"]["self"] == 1.0
    assert res["methods"]["eos"]["partner_share"]["enemy"] == 1.0
    counts = res["train_counts"]
    assert res["methods"]["eos"]["n_synthetic"] == sum(max(counts) - c for c in counts)
    row = res["gap"]["per_class"][0]
    assert set(row) >= {"class", "train_count", "centroid_ratio", "nn_ratio", "nn1_recall_gap", "nn_ratio_p"}
    assert "size_gap_spearman" in res["gap"]
    # The CLI's run leaves its UMAP map in the run folder, and the app's map reader opens it.
    store = RunStore(tmp_path)
    saved = load_map(store, res["run_id"])
    assert saved is not None and saved.method == "umap"
    assert saved.train.shape == (sum(counts), 2) and saved.test.shape == (sum(res["test_counts"]), 2)
    assert set(saved.synthetic) == {"ros", "eos"}  # "none" and "crt" add no point
    assert len(saved.synthetic_rows["eos"]) == len(saved.synthetic["eos"]) == res["methods"]["eos"]["n_synthetic"]
    from ui.maps import saved_map

    app = saved_map(str(tmp_path), res["run_id"], 0.0)
    assert np.array_equal(app["train"], saved.train) and np.array_equal(app["synthetic_eos_rows"],
                                                                        saved.synthetic_rows["eos"])


# -- the control and the paired differences ------------------------------------------------------
def test_crt_is_a_head_retrained_on_the_real_embeddings_with_the_shared_seed(result):
    _, cfg, res = result
    e = res.phase1.embeddings
    crt = res.methods["crt"]
    assert crt.n_synthetic == 0 and crt.provenance is None
    direct = train_head(e.train_emb, e.train_y, cfg.head, num_classes=10)
    assert torch.equal(crt.head.weight, direct.weight) and torch.equal(crt.head.bias, direct.bias)
    again = run_method(res.phase1, cfg, "crt")
    assert torch.equal(again.head.weight, crt.head.weight)
    assert again.metrics["balanced_accuracy"] == crt.metrics["balanced_accuracy"]
    # the phase-1 head is not re-trained
    assert not torch.equal(res.methods["none"].head.weight, crt.head.weight)


def test_delta_vs_crt_is_the_exact_paired_difference(result):
    _, _, res = result
    crt = res.methods["crt"].metrics
    assert "delta_vs_crt" not in crt
    for name, m in res.methods.items():
        if name == "crt":
            continue
        assert m.metrics["delta_vs_crt"] == {k: m.metrics[k] - crt[k] for k in ("balanced_accuracy", "g_mean",
                                                                                 "macro_f1")}, name


def test_partner_shares_on_real_embeddings(result):
    _, _, res = result
    e = res.phase1.embeddings
    assert res.methods["eos"].metrics["partner_share"] == {"enemy": 1.0, "self": 0.0, "same_class": 0.0}
    pub = res.methods["eos_published"]
    share = pub.metrics["partner_share"]
    base, partner = pub.provenance["base"], pub.provenance["partner"]
    assert share["self"] == float(np.mean(base == partner))
    assert share["enemy"] == float(np.mean(e.train_y[partner] != e.train_y[base]))
    assert share["enemy"] + share["self"] + share["same_class"] == pytest.approx(1.0, abs=1e-12)
    # the synthetic labels are the bases' classes under both rules
    assert np.array_equal(pub.y_syn, e.train_y[base])
    for name in ("none", "crt"):
        assert res.methods[name].metrics["partner_share"] is None
    # copies pair a point with itself; SMOTE interpolates within the class
    assert res.methods["ros"].metrics["partner_share"] == {"enemy": 0.0, "self": 1.0, "same_class": 0.0}
    assert res.methods["smote"].metrics["partner_share"] == {"enemy": 0.0, "self": 0.0, "same_class": 1.0}


def test_saved_methods_json_has_the_new_keys_in_display_order(result):
    store, _, res = result
    saved = store.load_json(res.phase1.run_id, "methods")
    assert list(saved) == list(METHODS)
    assert saved["eos"]["delta_vs_crt"] == res.methods["eos"].metrics["delta_vs_crt"]
    assert saved["eos_published"]["partner_share"] == res.methods["eos_published"].metrics["partner_share"]


def test_run_methods_adds_the_control(result):
    _, cfg, res = result
    out = run_methods(res.phase1, cfg, methods=["eos"])
    assert list(out) == ["crt", "eos"]
    assert out["eos"].metrics["balanced_accuracy"] == res.methods["eos"].metrics["balanced_accuracy"]
    assert list(run_methods(res.phase1, cfg, methods=["none", "ros"])) == ["none", "crt", "ros"]


def test_default_digits_phase1_fits_every_class():
    # The defaults (shared by the CLI and the app) must give the memorising phase 1 the paper builds on.
    from eos_core.config import RunConfig
    from eos_core.pipeline import run_phase1

    p1 = run_phase1(RunConfig())
    assert p1.config.data.dataset == "digits" and p1.config.train.epochs == 30
    assert min(p1.train_recall) >= 0.95, p1.train_recall


def test_resample_notes_name_every_class_left_unfilled():
    import warnings as _w

    from eos_core.pipeline import _resample_notes

    train_y = np.array([0] * 6 + [1] * 3 + [2] * 2)
    y_syn = np.array([1, 1, 1], dtype=np.int64)  # class 2 got nothing
    with _w.catch_warnings(record=True) as caught:
        _w.simplefilter("always")
        _w.warn("ADASYN generated no samples for class 2: no enemies.", UserWarning, stacklevel=1)
    with pytest.warns(UserWarning, match="ADASYN generated no samples"):  # re-emitted for the CLI
        notes = _resample_notes("adasyn", caught, train_y, y_syn, ["zero", "one", "two"])
    assert notes == ["ADASYN generated no samples for class 2: no enemies.",
                     "ADASYN made no synthetic points for class 'two' (2 training points)."]
    assert _resample_notes("crt", [], train_y, np.zeros(0, np.int64), ["zero", "one", "two"]) == []
