import threading

import numpy as np
import pytest
import torch

from eos_core.config import DataConfig, RunConfig, TrainConfig
from eos_core.errors import Cancelled, TrainingDiverged
from eos_core.events import DataLoading, Embedding, EpochDone, RunCreated
from eos_core.phase1 import AugmentSpec, augment_batch, compute_embeddings, lr_at, train_model
from eos_core.pipeline import run_phase1
from eos_core.store import RunStore, load_phase1


def test_lr_schedule_warmup_then_late_decay():
    cfg = TrainConfig(epochs=40, lr=0.1, warmup_frac=0.05, decay_at=(0.8, 0.9))
    spe = 10  # steps per epoch; warm-up = 2 epochs = 20 steps
    assert lr_at(0, spe, cfg) == pytest.approx(0.1 / 20)
    assert lr_at(19, spe, cfg) == pytest.approx(0.1)
    assert lr_at(20, spe, cfg) == pytest.approx(0.1)
    assert lr_at(31 * spe, spe, cfg) == pytest.approx(0.1)
    assert lr_at(32 * spe, spe, cfg) == pytest.approx(0.1 * 1e-2)
    assert lr_at(36 * spe, spe, cfg) == pytest.approx(0.1 * 1e-4)


def test_augment_shift_moves_pixels_and_keeps_shape():
    x = torch.zeros(64, 1, 8, 8)
    x[:, :, 3, 3] = 1.0
    g = torch.Generator().manual_seed(0)
    out = augment_batch(x, AugmentSpec(pad=1, flip=False), g)
    assert out.shape == x.shape
    assert torch.all(out.sum(dim=(1, 2, 3)) == 1.0)  # a 1-pixel shift of an inner pixel keeps it
    positions = {tuple(np.argwhere(o[0].numpy() == 1.0)[0]) for o in out}
    assert positions <= {(r, c) for r in (2, 3, 4) for c in (2, 3, 4)}
    assert len(positions) > 3  # really random
    flipped = augment_batch(x, AugmentSpec(pad=0, flip=True), torch.Generator().manual_seed(1))
    assert {tuple(np.argwhere(o[0].numpy() == 1.0)[0]) for o in flipped} == {(3, 3), (3, 4)}


def _digits_cfg(**train) -> RunConfig:
    t = dict(epochs=25, seed=0, gap_snapshots=True, snapshot_size=300)
    t.update(train)
    return RunConfig(data=DataConfig(dataset="digits", ratio=10, seed=0), train=TrainConfig(**t))


def test_short_digits_run_really_learns_and_is_saved(tmp_path):
    store = RunStore(tmp_path)
    events = []
    p1 = run_phase1(_digits_cfg(), store=store, progress=events.append)
    assert p1.metrics["balanced_accuracy"] > 0.6  # chance is 0.1
    assert [e.stats.epoch for e in events if isinstance(e, EpochDone)] == list(range(1, 26))
    assert [type(e) for e in events] == [DataLoading, RunCreated] + [EpochDone] * 25 + [Embedding]
    assert events[1].run_id == p1.run_id and events[-2].to_dict() == {"phase": "train", **p1.history[-1]}
    assert p1.history[-1]["gap"] is not None and len(p1.history[-1]["gap"]["nn_ratio"]) == 10
    e = p1.embeddings
    assert e.train_emb.dtype == np.float32 and e.train_emb.shape[0] == sum(p1.train_counts)
    assert e.test_emb.shape[0] == 540 and e.test_logits.shape == (540, 10)
    assert store.get_run(p1.run_id).status == "finished"
    again = load_phase1(store, p1.run_id, with_model=True)
    assert np.array_equal(again.embeddings.test_emb, e.test_emb)
    emb, logits = compute_embeddings(again.model, np.zeros((3, 1, 8, 8), np.float32))
    assert emb.shape == (3, e.train_emb.shape[1]) and logits.shape == (3, 10)
    with torch.no_grad():
        assert np.allclose(again.head(torch.from_numpy(e.test_emb)).numpy(), e.test_logits, atol=1e-5)


def test_same_seed_same_history():
    a = run_phase1(_digits_cfg(epochs=3, gap_snapshots=False))
    b = run_phase1(_digits_cfg(epochs=3, gap_snapshots=False))
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    assert np.array_equal(a.embeddings.test_emb, b.embeddings.test_emb)


def test_nan_loss_stops_with_clear_message():
    from eos_core.phase1 import build_model

    x = np.full((32, 1, 8, 8), np.nan, np.float32)
    y = np.arange(32) % 4
    model = build_model("small_cnn", in_channels=1, num_classes=4, image_size=8)
    with pytest.raises(TrainingDiverged, match="loss became nan"):
        train_model(model, x, y, x[:4], y[:4], TrainConfig(epochs=2), num_classes=4, device=torch.device("cpu"))


def test_cancel_between_batches_marks_run_cancelled(tmp_path):
    store = RunStore(tmp_path)
    cancel = threading.Event()

    def on_progress(ev):
        if isinstance(ev, EpochDone) and ev.stats.epoch == 1:
            cancel.set()

    with pytest.raises(Cancelled):
        run_phase1(_digits_cfg(epochs=5), store=store, progress=on_progress, cancel=cancel)
    (rec,) = store.list_runs()
    assert rec.status == "cancelled"


def test_bf16_training_keeps_its_gap_snapshots():
    """The GPU fast path (bf16 autocast) with per-epoch gap snapshots, exercised on the CPU."""
    from eos_core.data import load_digits
    from eos_core.phase1 import Accel, build_model

    data = load_digits()
    x, y = data.x_train[:400], data.y_train[:400]
    model = build_model("small_cnn", in_channels=1, num_classes=10, image_size=8)
    snap = (np.arange(0, 400, 2), np.arange(0, 100, 2))
    history = train_model(model, x, y, data.x_test[:100], data.y_test[:100], TrainConfig(epochs=2),
                          num_classes=10, device=torch.device("cpu"), snapshot_idx=snap, accel=Accel(bf16=True))
    assert [h.epoch for h in history] == [1, 2]
    for h in history:
        assert set(h.gap) >= {"centroid_ratio", "nn_ratio", "nn1_recall_gap"}
        assert len(h.gap["nn_ratio"]) == 10


def test_batch_of_one_is_rejected():
    from eos_core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"Batch size must be an integer in \[2, "):
        TrainConfig(batch_size=1).validate()
