"""Runs saved by an earlier version of the engine still open.

``tests/data/saved_runs_0_1/`` is a whole run folder written by version 0.1.0 on 2026-12-04
(``python -m eos_core run --dataset digits --epochs 3 --methods eos,ros``), before the engine
moved into sub-packages. Nothing in it names a module: every artifact is JSON, an ``npz`` of plain
arrays or a state dict. Only the public API (``from eos_core import ...``) and the CLI are used here,
so these tests hold whatever the engine's layout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eos_core import RunStore, load_map, load_methods, load_phase1

SAVED = Path(__file__).parent / "data" / "saved_runs_0_1"
RUN_ID = "20261204-052857-1d6f35"


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    # A copy: opening a store writes its index, and the fixture must stay as it was saved.
    root = tmp_path / "runs"
    shutil.copytree(SAVED, root)
    return RunStore(root)


def _balanced_accuracy(head, emb) -> float:
    import torch
    from sklearn.metrics import balanced_accuracy_score

    with torch.no_grad():
        pred = head(torch.from_numpy(emb.test_emb)).argmax(1).numpy()
    return float(balanced_accuracy_score(emb.test_y, pred))


def _record() -> dict:
    return json.loads((SAVED / RUN_ID / "record.json").read_text())


def test_old_run_is_listed_finished(store: RunStore) -> None:
    runs = store.list_runs()
    assert [r.id for r in runs] == [RUN_ID]
    assert runs[0].status == "finished"
    assert store.damaged == []
    assert runs[0].metrics == _record()["metrics"]


def test_old_run_phase1_and_model_load(store: RunStore) -> None:
    p1 = load_phase1(store, RUN_ID, with_head=True, with_model=True)
    assert p1.num_classes == 10
    with np.load(SAVED / RUN_ID / "embeddings.npz") as z:
        np.testing.assert_array_equal(p1.embeddings.train_emb, z["train_emb"])
        np.testing.assert_array_equal(p1.embeddings.test_y, z["test_y"])
    # The saved head, on the saved test embeddings, gives the balanced accuracy the run recorded.
    assert _balanced_accuracy(p1.head, p1.embeddings) == pytest.approx(
        _record()["metrics"]["phase1"]["balanced_accuracy"], abs=1e-9)
    assert p1.model is not None


def test_old_run_methods_match_their_record(store: RunStore) -> None:
    methods = load_methods(store, RUN_ID, with_heads=True)
    assert sorted(methods) == ["crt", "eos", "ros"]
    stored = _record()["metrics"]["methods"]
    emb = load_phase1(store, RUN_ID).embeddings
    for name, res in methods.items():
        assert res.metrics["balanced_accuracy"] == stored[name]["balanced_accuracy"]
        assert _balanced_accuracy(res.head, emb) == pytest.approx(stored[name]["balanced_accuracy"], abs=1e-9)
    assert methods["eos"].X_syn.shape == (methods["eos"].n_synthetic, emb.train_emb.shape[1])


def test_old_run_map_loads(store: RunStore) -> None:
    m = load_map(store, RUN_ID)
    assert m is not None and m.method == "umap"
    with np.load(SAVED / RUN_ID / "embeddings.npz") as z:
        n_train = len(z["train_y"])
    assert m.train.shape == (n_train, 2)


def test_old_run_through_the_cli(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    shutil.copytree(SAVED, root)
    out = subprocess.run([sys.executable, "-m", "eos_core", "list", "--json", "--runs-dir", str(root)],
                         capture_output=True, text=True, check=True).stdout
    rows = json.loads(out)
    assert [r["run_id"] for r in rows] == [RUN_ID]
    assert rows[0]["status"] == "finished"
