"""Cost-sensitive phase-1 losses — the baselines the EOS paper combines with oversampling.

=============  ==============================================================================
name           loss
=============  ==============================================================================
``ce``         plain cross-entropy
``focal``      focal loss (Lin et al. 2017), ``(1 - p_t)^gamma * CE``, mean over the batch
``ldam_drw``   LDAM (Cao et al. 2019): ``CE(s * (z - Delta_y e_y))``, ``Delta_j ∝ n_j^(-1/4)``,
               max margin 0.5 (``s``: see the LDAM note); with Deferred Re-Weighting: unweighted
               until epoch ``ceil(drw_frac * epochs)``, then class-balanced weights
``cb``         class-balanced cross-entropy (Cui et al. 2019), weights from the start
=============  ==============================================================================

Class-balanced weights use the *effective number of samples* ``E_j = (1 - beta^n_j) / (1 - beta)``
with ``beta = 0.9999``: ``w_j ∝ 1 / E_j``, normalised so ``sum_j w_j = C`` (as in LDAM-DRW).

Zero-count classes: a class with no training samples is treated as having **one** sample (its
margin and weight are those of a 1-sample class). Its weight/margin never reaches the loss directly
(there is no sample of it to pick it), so this only keeps the arithmetic finite; it slightly shrinks
the other classes' normalised weights. Negative counts raise :class:`ConfigError`.

LDAM note — the scale ``s``: LDAM-DRW (and the EOS code, ``use_norm=True`` for LDAM) uses ``s = 30``
*together with a cosine-normalised head* whose logits lie in ``[-1, 1]``. The models here have a
plain ``nn.Linear`` head (EOS phase 3 and :func:`eos_core.evaluation.attach_head` need one), and with raw
logits ``s = 30`` multiplies the logit gradients by 30: on digits (SmallCNN, SGD lr 0.1, 30 epochs,
3 seeds) it stayed at chance (balanced accuracy 0.10) at rho = 10 and 50. ``build_loss`` therefore
uses ``s = 1`` — exactly the loss of the LDAM paper's equation with margins ``Delta_j`` (max 0.5) on
the raw logits — which reached 0.94 / 0.86 there (CE: 0.94 / 0.88; margins of ``s * Delta`` on
raw logits: 0.93 / 0.83). :class:`LDAMDRWLoss` still takes ``scale`` (``LDAM_COSINE_SCALE = 30``
for a cosine-normalised head).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

__all__ = [
    "LOSS_NAMES",
    "ClassBalancedCE",
    "CrossEntropy",
    "FocalLoss",
    "ImbalanceLoss",
    "LDAMDRWLoss",
    "LDAM_COSINE_SCALE",
    "build_loss",
    "drw_start_epoch",
    "effective_number_weights",
    "ldam_margins",
]

LOSS_NAMES = ("ce", "focal", "ldam_drw", "cb")
CB_BETA = 0.9999
LDAM_MAX_MARGIN = 0.5
LDAM_SCALE = 1.0  # plain linear head; see the module docstring
LDAM_COSINE_SCALE = 30.0  # the published value, for cosine-normalised heads only

Device = str | torch.device


# --------------------------------------------------------------------------------------------------
# per-class quantities (NumPy, float64 for exactness; converted to float32 tensors once)
# --------------------------------------------------------------------------------------------------


def _counts(class_counts: Sequence[int] | np.ndarray) -> np.ndarray:
    """Validate counts and clamp zeros to 1 (see module docstring). Returns float64 ``(C,)``."""
    n = np.asarray(class_counts, dtype=np.float64).ravel()
    if n.size == 0:
        raise ConfigError("The class counts are empty; a loss needs at least one class.")
    if not np.all(np.isfinite(n)) or np.any(n < 0):
        raise ConfigError("Class counts must be finite and non-negative.")
    return np.maximum(n, 1.0)


def effective_number_weights(class_counts: Sequence[int] | np.ndarray, beta: float = CB_BETA) -> np.ndarray:
    """Class-balanced weights of Cui et al. (2019).

    Parameters
    ----------
    class_counts : sequence of int, ``(C,)``
        Training samples per class (zeros are treated as 1).
    beta : float, default 0.9999
        Effective-number hyper-parameter in ``[0, 1)``.

    Returns
    -------
    np.ndarray
        ``(C,)`` float64 weights ``w_j ∝ (1 - beta) / (1 - beta^n_j)`` that sum to ``C``.
    """
    if not (0.0 <= beta < 1.0):
        raise ConfigError(f"The class-balanced beta must be in [0, 1), got {beta!r}.")
    n = _counts(class_counts)
    w = (1.0 - beta) / (1.0 - np.power(beta, n))
    return w / w.sum() * n.size


def ldam_margins(class_counts: Sequence[int] | np.ndarray, max_margin: float = LDAM_MAX_MARGIN) -> np.ndarray:
    """LDAM per-class margins ``Delta_j ∝ n_j^(-1/4)``, the rarest class getting ``max_margin``.

    Returns
    -------
    np.ndarray
        ``(C,)`` float64 margins.
    """
    m = _counts(class_counts) ** -0.25
    return m * (max_margin / m.max())


def drw_start_epoch(epochs: int, drw_frac: float) -> int:
    """First 0-based epoch of the re-weighting phase: the smallest ``e`` with ``e >= drw_frac * epochs``.

    With the paper's 200 epochs and ``drw_frac = 0.8`` this is epoch 160. Rounding guards against
    float noise (``0.7 * 10 = 7.000000000000001`` must give 7, not 8). A start ``>= epochs`` means
    re-weighting never happens (e.g. ``epochs = 1``).
    """
    return int(math.ceil(round(float(drw_frac) * int(epochs), 9)))


# --------------------------------------------------------------------------------------------------
# losses
# --------------------------------------------------------------------------------------------------


class ImbalanceLoss(nn.Module):
    """Base class: ``forward(logits, target) -> scalar`` plus ``set_epoch(epoch)`` for schedules.

    ``logits`` are ``(N, C)`` float, ``target`` ``(N,)`` int64; the result is the batch mean.
    ``weight`` is the current per-class weight tensor ``(C,)`` or ``None``.
    """

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = int(num_classes)
        self.epoch = 0

    @property
    def weight(self) -> torch.Tensor | None:
        """Per-class weights ``(C,)`` applied at the current epoch, or ``None`` (unweighted)."""
        return None

    def set_epoch(self, epoch: int) -> None:
        """Tell the loss the 0-based epoch about to start (no-op unless the loss has a schedule)."""
        self.epoch = int(epoch)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, epoch={self.epoch}"


class CrossEntropy(ImbalanceLoss):
    """Plain cross-entropy, ``F.cross_entropy(logits, target)``."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, target)


