"""A cancel request reaches the engine's long loops between batches, not only between epochs:
the app's Cancel and a server stop (``ui.shutdown``) need every step to end within seconds."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from eos_core.config import TrainConfig
from eos_core.errors import Cancelled
from eos_core.phase1 import build_model, compute_embeddings, train_model


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("small_cnn", in_channels=1, num_classes=3, image_size=8, mean=[0.5], std=[0.5])


def _cancel_on_first_eval_forward(model: torch.nn.Module, cancel: threading.Event) -> list[int]:
    """Set ``cancel`` during the first forward pass in eval mode; returns the rows seen in eval mode."""
    rows: list[int] = []

    def hook(module, args):
        if not module.training:
            rows.append(len(args[0]))
            cancel.set()

    first_conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))  # embed() runs it
    first_conv.register_forward_pre_hook(hook)
    return rows


def test_compute_embeddings_stops_at_the_next_batch() -> None:
    model, cancel = _model(), threading.Event()
    seen = _cancel_on_first_eval_forward(model, cancel)
    with pytest.raises(Cancelled, match="Embedding was cancelled."):
        compute_embeddings(model, np.zeros((10, 1, 8, 8), np.float32), batch_size=4, cancel=cancel)
    assert seen == [4]  # one batch of the three, then the check
    emb, logits = compute_embeddings(model, np.zeros((10, 1, 8, 8), np.float32), batch_size=4,
                                     cancel=threading.Event())  # an unset event changes nothing
    assert emb.shape[0] == 10 and logits.shape == (10, 3)


def test_the_per_epoch_evaluation_stops_at_the_next_batch() -> None:
    """A test set of more than one evaluation batch (1024 rows): the cancel set during the first one
    ends training before the epoch is reported (it used to run the whole test set first)."""
    rng = np.random.default_rng(0)
    x, y = rng.random((60, 1, 8, 8), dtype=np.float32), np.arange(60) % 3
    x_test, y_test = rng.random((1500, 1, 8, 8), dtype=np.float32), np.arange(1500) % 3
    model, cancel, events = _model(), threading.Event(), []
    seen = _cancel_on_first_eval_forward(model, cancel)
    with pytest.raises(Cancelled):
        train_model(model, x, y, x_test, y_test, TrainConfig(epochs=2, batch_size=32, seed=0), num_classes=3,
                    device=torch.device("cpu"), progress=events.append, cancel=cancel)
    assert seen == [1024] and events == []
