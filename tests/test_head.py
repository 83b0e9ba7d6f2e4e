"""Phase 3: head re-training, prediction, and re-attaching the head to the CNN."""

from __future__ import annotations

import copy
import threading

import numpy as np
import pytest
import torch
from torch import nn

from eos_core.config import HeadConfig
from eos_core.errors import Cancelled, ConfigError, TrainingDiverged
from eos_core.evaluation import attach_head, predict_head, train_head
from eos_core.phase1 import SmallCNN


def _blobs(n_per_class: int = 200, num_classes: int = 4, dim: int = 16, seed: int = 0):
    """Gaussian blobs 14 units apart with noise sd 0.5: linearly separable with a huge margin."""
    rng = np.random.default_rng(seed)
    centers = np.eye(num_classes, dim) * 10.0
    y = np.repeat(np.arange(num_classes), n_per_class).astype(np.int64)
    x = (centers[y] + 0.5 * rng.normal(size=(y.size, dim))).astype(np.float32)
    return x, y


def test_learns_separable_blobs():
    x, y = _blobs()
    head = train_head(x, y, HeadConfig(epochs=5), num_classes=4)
    assert isinstance(head, nn.Linear) and (head.in_features, head.out_features) == (16, 4)
    assert not head.training
    pred, logits = predict_head(head, x)
    assert (pred == y).mean() == 1.0
    # fresh draws: a few epochs of SGD stop at the first separating boundary, not the max-margin one,
    # so a rare far-out test point may fall on the wrong side
    x_test, y_test = _blobs(seed=1)
    assert (predict_head(head, x_test)[0] == y_test).mean() >= 0.99
    assert pred.dtype == np.int64 and logits.dtype == np.float32 and logits.shape == (800, 4)


def test_deterministic_for_a_seed():
    x, y = _blobs()
    a = train_head(x, y, HeadConfig(epochs=2, seed=3), num_classes=4)
    b = train_head(x, y, HeadConfig(epochs=2, seed=3), num_classes=4)
    c = train_head(x, y, HeadConfig(epochs=2, seed=4), num_classes=4)
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    assert not torch.equal(a.weight, c.weight)


def test_init_is_copied_not_mutated():
    x, y = _blobs()
    torch.manual_seed(0)
    init = nn.Linear(16, 4)
    before = copy.deepcopy(init.state_dict())
    head = train_head(x, y, HeadConfig(epochs=2, init_from_phase1=True), num_classes=4, init=init)
    assert head is not init
    for k, v in init.state_dict().items():
        assert torch.equal(v, before[k])
    assert not torch.equal(head.weight, init.weight)  # it did train
    # zero epochs of change: with lr ~ 0 the result stays at the init (i.e. training started from it)
    still = train_head(x, y, HeadConfig(epochs=1, lr=1e-30), num_classes=4, init=init)
    torch.testing.assert_close(still.weight, init.weight)


def test_init_errors():
    x, y = _blobs()
    with pytest.raises(ConfigError):
        train_head(x, y, HeadConfig(init_from_phase1=True), num_classes=4)
    with pytest.raises(ConfigError):
        train_head(x, y, HeadConfig(), num_classes=4, init=nn.Linear(8, 4))


def test_bad_inputs_raise_config_error():
    x, y = _blobs()
    with pytest.raises(ConfigError):
        train_head(x, y[:-1], HeadConfig(), num_classes=4)
    with pytest.raises(ConfigError):
        train_head(x, y, HeadConfig(), num_classes=3)  # label 3 out of range
    with pytest.raises(ConfigError):
        train_head(x[:, :, None], y, HeadConfig(), num_classes=4)
    with pytest.raises(ConfigError):
        train_head(x, y, HeadConfig(epochs=0), num_classes=4)


