"""Phase 1 on several processes: ``torchrun --nproc_per_node=N -m eos_core train ...``.

One process per GPU (NCCL), or per CPU worker (gloo). What changes under it, and why:

* **The batch split** (:func:`split_global_batch`): every rank draws the same seeded permutation of
  the whole imbalanced training set each epoch, cuts it into the usual global batches of
  ``batch_size`` and takes its own contiguous share of each. So every sample is seen exactly once per
  epoch across ranks, class counts are those of the imbalanced set (``DistributedSampler`` would pad
  with repeated samples, changing them), the effective batch — and so the learning-rate recipe — is
  the single-process one, and every rank takes the same number of steps (DDP needs that).
* **Gradients** are averaged by ``DistributedDataParallel``; BatchNorm statistics are per rank
  (``batch_size / N`` images).
* **Evaluation and embeddings** (:func:`gather_rows`): each rank embeds a contiguous share of the
  rows and the shares are all-gathered, so every rank ends with the full arrays; rank 0's BatchNorm
  statistics are broadcast first (:func:`broadcast_buffers`), so all shares use the same model.
* **Writing**: only rank 0 creates the run store, prints and saves the run (the CLI's job).

Outside ``torchrun`` (no ``WORLD_SIZE`` > 1) nothing here is active and :func:`current` is None.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistContext", "all_gather_rows", "broadcast_buffers", "current", "gather_rows", "init_from_env",
           "shard_bounds", "shutdown", "split_global_batch"]


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job."""

    rank: int
    world_size: int
    local_rank: int
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current() -> DistContext | None:
    """The running job's context, or None in a single process."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None
    return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")),
                       str(dist.get_backend()))


def init_from_env(device: str = "auto") -> DistContext | None:
    """Join the job torchrun started (its ``WORLD_SIZE``/``RANK``/``MASTER_*`` variables), if any.

    NCCL with one GPU per process (``cuda:LOCAL_RANK``) when CUDA is used, gloo otherwise.
    Returns None when not launched by torchrun with more than one process.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) < 2:
        return None
    if dist.is_initialized():
        return current()
    use_cuda = (device or "auto").lower() in ("auto", "cuda") and torch.cuda.is_available()
    if use_cuda:
        # Before the first CUDA call: torch's "cuda" device now means this rank's GPU.
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    atexit.register(shutdown)
    return current()


def shutdown() -> None:
    """Leave the job (no-op in a single process)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def split_global_batch(idx: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """This rank's contiguous share of one global batch (shares differ in size by at most one).

    Parameters
    ----------
    idx : torch.Tensor of shape (B,)
        The global batch: rows of the training set.

    Returns
    -------
    torch.Tensor of shape (B // world_size or one more,)
    """
    return torch.tensor_split(idx, world_size)[rank]


def broadcast_buffers(module: torch.nn.Module, ctx: DistContext | None) -> None:
    """Rank 0's buffers (BatchNorm running statistics) on every rank, in place.

    Each rank's last training step updates the running statistics with its own share of the batch;
    evaluation and embeddings are computed in shares, so every rank must use the same statistics.
    """
    if ctx is None:
        return
    for buf in module.buffers():
        dist.broadcast(buf.data, src=0)


def shard_bounds(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """[start, stop) of rank's contiguous share of ``n`` rows (``numpy.array_split``'s sizes)."""
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def all_gather_rows(local: torch.Tensor, n: int, ctx: DistContext) -> torch.Tensor:
    """All ``n`` rows, from each rank's share ``local`` (rows ``shard_bounds(n, rank, world)``).

    A rank whose share is empty may pass any one row (it is ignored): every rank must send a tensor.
    Returns float32 rows on ``local``'s device, identical on every rank.
    """
    sizes = [shard_bounds(n, r, ctx.world_size) for r in range(ctx.world_size)]
    lo, hi = sizes[ctx.rank]
    local = local.float()
    padded = local.new_zeros((max(b - a for a, b in sizes), *local.shape[1:]))
    padded[: hi - lo] = local[: hi - lo]
    parts = [torch.empty_like(padded) for _ in range(ctx.world_size)]
    dist.all_gather(parts, padded)
    return torch.cat([p[: b - a] for p, (a, b) in zip(parts, sizes, strict=True)])


def gather_rows(fn: Callable[[torch.Tensor], tuple[torch.Tensor, ...]], x: torch.Tensor,
                ctx: DistContext | None) -> tuple[torch.Tensor, ...]:
    """``fn`` applied to all rows of ``x``, computed one share per rank and all-gathered.

    Parameters
    ----------
    fn : callable
        Maps ``(n, ...)`` rows to a tuple of tensors with ``n`` rows each (e.g. embeddings, logits).
    x : torch.Tensor of shape (N, ...)
        The same rows on every rank.
    ctx : DistContext or None
        None computes everything locally.

    Returns
    -------
    tuple of torch.Tensor, each with N rows, identical on every rank (float32 when gathered).
    """
    if ctx is None:
        return tuple(fn(x))
    lo, hi = shard_bounds(len(x), ctx.rank, ctx.world_size)
    outs = fn(x[lo:hi] if hi > lo else x[:1])
    return tuple(all_gather_rows(out, len(x), ctx) for out in outs)
