"""Penultimate-layer embeddings and logits of a trained model, as float32 NumPy arrays."""

from __future__ import annotations

import numpy as np
import torch


@torch.no_grad()
def compute_embeddings(model: torch.nn.Module, x: np.ndarray, *, device: torch.device | str = "cpu",
                       batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Embed images without augmentation, in eval mode.

    Parameters
    ----------
    model : nn.Module with ``embed(x)`` and ``head``
    x : np.ndarray, float32, shape (N, C, H, W)

    Returns
    -------
    emb : np.ndarray, float32, shape (N, D)
    logits : np.ndarray, float32, shape (N, K)
    """
    was_training = model.training
    model.eval()
    embs, logits = [], []
    try:
        for start in range(0, len(x), batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(x[start:start + batch_size])).to(device)
            e = model.embed(xb)
            embs.append(e.float().cpu())
            logits.append(model.head(e).float().cpu())
    finally:
        model.train(was_training)
    d = getattr(model, "embed_dim", None)
    if not embs:
        k = model.head.out_features
        return np.zeros((0, d or model.head.in_features), np.float32), np.zeros((0, k), np.float32)
    return torch.cat(embs).numpy(), torch.cat(logits).numpy()