def test_progress_and_cancel():
    x, y = _blobs()
    seen = []
    train_head(x, y, HeadConfig(epochs=3), num_classes=4,
               progress=lambda ev: seen.append((ev.epoch, ev.epochs, ev.loss)))
    assert [(e, n) for e, n, _ in seen] == [(1, 3), (2, 3), (3, 3)]
    assert all(np.isfinite(loss) for _, _, loss in seen)
    assert seen[-1][2] < seen[0][2]

    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        train_head(x, y, HeadConfig(epochs=3), num_classes=4, cancel=stop)

    stop = threading.Event()
    calls = []

    def cancel_after_first(ev):
        calls.append(ev.epoch)
        stop.set()

    with pytest.raises(Cancelled):
        train_head(x, y, HeadConfig(epochs=5), num_classes=4, progress=cancel_after_first, cancel=stop)
    assert calls == [1]


def test_nan_loss_raises_training_diverged():
    x, y = _blobs()
    with pytest.raises(TrainingDiverged):
        train_head(x * 1e36, y, HeadConfig(epochs=2, lr=10.0, warmup_epochs=0), num_classes=4)  # lr at its cap


def test_predict_head_matches_the_linear_layer_in_batches():
    x, y = _blobs()
    torch.manual_seed(0)
    head = nn.Linear(16, 4)
    pred, logits = predict_head(head, x, batch_size=64)  # several batches, last one partial
    with torch.no_grad():
        ref = head(torch.from_numpy(x))
    np.testing.assert_allclose(logits, ref.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(pred, ref.argmax(1).numpy())
    with pytest.raises(ConfigError):
        predict_head(head, x[:, :8])


def test_attach_head_combined_predictions_equal_head_on_embeddings():
    torch.manual_seed(0)
    model = SmallCNN(1, 5, 8).eval()
    g = torch.Generator().manual_seed(0)
    images = torch.rand(300, 1, 8, 8, generator=g)
    with torch.no_grad():
        emb = model.embed(images).numpy()
    labels = np.random.default_rng(0).integers(0, 5, size=300).astype(np.int64)
    head = train_head(emb, labels, HeadConfig(epochs=3), num_classes=5)
    old_head = copy.deepcopy(model.head.state_dict())

    combined = attach_head(model, head)
    assert combined is not model and combined.head is not head
    assert not combined.training
    with torch.no_grad():
        combined_logits = combined(images)
    pred, logits = predict_head(head, emb)
    np.testing.assert_array_equal(combined_logits.argmax(1).numpy(), pred)
    np.testing.assert_allclose(combined_logits.numpy(), logits, rtol=1e-5, atol=1e-5)
    for k, v in model.head.state_dict().items():  # the original model keeps its head
        assert torch.equal(v, old_head[k])

    with pytest.raises(ConfigError):
        attach_head(model, nn.Linear(7, 5))


def test_matches_autograd_and_torch_sgd():
    """train_head is exactly the recipe: CE, SGD with momentum and weight decay, per-step warm-up, seeded order."""
    x, y = _blobs(n_per_class=150, seed=2)
    cfg = HeadConfig(epochs=3, batch_size=128, lr=0.1, momentum=0.9, weight_decay=2e-4, warmup_epochs=1, seed=5)
    torch.manual_seed(1)
    init = nn.Linear(16, 4)
    ours = train_head(x, y, cfg, num_classes=4, init=init)

    ref = copy.deepcopy(init)
    opt = torch.optim.SGD(ref.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(cfg.seed)
    steps_per_epoch = -(-len(y) // cfg.batch_size)
    step = 0
    for _ in range(cfg.epochs):
        perm = torch.randperm(len(y), generator=gen)
        for start in range(0, len(y), cfg.batch_size):
            b = perm[start : start + cfg.batch_size]
            for group in opt.param_groups:  # linear per-step warm-up over the first epoch
                group["lr"] = cfg.lr * min(1.0, (step + 1) / steps_per_epoch)
            opt.zero_grad()
            nn.functional.cross_entropy(ref(xt[b]), yt[b]).backward()
            opt.step()
            step += 1
    torch.testing.assert_close(ours.weight, ref.weight, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours.bias, ref.bias, rtol=1e-4, atol=1e-5)
