"""Phase 1: end-to-end training of the CNN on the imbalanced training set.

The recipe is the paper's (after LDAM-DRW): SGD with momentum 0.9, weight decay 2e-4, batch 128,
lr 0.1 with a linear warm-up, and a late step decay (x0.01, then x0.0001) — with warm-up length and
decay points given as fractions of the epoch count so that short demo runs keep the same shape.

On CUDA (see :func:`eos_core.phase1.accel_for`) the whole training set, the augmentation and the
evaluation stay on the GPU, forward passes run under bf16 autocast, the model is channels-last, SGD
is fused and, with ``$EOS_COMPILE``, the training step is compiled; nothing in the step reads a value
back to the host (the NaN guard is checked once per epoch), so the CPU can queue steps ahead of the
GPU. On CPU none of this applies and training is what it always was. Under ``torchrun`` the model is
wrapped in ``DistributedDataParallel`` and each rank trains on its share of every global batch
(:mod:`eos_core.phase1._distributed`).
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from sklearn.metrics import balanced_accuracy_score
from torch.nn.parallel import DistributedDataParallel

from ..config import TrainConfig
from ..errors import Cancelled, TrainingDiverged
from ..events import EpochDone, EpochStats, Progress, emit
from ..gap._report import generalization_gap
from ._augment import AugmentSpec, augment_batch
from ._device import Accel, accel_for
from ._distributed import DistContext, broadcast_buffers, current, gather_rows, split_global_batch
from ._embeddings import embed_batches
from ._losses import ImbalanceLoss, build_loss


def lr_at(step: int, steps_per_epoch: int, cfg: TrainConfig) -> float:
    """Learning rate at a global step: linear warm-up, then x0.01 and x0.0001 steps (LDAM-DRW)."""
    epoch_f = step / max(1, steps_per_epoch)
    warmup = max(1.0, cfg.warmup_frac * cfg.epochs) if cfg.epochs > 1 else 0.0
    if epoch_f < warmup:
        return cfg.lr * (step + 1) / (warmup * steps_per_epoch)
    epoch = step // max(1, steps_per_epoch)
    d1, d2 = (math.floor(f * cfg.epochs) for f in cfg.decay_at)
    if cfg.epochs >= 5 and epoch >= d2:
        return cfg.lr * 1e-4
    if cfg.epochs >= 5 and epoch >= d1:
        return cfg.lr * 1e-2
    return cfg.lr


@dataclass(frozen=True)
class _Loop:
    """What every epoch of one training reads (built once by :func:`_prepare`)."""

    cfg: TrainConfig
    model: torch.nn.Module        # the model itself: evaluation, buffers, snapshots
    step_model: torch.nn.Module   # what a training step calls: DDP-wrapped under torchrun, compiled on request
    criterion: ImbalanceLoss
    opt: torch.optim.Optimizer
    xt: torch.Tensor              # (N, C, H, W) training images on the device
    yt: torch.Tensor              # (N,) int64
    xte: torch.Tensor             # (M, C, H, W) test images on the device
    gen: torch.Generator          # the epoch permutations (CPU; the same on every rank)
    aug_gen: torch.Generator      # the augmentation draws
    augment: AugmentSpec | None   # applied only when cfg.augment
    device: torch.device
    bf16: bool
    ctx: DistContext | None
    batch_size: int               # global (all ranks together)
    steps_per_epoch: int
    # On CPU in one process every NaN check is immediate, as it always was; on a GPU or across ranks
    # the NaN guard is one flag checked per epoch (a per-step check would wait for the GPU every step,
    # and a rank raising alone would leave the others waiting in a collective).
    check_each_step: bool
    cancel: threading.Event | None


@dataclass(frozen=True)
class _Snapshot:
    """The fixed subsamples of the per-epoch gap snapshot."""

    x_train: torch.Tensor         # (n, C, H, W) training images on the device
    y_train: np.ndarray           # (n,)
    test_rows: np.ndarray         # (m,) rows of the test set


def train_model(
    model: torch.nn.Module,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    cfg: TrainConfig,
    *,
    num_classes: int,
    device: torch.device,
    augment: AugmentSpec | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    snapshot_idx: tuple[np.ndarray, np.ndarray] | None = None,
    accel: Accel | None = None,
) -> list[EpochStats]:
    """Train ``model`` in place and return the per-epoch history.

    Parameters
    ----------
    model : nn.Module with ``embed`` and ``head``
    x_train, x_test : np.ndarray, float32, shape (N, C, H, W) in [0, 1]
    y_train, y_test : np.ndarray, int64, shape (N,)
    cfg : TrainConfig
    augment : AugmentSpec, optional
        Batch augmentation (only used when ``cfg.augment``).
    progress : callable, optional
        Called once per epoch with an :class:`eos_core.events.EpochDone` holding the epoch's
        :class:`EpochStats`.
    cancel : threading.Event, optional
        Checked before every training batch and every evaluation batch of an epoch; when set,
        :class:`Cancelled` is raised.
    snapshot_idx : (train_rows, test_rows), optional
        Fixed subsamples on which a per-epoch gap snapshot is computed (``EpochStats.gap``).
    accel : Accel, optional
        Speed settings; default :func:`eos_core.phase1.accel_for` of ``device`` (none on CPU).

    Raises
    ------
    TrainingDiverged
        When the loss becomes NaN or infinite.
    """
    loop = _prepare(model, x_train, y_train, x_test, cfg, num_classes=num_classes, device=device, augment=augment,
                    cancel=cancel, accel=accel_for(device) if accel is None else accel)
    snapshot = None
    if snapshot_idx is not None:
        snapshot = _Snapshot(loop.xt[torch.from_numpy(snapshot_idx[0]).to(device)],
                             np.asarray(y_train)[snapshot_idx[0]], snapshot_idx[1])
    history: list[EpochStats] = []
    step = 0
    for epoch in range(cfg.epochs):
        t0 = time.perf_counter()
        loss_sum, correct, step = _train_epoch(loop, epoch, step)
        stats = _epoch_stats(loop, epoch, loss_sum, correct, np.asarray(y_test), snapshot, num_classes, t0)
        history.append(stats)
        emit(progress, EpochDone(stats))
    model.eval()
    return history


def _prepare(model: torch.nn.Module, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
             cfg: TrainConfig, *, num_classes: int, device: torch.device, augment: AugmentSpec | None,
             cancel: threading.Event | None, accel: Accel) -> _Loop:
    """Seed, move the model and the data to ``device``, build the loss and the optimizer."""
    ctx = current()
    torch.manual_seed(cfg.seed)
    gen, aug_gen = _generators(cfg.seed, device, ctx)
    _place_model(model, device, accel)
    xt = torch.from_numpy(np.ascontiguousarray(x_train)).to(device)
    yt = torch.from_numpy(np.ascontiguousarray(y_train, dtype=np.int64)).to(device)
    xte = torch.from_numpy(np.ascontiguousarray(x_test)).to(device)
    criterion = build_loss(cfg.loss, np.bincount(y_train, minlength=num_classes), epochs=cfg.epochs,
                           drw_frac=cfg.drw_frac, focal_gamma=cfg.focal_gamma, device=device)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                          **({"fused": True} if accel.fused_optimizer else {}))
    step_model = _step_module(model, device, ctx, accel.compile)
    bs = cfg.effective_batch_size(len(xt))
    return _Loop(cfg=cfg, model=model, step_model=step_model, criterion=criterion, opt=opt, xt=xt, yt=yt, xte=xte,
                 gen=gen, aug_gen=aug_gen, augment=augment, device=device, bf16=accel.bf16, ctx=ctx, batch_size=bs,
                 steps_per_epoch=max(1, math.ceil(len(xt) / bs)),
                 check_each_step=device.type == "cpu" and ctx is None, cancel=cancel)


def _generators(seed: int, device: torch.device, ctx: DistContext | None) -> tuple[torch.Generator, torch.Generator]:
    """The generator of the epoch permutations (CPU) and that of the augmentation draws."""
    gen = torch.Generator().manual_seed(seed)
    if device.type != "cuda" and ctx is None:
        return gen, gen
    # Draws on the GPU (no host round trip per batch); a different stream of draws per rank.
    rank = ctx.rank if ctx is not None else 0
    return gen, torch.Generator(device=device).manual_seed(seed + 1_000_003 * rank)


def _place_model(model: torch.nn.Module, device: torch.device, accel: Accel) -> None:
    """Move ``model`` to ``device`` in the memory format ``accel`` asks for."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest convolution once
    model.to(device)
    if accel.channels_last is not None:
        model.to(memory_format=torch.channels_last if accel.channels_last else torch.contiguous_format)


