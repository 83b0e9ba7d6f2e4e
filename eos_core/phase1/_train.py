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

import math
import threading
import time

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score

from ..config import TrainConfig
from ..errors import Cancelled, TrainingDiverged
from ..events import EpochDone, EpochStats, Progress, emit
from ._augment import AugmentSpec, augment_batch
from ._device import Accel, accel_for
from ._distributed import DistContext, broadcast_buffers, current, gather_rows, split_global_batch
from ._embeddings import embed_batches


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


def _gap_snapshot(model: torch.nn.Module, x_snap: torch.Tensor, y_snap: np.ndarray, test_emb: torch.Tensor,
                  test_logits: torch.Tensor, y_test: np.ndarray, test_snap: np.ndarray,
                  num_classes: int, cancel: threading.Event | None = None) -> dict[str, list[float | None]]:
    from ..gap._report import generalization_gap

    tr_emb, tr_logits = embed_batches(model, x_snap, cancel=cancel)
    rep = generalization_gap(
        tr_emb.cpu().numpy(), y_snap, test_emb[test_snap].cpu().numpy(), y_test[test_snap],
        num_classes=num_classes, train_pred=tr_logits.argmax(1).cpu().numpy(),
        test_pred=test_logits[test_snap].argmax(1).cpu().numpy(), permutations=0,  # no null band per epoch
    )
    return rep.snapshot()


def _step_module(model: torch.nn.Module, device: torch.device, ctx: DistContext | None,
                 compile_mode: str | None) -> torch.nn.Module:
    """What the training step calls: the model, DDP-wrapped under torchrun, compiled on request."""
    step = model
    if ctx is not None:
        from torch.nn.parallel import DistributedDataParallel

        ids = None
        if device.type == "cuda":
            ids = [device.index if device.index is not None else torch.cuda.current_device()]
        step = DistributedDataParallel(model, device_ids=ids)
    if compile_mode is not None:
        step = torch.compile(step, mode=compile_mode)
    return step


def _evaluate(model: torch.nn.Module, xte: torch.Tensor, bf16: bool,
              ctx: DistContext | None, cancel: threading.Event | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Test embeddings and logits for the per-epoch figures (bf16 when training is; one share per rank)."""
    def run(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(device_type=xte.device.type, dtype=torch.bfloat16, enabled=bf16):
            return embed_batches(model, rows, cancel=cancel)

    return gather_rows(run, xte, ctx)


def _all_sum(*values: torch.Tensor, ctx: DistContext | None) -> list[torch.Tensor]:
    """Sums over ranks (one collective), as float64 scalars; the values themselves in one process."""
    if ctx is None:
        return list(values)
    import torch.distributed as dist

    packed = torch.stack([v.double() for v in values])
    dist.all_reduce(packed)
    return list(packed.unbind())


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
    from ._losses import build_loss

    accel = accel_for(device) if accel is None else accel
    ctx = current()
    world, rank = (ctx.world_size, ctx.rank) if ctx is not None else (1, 0)
    # On CPU in one process every check is immediate, as it always was; on a GPU or across ranks the
    # NaN guard is one flag checked per epoch (a per-step check would wait for the GPU every step,
    # and a rank raising alone would leave the others waiting in a collective).
    check_each_step = device.type == "cpu" and ctx is None
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    aug_gen = gen
    if device.type == "cuda" or ctx is not None:
        # Draws on the GPU (no host round trip per batch); a different stream of draws per rank.
        aug_gen = torch.Generator(device=device).manual_seed(cfg.seed + 1_000_003 * rank)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest convolution once
    model.to(device)
    if accel.channels_last is not None:
        model.to(memory_format=torch.channels_last if accel.channels_last else torch.contiguous_format)
    xt = torch.from_numpy(np.ascontiguousarray(x_train)).to(device)
    yt = torch.from_numpy(np.ascontiguousarray(y_train, dtype=np.int64)).to(device)
    xte = torch.from_numpy(np.ascontiguousarray(x_test)).to(device)
    counts = np.bincount(y_train, minlength=num_classes)
    criterion = build_loss(cfg.loss, counts, epochs=cfg.epochs, drw_frac=cfg.drw_frac,
                           focal_gamma=cfg.focal_gamma, device=device)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                          **({"fused": True} if accel.fused_optimizer else {}))
    step_model = _step_module(model, device, ctx, accel.compile)
    n = len(xt)
    bs = cfg.effective_batch_size(n)
    steps_per_epoch = max(1, math.ceil(n / bs))
    history: list[EpochStats] = []
    x_snap = y_snap = None
    if snapshot_idx is not None:
        x_snap = xt[torch.from_numpy(snapshot_idx[0]).to(device)]
        y_snap = np.asarray(y_train)[snapshot_idx[0]]
    step = 0
    for epoch in range(cfg.epochs):
        t0 = time.perf_counter()
        criterion.set_epoch(epoch)
        model.train()
        perm = torch.randperm(n, generator=gen).to(device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        finite = torch.ones((), device=device, dtype=torch.bool)
        for b in range(steps_per_epoch):
            if cancel is not None and cancel.is_set():
                raise Cancelled("Training was cancelled.")
            idx = perm[b * bs:(b + 1) * bs]
            if len(idx) < 2 * world and n >= 2:  # BatchNorm cannot train on a batch of one (per rank)
                continue
            if ctx is not None:
                idx = split_global_batch(idx, rank, world)
            xb, yb = xt[idx], yt[idx]
            if cfg.augment and augment is not None:
                xb = augment_batch(xb, augment, aug_gen)
            for group in opt.param_groups:
                group["lr"] = lr_at(step, steps_per_epoch, cfg)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=accel.bf16):
                logits = step_model(xb)
            loss = criterion(logits.float(), yb)  # the loss in float32 (a no-op without autocast)
            if check_each_step and not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"The loss became {loss.item()} at epoch {epoch + 1}, batch {b + 1}; "
                    "try a lower learning rate or another loss.")
            if not check_each_step:
                finite &= torch.isfinite(loss.detach())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            loss_sum += loss.detach() * len(idx)
            correct += (logits.detach().argmax(1) == yb).sum()
        broadcast_buffers(model, ctx)
        loss_sum, correct, n_bad = _all_sum(loss_sum, correct, (~finite).long(), ctx=ctx)
        if n_bad.item() > 0:
            raise TrainingDiverged(
                f"The loss became nan or infinite during epoch {epoch + 1}; try a lower learning rate or another loss.")
        model.eval()
        test_emb, test_logits = _evaluate(model, xte, accel.bf16, ctx, cancel)
        test_pred = test_logits.argmax(1).cpu().numpy()
        gap = None
        if snapshot_idx is not None and x_snap is not None:
            gap = _gap_snapshot(model, x_snap, y_snap, test_emb, test_logits, np.asarray(y_test),
                                snapshot_idx[1], num_classes, cancel)
        stats = EpochStats(
            epoch=epoch + 1, epochs=cfg.epochs, loss=float(loss_sum.item() / n), train_acc=float(correct.item() / n),
            test_bacc=float(balanced_accuracy_score(np.asarray(y_test), test_pred)),
            seconds=time.perf_counter() - t0, lr=float(opt.param_groups[0]["lr"]), gap=gap,
        )
        history.append(stats)
        emit(progress, EpochDone(stats))
    model.eval()
    return history
