"""Phase 3: re-train only the linear classifier head on (balanced) embeddings.

The recipe is the EOS paper's: SGD (lr 0.1, momentum 0.9, weight decay 2e-4), batch 128, 10 epochs,
with a linear learning-rate warm-up. The **last-epoch** head is returned: choosing an epoch by test
accuracy (as the original scripts do) would leak the test set into model selection.

Speed matters (the app re-trains one head per oversampler): the whole embedding matrix lives on the
device, each epoch draws one seeded ``torch.randperm`` and gathers the shuffled rows once, and
mini-batches are contiguous slices — no ``DataLoader``; the loss is summed on the device and read back
once per epoch (one sync instead of one per step). 50k x 64 embeddings, 10 epochs: ~0.9 s on 2 CPU
cores (``bench/bench_head.py``).
"""

from __future__ import annotations

import copy
import math
import threading

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import HeadConfig
from ..errors import Cancelled, ConfigError, TrainingDiverged
from ..events import HeadEpoch, Progress, emit
from ..phase1._device import DEVICE_CHOICES, choose_device

__all__ = ["attach_head", "predict_head", "train_head"]

DeviceLike = str | torch.device


def _device(device: DeviceLike) -> torch.device:
    """``"auto"``/``"cpu"``/``"cuda"``/``"mps"`` through :func:`choose_device`; others as given."""
    if isinstance(device, str) and device.lower() in DEVICE_CHOICES:
        return choose_device(device)
    return torch.device(device)


