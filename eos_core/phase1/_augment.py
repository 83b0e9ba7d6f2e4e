"""Standard, batched, on-device data augmentation per dataset.

Done on whole batches of tensors (no per-image PIL transforms): a random shift (pad + random crop)
and, where the classes are mirror-invariant, a random horizontal flip — the usual recipes
(CIFAR: pad 4 + crop + flip; SVHN: pad 4 + crop, no flip since digits are not mirror-invariant).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentSpec:
    pad: int
    flip: bool


SPECS: dict[str, AugmentSpec] = {
    "digits": AugmentSpec(pad=1, flip=False),
    "mnist": AugmentSpec(pad=2, flip=False),
    "fashion-mnist": AugmentSpec(pad=2, flip=True),
    "cifar10": AugmentSpec(pad=4, flip=True),
    "svhn": AugmentSpec(pad=4, flip=False),
    "folder": AugmentSpec(pad=2, flip=True),
}


def augment_batch(x: torch.Tensor, spec: AugmentSpec, generator: torch.Generator | None = None) -> torch.Tensor:
    """Randomly shift (and maybe flip) every image of a batch.

    Parameters
    ----------
    x : torch.Tensor, shape (B, C, H, W)
    spec : AugmentSpec
    generator : torch.Generator, optional
        Generator for reproducible draws, on the CPU or on the images' CUDA device.

    Returns
    -------
    torch.Tensor, shape (B, C, H, W)
    """
    b, _, h, w = x.shape
    # Draw where the generator lives: a CUDA generator keeps the draws on the GPU (no host copy,
    # so no synchronisation per batch); a CPU generator (or none) draws exactly as before.
    draw_on = generator.device if generator is not None else torch.device("cpu")
    if spec.pad > 0:
        p = spec.pad
        padded = F.pad(x, (p, p, p, p))
        dx = torch.randint(0, 2 * p + 1, (b,), generator=generator, device=draw_on).to(x.device)
        dy = torch.randint(0, 2 * p + 1, (b,), generator=generator, device=draw_on).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])  # (B, H)
        cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])  # (B, W)
        bi = torch.arange(b, device=x.device)[:, None, None]
        # Advanced indexing gives (B, H, W, C); one gather for the whole batch.
        x = padded.permute(0, 2, 3, 1)[bi, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    if spec.flip:
        flip = (torch.rand(b, generator=generator, device=draw_on) < 0.5).to(x.device)
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    return x.contiguous()