class FocalLoss(ImbalanceLoss):
    """Focal loss ``mean_i (1 - p_i)^gamma * (-log p_i)``, ``p_i`` the true-class probability.

    ``gamma = 0`` is cross-entropy. No alpha balancing (as in the LDAM-DRW / EOS baselines).
    """

    def __init__(self, num_classes: int, gamma: float = 2.0) -> None:
        super().__init__(num_classes)
        if not (float(gamma) >= 0.0):
            raise ConfigError(f"The focal gamma must be non-negative, got {gamma!r}.")
        self.gamma = float(gamma)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logp = F.log_softmax(logits, dim=1).gather(1, target.view(-1, 1)).squeeze(1)
        # (1 - p) computed as -expm1(log p): accurate when p is close to 1
        modulator = (-torch.expm1(logp)).clamp_min(0.0) ** self.gamma
        return -(modulator * logp).mean()


class ClassBalancedCE(ImbalanceLoss):
    """Cross-entropy weighted by effective-number class weights from the first epoch.

    Uses PyTorch's weighted mean: ``sum_i w_{y_i} CE_i / sum_i w_{y_i}``.
    """

    def __init__(
        self, class_counts: Sequence[int] | np.ndarray, *, beta: float = CB_BETA, device: Device = "cpu"
    ) -> None:
        w = effective_number_weights(class_counts, beta)
        super().__init__(w.size)
        self.register_buffer("cb_weight", torch.tensor(w, dtype=torch.float32, device=device))

    @property
    def weight(self) -> torch.Tensor:
        return self.cb_weight

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, target, weight=self.weight)


