"""Penultimate-layer embeddings and logits of a trained model, as float32 NumPy arrays.

Under ``torchrun`` (see :mod:`eos_core.phase1._distributed`) :func:`compute_embeddings` embeds one share of
the rows per process and gathers them, so every process returns the full arrays.
"""

from __future__ import annotations

import threading

import numpy as np
import torch

from ..errors import Cancelled
from ._distributed import all_gather_rows, current, shard_bounds


def _check(cancel: threading.Event | None) -> None:
    # Per batch: a ResNet-32 forward of 1024 CPU images takes seconds, a whole set minutes.
    if cancel is not None and cancel.is_set():
        raise Cancelled("Embedding was cancelled.")


@torch.no_grad()
def embed_batches(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 1024, *,
                  cancel: threading.Event | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings and logits of images already on the model's device, in batches (no mode change).

    Parameters
    ----------
    x : torch.Tensor, shape (N, C, H, W)
    cancel : threading.Event, optional
        Checked before each batch (raises ``Cancelled``).

    Returns
    -------
    emb : torch.Tensor, shape (N, D);  logits : torch.Tensor, shape (N, K)
    """
    embs, logits = [], []
    for start in range(0, len(x), batch_size):
        _check(cancel)
        e = model.embed(x[start:start + batch_size])
        embs.append(e)
        logits.append(model.head(e))
    return torch.cat(embs), torch.cat(logits)


@torch.no_grad()
def compute_embeddings(model: torch.nn.Module, x: np.ndarray, *, device: torch.device | str = "cpu",
                       batch_size: int = 1024, cancel: threading.Event | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Embed images without augmentation, in eval mode.

    Parameters
    ----------
    model : nn.Module with ``embed(x)`` and ``head``
    x : np.ndarray, float32, shape (N, C, H, W)
    cancel : threading.Event, optional
        Checked before each batch (raises ``Cancelled``).

    Returns
    -------
    emb : np.ndarray, float32, shape (N, D)
    logits : np.ndarray, float32, shape (N, K)
    """
    if len(x) == 0:
        return (np.zeros((0, model.head.in_features), np.float32),
                np.zeros((0, model.head.out_features), np.float32))
    ctx = current()
    lo, hi = (0, len(x)) if ctx is None else shard_bounds(len(x), ctx.rank, ctx.world_size)
    if hi == lo:  # an empty share still sends one (ignored) row to the gather
        lo, hi = 0, 1
    was_training = model.training
    model.eval()
    embs, logits = [], []
    try:
        # Copy to the device one chunk at a time so a large CPU array never sits whole on a GPU.
        for start in range(lo, hi, batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(x[start:min(start + batch_size, hi)])).to(device)
            e, lg = embed_batches(model, xb, batch_size, cancel=cancel)
            embs.append(e.float())
            logits.append(lg.float())
    finally:
        model.train(was_training)
    emb, logit = torch.cat(embs), torch.cat(logits)
    if ctx is not None:
        emb, logit = all_gather_rows(emb, len(x), ctx), all_gather_rows(logit, len(x), ctx)
    return emb.cpu().numpy(), logit.cpu().numpy()