def _check_inputs(emb: np.ndarray, y: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate shapes and labels; return ``float32 (N, D)`` and ``int64 (N,)`` arrays."""
    emb = np.asarray(emb, dtype=np.float32)
    y = np.asarray(y).astype(np.int64, copy=False).ravel()
    if emb.ndim != 2 or emb.shape[0] == 0 or emb.shape[1] == 0:
        raise ConfigError(f"Embeddings must be a non-empty (N, D) array, got shape {emb.shape}.")
    if y.shape[0] != emb.shape[0]:
        raise ConfigError(f"There are {emb.shape[0]} embeddings but {y.shape[0]} labels.")
    if int(num_classes) < 1:
        raise ConfigError(f"The head needs at least 1 class, got {num_classes!r}.")
    if y.min() < 0 or y.max() >= num_classes:
        raise ConfigError(f"Labels must lie in 0..{num_classes - 1}, found {int(y.min())}..{int(y.max())}.")
    if not np.isfinite(emb).all():
        raise ConfigError("The embeddings contain NaN or infinite values.")
    # torch.from_numpy warns on read-only arrays (memory-mapped .npz members); copy those
    return (emb if emb.flags.writeable else emb.copy()), (y if y.flags.writeable else y.copy())


def _initial_head(dim: int, num_classes: int, init: nn.Linear | None, cfg: HeadConfig) -> nn.Linear:
    """A copy of ``init`` (never the caller's object), or a fresh head drawn from ``cfg.seed``."""
    if init is not None:
        if init.in_features != dim or init.out_features != num_classes:
            raise ConfigError(
                f"The initial head maps {init.in_features} -> {init.out_features} features but the data need "
                f"{dim} -> {num_classes}."
            )
        head = nn.Linear(dim, num_classes, bias=True)
        with torch.no_grad():
            head.weight.copy_(init.weight.detach().float().cpu())
            if init.bias is not None:
                head.bias.copy_(init.bias.detach().float().cpu())
            else:
                head.bias.zero_()
        return head
    if cfg.init_from_phase1:
        raise ConfigError("The head config asks to start from the phase-1 head, but none was given.")
    head = nn.Linear(dim, num_classes)
    # same distribution as nn.Linear's default (U(-1/sqrt(D), 1/sqrt(D))) but from a private
    # generator, so the result depends on cfg.seed only and the global RNG is left untouched
    gen = torch.Generator().manual_seed(int(cfg.seed))
    bound = 1.0 / math.sqrt(dim)
    with torch.no_grad():
        head.weight.uniform_(-bound, bound, generator=gen)
        head.bias.uniform_(-bound, bound, generator=gen)
    return head


def _warmup_factor(step: int, warmup_steps: int) -> float:
    """Linear warm-up: ``(step + 1) / warmup_steps`` for the first ``warmup_steps`` steps, then 1."""
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, (step + 1) / warmup_steps)


def train_head(
    emb: np.ndarray,
    y: np.ndarray,
    cfg: HeadConfig,
    *,
    num_classes: int,
    init: nn.Linear | None = None,
    device: DeviceLike = "cpu",
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> nn.Linear:
    """Train a linear classifier on embeddings (EOS phase 3).

    Parameters
    ----------
    emb : np.ndarray
        ``(N, D)`` float32 embeddings (real rows plus synthetic ones).
    y : np.ndarray
        ``(N,)`` int64 labels in ``0..num_classes-1``.
    cfg : HeadConfig
        ``epochs``, ``batch_size``, ``lr``, ``momentum``, ``weight_decay``, ``warmup_epochs`` (linear
        per-step warm-up from ``lr / warmup_steps`` to ``lr``), ``seed`` (initialisation and
        shuffling), ``init_from_phase1``.
    num_classes : int
        Output size ``C``.
    init : nn.Linear, optional
        Start from a copy of this head (``(D -> C)``; it is never modified). When ``None`` a fresh
        head is drawn from ``cfg.seed``; ``cfg.init_from_phase1`` without ``init`` is a ConfigError.
    device : str or torch.device, default "cpu"
        Where to train (``"auto"`` allowed).
    progress : callable, optional
        Receives a :class:`eos_core.events.HeadEpoch` after every epoch; its ``epoch`` counts
        completed epochs (1..epochs), ``loss`` is the epoch's mean training loss.
    cancel : threading.Event, optional
        Checked before every epoch; when set, raises :class:`Cancelled`.

    Returns
    -------
    nn.Linear
        The head after the last epoch, in eval mode, on ``device``.

    Raises
    ------
    ConfigError
        Bad shapes, labels, config or ``init``.
    TrainingDiverged
        The loss became NaN or infinite.
    Cancelled
        ``cancel`` was set.
    """
    cfg.validate()
    emb, y = _check_inputs(emb, y, num_classes)
    dev = _device(device)
    n, dim = emb.shape
    batch = max(1, int(cfg.batch_size))
    epochs = int(cfg.epochs)

    head = _initial_head(dim, int(num_classes), init, cfg).to(dev).train()
    opt = torch.optim.SGD(head.parameters(), lr=float(cfg.lr), momentum=float(cfg.momentum),
                          weight_decay=float(cfg.weight_decay))
    x_all = torch.from_numpy(emb).to(dev)
    y_all = torch.from_numpy(y).to(dev)
    gen = torch.Generator().manual_seed(int(cfg.seed))  # CPU generator: same order on every device
    steps_per_epoch = math.ceil(n / batch)
    warmup_steps = int(cfg.warmup_epochs) * steps_per_epoch
    step = 0

    for epoch in range(epochs):
        if cancel is not None and cancel.is_set():
            raise Cancelled("Head training was cancelled.")
        perm = torch.randperm(n, generator=gen).to(dev)
        xs, ys = x_all[perm], y_all[perm]  # one gather per epoch; batches below are views
        loss_sum = torch.zeros((), device=dev)
        for start in range(0, n, batch):
            xb, yb = xs[start : start + batch], ys[start : start + batch]
            for group in opt.param_groups:
                group["lr"] = float(cfg.lr) * _warmup_factor(step, warmup_steps)
            loss = F.cross_entropy(head(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * len(yb)
            step += 1
        epoch_loss = float(loss_sum) / n
        if not math.isfinite(epoch_loss) or not bool(torch.isfinite(head.weight).all()):
            raise TrainingDiverged(f"Head training diverged at epoch {epoch + 1}: the loss became {epoch_loss}.")
        emit(progress, HeadEpoch(epoch + 1, epochs, epoch_loss))
    return head.eval()


@torch.no_grad()
def predict_head(
    head: nn.Linear, emb: np.ndarray, *, device: DeviceLike = "cpu", batch_size: int = 8192
) -> tuple[np.ndarray, np.ndarray]:
    """Predict classes from embeddings.

    Parameters
    ----------
    head : nn.Linear
        ``(D -> C)`` classifier (not modified; evaluated on ``device``).
    emb : np.ndarray
        ``(N, D)`` float32 embeddings.
    device : str or torch.device, default "cpu"
    batch_size : int, default 8192
        Rows per forward pass (bounds device memory).

    Returns
    -------
    pred : np.ndarray
        ``(N,)`` int64 arg-max classes.
    logits : np.ndarray
        ``(N, C)`` float32 logits.
    """
    emb = np.asarray(emb, dtype=np.float32)
    if emb.ndim != 2 or emb.shape[1] != head.in_features:
        raise ConfigError(f"Embeddings of shape {emb.shape} do not fit a head expecting {head.in_features} features.")
    if not emb.flags.writeable:
        emb = emb.copy()
    dev = _device(device)
    # a private copy on the device: the caller's head keeps its device and mode
    h = copy.deepcopy(head).to(dev).float().eval()
    out = np.empty((emb.shape[0], head.out_features), dtype=np.float32)
    step = max(1, int(batch_size))
    for start in range(0, emb.shape[0], step):
        xb = torch.from_numpy(emb[start : start + step]).to(dev)
        out[start : start + step] = h(xb).float().cpu().numpy()
    return out.argmax(axis=1).astype(np.int64), out


def attach_head(model: nn.Module, head: nn.Linear) -> nn.Module:
    """Return a copy of ``model`` whose ``head`` is a copy of ``head``.

    Because every model computes ``forward(x) = head(embed(x))``, the combined model's predictions on
    images equal :func:`predict_head` on those images' embeddings. Neither argument is modified.

    Parameters
    ----------
    model : nn.Module
        A phase-1 model with ``embed`` and ``head`` (``embed_dim -> C``).
    head : nn.Linear
        A phase-3 head ``(embed_dim -> C')``.

    Returns
    -------
    nn.Module
        The combined model, on the device and in the mode of ``model``.
    """
    old = getattr(model, "head", None)
    if not isinstance(old, nn.Linear) or not hasattr(model, "embed"):
        raise ConfigError("The model has no linear 'head' and 'embed' to attach a classifier to.")
    if head.in_features != old.in_features:
        raise ConfigError(f"The head expects {head.in_features} features but the model embeds {old.in_features}.")
    combined = copy.deepcopy(model)
    new = copy.deepcopy(head).to(device=old.weight.device, dtype=old.weight.dtype)
    new.train(old.training)
    combined.head = new
    return combined