class LDAMDRWLoss(ImbalanceLoss):
    """LDAM loss with Deferred Re-Weighting.

    ``loss = CE(s * (z - Delta_y e_y), weight)`` where ``weight`` is ``None`` before
    :attr:`drw_start` and the effective-number weights from then on.

    Parameters
    ----------
    class_counts : sequence of int, ``(C,)``
    epochs : int
        Total phase-1 epochs (sets :attr:`drw_start`).
    drw_frac : float, default 0.8
        Fraction of training before re-weighting starts (paper: 160 of 200 epochs).
    max_margin : float, default 0.5
    scale : float, default 1.0
        ``s``; 1 for a plain linear head, 30 (the published value) only for a cosine head.
    beta : float, default 0.9999
    device : str or torch.device
    """

    def __init__(
        self,
        class_counts: Sequence[int] | np.ndarray,
        *,
        epochs: int,
        drw_frac: float = 0.8,
        max_margin: float = LDAM_MAX_MARGIN,
        scale: float = LDAM_SCALE,
        beta: float = CB_BETA,
        device: Device = "cpu",
    ) -> None:
        margins = ldam_margins(class_counts, max_margin)
        super().__init__(margins.size)
        if not (0.0 <= float(drw_frac) <= 1.0):
            raise ConfigError(f"The DRW fraction must be between 0 and 1, got {drw_frac!r}.")
        if int(epochs) < 1:
            raise ConfigError(f"Epochs must be at least 1, got {epochs!r}.")
        if not (float(scale) > 0.0):
            raise ConfigError(f"The LDAM scale must be positive, got {scale!r}.")
        self.scale = float(scale)
        self.drw_start = drw_start_epoch(epochs, drw_frac)
        self.register_buffer("margins", torch.tensor(margins, dtype=torch.float32, device=device))
        drw = effective_number_weights(class_counts, beta)
        self.register_buffer("drw_weight", torch.tensor(drw, dtype=torch.float32, device=device))

    @property
    def weight(self) -> torch.Tensor | None:
        # read from the buffer on every call so it follows .to(device)
        return self.drw_weight if self.epoch >= self.drw_start else None

    @property
    def reweighting(self) -> bool:
        """Whether the deferred re-weighting is active at the current epoch."""
        return self.epoch >= self.drw_start

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        margin = self.margins.to(logits.dtype)[target]  # (N,)
        adjusted = logits.scatter_add(1, target.view(-1, 1), -margin.view(-1, 1))
        return F.cross_entropy(self.scale * adjusted, target, weight=self.weight)


def build_loss(
    name: str,
    class_counts: Sequence[int] | np.ndarray,
    *,
    epochs: int,
    drw_frac: float = 0.8,
    focal_gamma: float = 2.0,
    device: Device = "cpu",
) -> ImbalanceLoss:
    """Create a phase-1 loss by name.

    Parameters
    ----------
    name : {"ce", "focal", "ldam_drw", "cb"}
    class_counts : sequence of int, ``(C,)``
        Training samples per class after the imbalance (zeros treated as 1).
    epochs : int
        Total phase-1 epochs (used by the DRW schedule).
    drw_frac : float, default 0.8
        DRW starts at the 0-based epoch ``ceil(drw_frac * epochs)``.
    focal_gamma : float, default 2.0
    device : str or torch.device
        Where the per-class tensors live (the logits' device).

    Returns
    -------
    ImbalanceLoss
        Call ``loss.set_epoch(epoch)`` (0-based) at the start of every epoch, then
        ``loss(logits (N, C), target (N,)) -> scalar``.

    Raises
    ------
    ConfigError
        Unknown name or invalid parameter.
    """
    key = (name or "").lower()
    if key not in LOSS_NAMES:
        raise ConfigError(f"Unknown loss {name!r}; choose one of {', '.join(LOSS_NAMES)}.")
    n_classes = _counts(class_counts).size
    if key == "ce":
        return CrossEntropy(n_classes)
    if key == "focal":
        return FocalLoss(n_classes, gamma=focal_gamma)
    if key == "cb":
        return ClassBalancedCE(class_counts, device=device)
    return LDAMDRWLoss(class_counts, epochs=epochs, drw_frac=drw_frac, device=device)