def _step_module(model: torch.nn.Module, device: torch.device, ctx: DistContext | None,
                 compile_mode: str | None) -> torch.nn.Module:
    """What the training step calls: the model, DDP-wrapped under torchrun, compiled on request.

    Evaluation and snapshots use ``model`` itself (unwrapped): one rank's share, no gradient sync.
    """
    step = model
    if ctx is not None:
        ids = None
        if device.type == "cuda":
            ids = [device.index if device.index is not None else torch.cuda.current_device()]
        step = DistributedDataParallel(model, device_ids=ids)
    if compile_mode is not None:
        step = torch.compile(step, mode=compile_mode)
    return step


def _autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on ``device`` when ``bf16``, else a no-op context."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16)


# --------------------------------------------------------------------------- one epoch

def _train_epoch(loop: _Loop, epoch: int, step: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """One pass over the training set in a fresh random order.

    Returns the summed loss and the number of correct predictions over every rank (float64
    scalars under torchrun), and the global step reached.
    """
    loop.criterion.set_epoch(epoch)
    loop.model.train()
    perm = torch.randperm(len(loop.xt), generator=loop.gen).to(loop.device)
    loss_sum = torch.zeros((), device=loop.device)
    correct = torch.zeros((), device=loop.device, dtype=torch.long)
    finite = torch.ones((), device=loop.device, dtype=torch.bool)
    for b in range(loop.steps_per_epoch):
        if loop.cancel is not None and loop.cancel.is_set():
            raise Cancelled("Training was cancelled.")
        idx = _batch_rows(loop, perm, b)
        if idx is None:
            continue
        logits, loss, yb = _forward(loop, idx, step)
        finite = _nan_guard(loop, loss, finite, epoch=epoch, batch=b)
        loop.opt.zero_grad(set_to_none=True)
        loss.backward()
        loop.opt.step()
        step += 1
        loss_sum += loss.detach() * len(idx)
        correct += (logits.detach().argmax(1) == yb).sum()
    broadcast_buffers(loop.model, loop.ctx)
    loss_sum, correct, n_bad = _all_sum(loss_sum, correct, (~finite).long(), ctx=loop.ctx)
    if n_bad.item() > 0:
        raise TrainingDiverged(
            f"The loss became nan or infinite during epoch {epoch + 1}; try a lower learning rate or another loss.")
    return loss_sum, correct, step


def _batch_rows(loop: _Loop, perm: torch.Tensor, b: int) -> torch.Tensor | None:
    """This rank's rows of global batch ``b`` of the permutation ``perm`` (N,); None to skip the batch."""
    world, rank = (loop.ctx.world_size, loop.ctx.rank) if loop.ctx is not None else (1, 0)
    idx = perm[b * loop.batch_size:(b + 1) * loop.batch_size]
    if len(idx) < 2 * world and len(perm) >= 2:  # BatchNorm cannot train on a batch of one (per rank)
        return None
    if loop.ctx is not None:
        idx = split_global_batch(idx, rank, world)
    return idx


def _forward(loop: _Loop, idx: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Set the learning rate of ``step``, then the (augmented) batch's logits (B, C), loss and labels (B,)."""
    xb, yb = loop.xt[idx], loop.yt[idx]
    if loop.cfg.augment and loop.augment is not None:
        xb = augment_batch(xb, loop.augment, loop.aug_gen)
    for group in loop.opt.param_groups:
        group["lr"] = lr_at(step, loop.steps_per_epoch, loop.cfg)
    with _autocast(loop.device, loop.bf16):
        logits = loop.step_model(xb)
    loss = loop.criterion(logits.float(), yb)  # the loss in float32 (a no-op without autocast)
    return logits, loss, yb


def _nan_guard(loop: _Loop, loss: torch.Tensor, finite: torch.Tensor, *, epoch: int, batch: int) -> torch.Tensor:
    """Raise :class:`TrainingDiverged` now on a non-finite loss (``loop.check_each_step``), or return the
    epoch's flag ``finite`` updated without reading it back (checked by :func:`_train_epoch` at the end)."""
    if loop.check_each_step:
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"The loss became {loss.item()} at epoch {epoch + 1}, batch {batch + 1}; "
                "try a lower learning rate or another loss.")
        return finite
    finite &= torch.isfinite(loss.detach())
    return finite


def _all_sum(*values: torch.Tensor, ctx: DistContext | None) -> list[torch.Tensor]:
    """Sums over ranks (one collective), as float64 scalars; the values themselves in one process."""
    if ctx is None:
        return list(values)
    packed = torch.stack([v.double() for v in values])
    dist.all_reduce(packed)
    return list(packed.unbind())


# --------------------------------------------------------------------------- the epoch's figures

def _epoch_stats(loop: _Loop, epoch: int, loss_sum: torch.Tensor, correct: torch.Tensor, y_test: np.ndarray,
                 snapshot: _Snapshot | None, num_classes: int, t0: float) -> EpochStats:
    """The epoch's training loss and accuracy, test balanced accuracy and gap snapshot (model left in eval mode)."""
    loop.model.eval()
    test_emb, test_logits = _evaluate(loop.model, loop.xte, loop.bf16, loop.ctx, loop.cancel)
    test_pred = test_logits.argmax(1).cpu().numpy()
    gap = None
    if snapshot is not None:
        gap = _gap_snapshot(loop.model, snapshot, test_emb, test_logits, y_test, num_classes, loop.cancel)
    n = len(loop.xt)
    return EpochStats(
        epoch=epoch + 1, epochs=loop.cfg.epochs, loss=float(loss_sum.item() / n), train_acc=float(correct.item() / n),
        test_bacc=float(balanced_accuracy_score(y_test, test_pred)),
        seconds=time.perf_counter() - t0, lr=float(loop.opt.param_groups[0]["lr"]), gap=gap,
    )


def _evaluate(model: torch.nn.Module, xte: torch.Tensor, bf16: bool,
              ctx: DistContext | None, cancel: threading.Event | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Test embeddings and logits for the per-epoch figures (bf16 when training is; one share per rank)."""
    def run(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with _autocast(xte.device, bf16):
            return embed_batches(model, rows, cancel=cancel)

    return gather_rows(run, xte, ctx)


def _gap_snapshot(model: torch.nn.Module, snapshot: _Snapshot, test_emb: torch.Tensor, test_logits: torch.Tensor,
                  y_test: np.ndarray, num_classes: int,
                  cancel: threading.Event | None = None) -> dict[str, list[float | None]]:
    """The gap measures on the snapshot's subsamples (``GapReport.snapshot()``), without the null band."""
    rows = snapshot.test_rows
    tr_emb, tr_logits = embed_batches(model, snapshot.x_train, cancel=cancel)
    # Under bf16 autocast the test embeddings arrive in bfloat16, which numpy cannot hold.
    rep = generalization_gap(
        tr_emb.float().cpu().numpy(), snapshot.y_train, test_emb[rows].float().cpu().numpy(), y_test[rows],
        num_classes=num_classes, train_pred=tr_logits.argmax(1).cpu().numpy(),
        test_pred=test_logits[rows].argmax(1).cpu().numpy(), permutations=0,  # no null band per epoch
    )
    return rep.snapshot()
