"""Phase-1 backbones: a small CPU-friendly CNN and the CIFAR ResNet-32 of the EOS / LDAM-DRW papers.

Every model shares one contract, relied on by phases 2 and 3:

- input images are ``float32`` ``(N, C, H, W)`` in ``[0, 1]``; per-channel normalisation is built
  in (buffers ``mean`` and ``std``) so callers never normalise themselves and a saved ``state_dict``
  carries the statistics with the weights;
- ``embed(x) -> (N, D)`` returns the penultimate-layer features that EOS oversamples;
- ``head`` is an ``nn.Linear(D, num_classes)`` and ``forward(x)`` is exactly ``head(embed(x))``, so a
  head re-trained on embeddings (phase 3) can be swapped in with :func:`eos_core.evaluation.attach_head`;
- ``embed_dim`` is ``D``.

Convolution weights are created in ``channels_last`` memory format: on CPU (oneDNN) this makes the
small CNN about 1.5x faster. ``embed`` converts its input to the weights' format, so a caller that
prefers the classic layout (e.g. on a backend with poor channels-last support) can call
``model.to(memory_format=torch.contiguous_format)`` and everything keeps working.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

__all__ = ["MODEL_NAMES", "ResNet32", "SmallCNN", "build_model", "resolve_model"]

MODEL_NAMES = ("auto", "small_cnn", "resnet32")

Stats = float | Sequence[float] | None


# --------------------------------------------------------------------------------------------------
# shared pieces
# --------------------------------------------------------------------------------------------------


def _channel_stats(values: Stats, in_channels: int, default: float, what: str) -> torch.Tensor:
    """Turn ``None`` / a scalar / a per-channel sequence into a ``(1, C, 1, 1)`` float tensor."""
    if values is None:
        t = torch.full((in_channels,), float(default))
    else:
        t = torch.as_tensor(values, dtype=torch.float32).flatten()
        if t.numel() == 1:  # one value for every channel (e.g. grayscale stats on RGB)
            t = t.expand(in_channels).clone()
        if t.numel() != in_channels:
            raise ConfigError(
                f"The normalisation {what} has {t.numel()} values but the images have {in_channels} channels."
            )
    if not torch.isfinite(t).all():
        raise ConfigError(f"The normalisation {what} must be finite.")
    if what == "std" and (t <= 0).any():
        raise ConfigError("The normalisation std must be positive for every channel.")
    return t.view(1, in_channels, 1, 1)


def _check_dims(in_channels: int, num_classes: int, image_size: int | None = None) -> None:
    if int(in_channels) < 1:
        raise ConfigError(f"A model needs at least 1 input channel, got {in_channels!r}.")
    if int(num_classes) < 1:
        raise ConfigError(f"A model needs at least 1 class, got {num_classes!r}.")
    if image_size is not None and int(image_size) < 1:
        raise ConfigError(f"The image size must be at least 1 pixel, got {image_size!r}.")


class _EmbedHeadModel(nn.Module):
    """Normalisation buffers + the ``forward == head(embed(x))`` contract; subclasses define ``features``."""

    mean: torch.Tensor
    std: torch.Tensor
    embed_dim: int
    head: nn.Linear

    def _init_norm(self, in_channels: int, mean: Stats, std: Stats) -> None:
        # buffers, not parameters: they move with .to(device) and are saved in the state_dict
        self.register_buffer("mean", _channel_stats(mean, in_channels, 0.0, "mean"))
        self.register_buffer("std", _channel_stats(std, in_channels, 1.0, "std"))

    def features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def first_conv(self) -> nn.Conv2d:  # pragma: no cover - abstract
        """The convolution that sees the images; its weight's memory format is followed."""
        raise NotImplementedError

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - mean) / std`` per channel, in the memory format of the convolution weights.

        Parameters
        ----------
        x : torch.Tensor
            ``(N, C, H, W)`` images in ``[0, 1]``.
        """
        x = (x - self.mean) / self.std
        if self.first_conv().weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features.

        Parameters
        ----------
        x : torch.Tensor
            ``(N, C, H, W)`` float images in ``[0, 1]``.

        Returns
        -------
        torch.Tensor
            ``(N, embed_dim)`` embeddings (non-negative: they follow a ReLU).
        """
        return self.features(self.normalize(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` — exactly ``self.head(self.embed(x))``."""
        return self.head(self.embed(x))

    @property
    def num_classes(self) -> int:
        return self.head.out_features


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    # bias-free conv: the following BatchNorm has its own shift
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


# --------------------------------------------------------------------------------------------------
# SmallCNN
# --------------------------------------------------------------------------------------------------


class SmallCNN(_EmbedHeadModel):
    """Three conv-BN-ReLU blocks, average pooling to a small grid and a ReLU embedding layer.

    Channel plan ``width/2, width, 2*width`` (16-32-64 by default). A 2x2 max-pool follows a block
    (except the last) while the feature map is at least 8 pixels wide, so 28x28 becomes 14 then 7
    and 8x8 becomes 4; images larger than 32 px get a stride-2 first convolution to keep CPU cost
    bounded. The last feature map is average-pooled to at most 7x7 (``grid``), flattened, and mapped
    to the embedding by a linear layer + BatchNorm + ReLU. The BatchNorm keeps embedding units alive:
    without it about half of the 64 ReLU units were dead after a short run on digits (rho=50) and
    the test balanced accuracy was 0.67 instead of 0.77 after 30 epochs. Forward + backward cost per
    10k 28x28 images at batch 128 on 2 CPU cores: see ``bench/results/head_cpu.json``.

    Parameters
    ----------
    in_channels : int
        Image channels ``C``.
    num_classes : int
        Output classes.
    image_size : int
        Height (= width) of the input images; only sets where pooling happens — any size runs.
    width : int, default 32
        Channels of the middle block; the first has ``width // 2``, the last ``2 * width``.
    embed_dim : int, default 64
        Embedding size ``D``.
    mean, std : float or sequence of float, optional
        Per-channel normalisation statistics of ``[0, 1]`` images (defaults 0 and 1).

    Shapes
    ------
    ``(N, C, H, W)`` -> ``embed`` ``(N, embed_dim)`` -> ``forward`` ``(N, num_classes)``.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        image_size: int,
        *,
        width: int = 32,
        embed_dim: int = 64,
        mean: Stats = None,
        std: Stats = None,
    ) -> None:
        super().__init__()
        _check_dims(in_channels, num_classes, image_size)
        if int(width) < 2:
            raise ConfigError(f"The CNN width must be at least 2, got {width!r}.")
        if int(embed_dim) < 1:
            raise ConfigError(f"The embedding size must be at least 1, got {embed_dim!r}.")
        self._init_norm(in_channels, mean, std)
        self.image_size = int(image_size)
        self.embed_dim = int(embed_dim)

        widths = [max(1, width // 2), int(width), 2 * int(width)]
        size = self.image_size
        stem_stride = 2 if size > 32 else 1  # large folder images: halve once before any work
        size = (size + stem_stride - 1) // stem_stride
        layers: list[nn.Module] = []
        cin = int(in_channels)
        for i, cout in enumerate(widths):
            layers += _conv_bn_relu(cin, cout, stem_stride if i == 0 else 1)
            cin = cout
            if i < len(widths) - 1 and size >= 8:
                layers.append(nn.MaxPool2d(2))
                size //= 2
        self.conv = nn.Sequential(*layers)
        # average-pool to a small fixed grid (7x7 at most) rather than 1x1: with only three conv
        # layers, global pooling throws away where things are — on Fashion-MNIST (12k images, one
        # epoch) test accuracy was 0.67 with 1x1, 0.79 with 3x3 and 0.85 with 7x7, at ~equal cost
        self.grid = min(size, 7)
        self.pool = nn.AdaptiveAvgPool2d(self.grid)
        self.fc = nn.Linear(cin * self.grid * self.grid, self.embed_dim, bias=False)
        self.fc_bn = nn.BatchNorm1d(self.embed_dim)
        self.head = nn.Linear(self.embed_dim, int(num_classes))
        self._init_weights()
        self.to(memory_format=torch.channels_last)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def first_conv(self) -> nn.Conv2d:
        return self.conv[0]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images ``(N, C, H, W)`` -> embeddings ``(N, embed_dim)``."""
        h = self.pool(self.conv(x)).flatten(1)
        return F.relu(self.fc_bn(self.fc(h)))


# --------------------------------------------------------------------------------------------------
# ResNet-32 (He et al. 2016, CIFAR variant, as in LDAM-DRW and EOS)
# --------------------------------------------------------------------------------------------------


class _ShortcutA(nn.Module):
    """Option-A shortcut: parameter-free — subsample by 2 and zero-pad the new channels."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.pad_lo = (cout - cin) // 2
        self.pad_hi = cout - cin - self.pad_lo

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad_lo, self.pad_hi))


class _BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual connection (ReLU after the sum)."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        if stride == 1 and cin == cout:
            self.shortcut: nn.Module = nn.Identity()
        elif stride == 2 and cout >= cin:
            self.shortcut = _ShortcutA(cin, cout)
        else:  # not used by ResNet-32; kept so the block is general
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet32(_EmbedHeadModel):
    """CIFAR ResNet-32: 3 stages x 5 basic blocks (16/32/64 channels), option-A shortcuts.

    Same architecture and Kaiming-normal initialisation as the LDAM-DRW / EOS code, with a plain
    ``nn.Linear`` head (LDAM-DRW swaps in a cosine "NormedLinear" head for LDAM; EOS phase 3 needs a
    plain linear head). 0.46M parameters with 10 classes (464,154 exactly).

    Parameters
    ----------
    in_channels : int, default 3
    num_classes : int, default 10
    mean, std : float or sequence of float, optional
        Per-channel normalisation statistics of ``[0, 1]`` images (defaults 0 and 1).

    Shapes
    ------
    ``(N, C, H, W)`` (any H, W; 32x32 in the paper) -> ``embed`` ``(N, 64)`` -> ``forward``
    ``(N, num_classes)``.
    """

    blocks_per_stage = 5
    stage_widths = (16, 32, 64)

    def __init__(self, in_channels: int = 3, num_classes: int = 10, *, mean: Stats = None, std: Stats = None) -> None:
        super().__init__()
        _check_dims(in_channels, num_classes)
        self._init_norm(in_channels, mean, std)
        self.embed_dim = self.stage_widths[-1]
        self.stem = nn.Sequential(*_conv_bn_relu(int(in_channels), self.stage_widths[0]))
        blocks: list[nn.Module] = []
        cin = self.stage_widths[0]
        for stage, cout in enumerate(self.stage_widths):
            for b in range(self.blocks_per_stage):
                stride = 2 if (stage > 0 and b == 0) else 1
                blocks.append(_BasicBlock(cin, cout, stride))
                cin = cout
        self.layers = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(self.embed_dim, int(num_classes))
        for m in self.modules():  # LDAM-DRW's _weights_init: Kaiming normal for conv and linear
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
        self.to(memory_format=torch.channels_last)

    def first_conv(self) -> nn.Conv2d:
        return self.stem[0]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images ``(N, C, H, W)`` -> embeddings ``(N, 64)`` (global average pool)."""
        return self.pool(self.layers(self.stem(x))).flatten(1)


# --------------------------------------------------------------------------------------------------
# factory
# --------------------------------------------------------------------------------------------------


def resolve_model(name: str, *, device: str | torch.device, in_channels: int, image_size: int) -> str:
    """The model ``name`` builds on ``device``: the one rule for ``"auto"`` (CLI, app and pipeline).

    ``"auto"`` is ResNet-32 only on a GPU (CUDA or MPS) and for colour images of at least 32 px;
    on a CPU it is always the small CNN. Why: ResNet-32 took 105-139 s an epoch on the project's
    2-core CPU (55-70 min for 30 epochs), the small CNN a few seconds. Other names are returned as is.
    """
    key = (name or "").lower()
    if key != "auto":
        return key
    gpu = torch.device(device).type in ("cuda", "mps")
    return "resnet32" if gpu and int(in_channels) == 3 and int(image_size) >= 32 else "small_cnn"


def build_model(
    name: str,
    *,
    in_channels: int,
    num_classes: int,
    image_size: int,
    mean: Stats = None,
    std: Stats = None,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """Create a phase-1 model by name.

    Parameters
    ----------
    name : {"auto", "small_cnn", "resnet32"}
        ``"auto"`` is resolved by :func:`resolve_model` for ``device``.
    in_channels, num_classes, image_size : int
        Shape of the data: images ``(N, in_channels, image_size, image_size)``.
    mean, std : float or sequence of float, optional
        Per-channel normalisation statistics for ``[0, 1]`` images.
    device : str or torch.device
        The device it will train on (only used to resolve ``"auto"``; the model is built on CPU).

    Returns
    -------
    nn.Module
        A model with ``embed``, ``head`` and ``embed_dim`` (on CPU; move it with ``.to(device)``).

    Raises
    ------
    ConfigError
        Unknown name or invalid dimensions.
    """
    key = (name or "").lower()
    if key not in MODEL_NAMES:
        raise ConfigError(f"Unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}.")
    key = resolve_model(key, device=device, in_channels=in_channels, image_size=image_size)
    if key == "resnet32":
        return ResNet32(in_channels, num_classes, mean=mean, std=std)
    return SmallCNN(in_channels, num_classes, image_size, mean=mean, std=std)
