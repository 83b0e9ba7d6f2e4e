"""Device choice (CUDA, then Apple MPS, then CPU — never hard-coded) and phase 1's speed settings."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from ..errors import ConfigError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def choose_device(preference: str = "auto") -> torch.device:
    """Return the torch device to use.

    Parameters
    ----------
    preference : {"auto", "cpu", "cuda", "mps"}
        ``"auto"`` picks CUDA when available, then MPS, then CPU. A forced device that is not
        available raises :class:`ConfigError` instead of silently falling back.
    """
    pref = (preference or "auto").lower()
    if pref not in DEVICE_CHOICES:
        raise ConfigError(f"Unknown device {preference!r}; choose one of {', '.join(DEVICE_CHOICES)}.")
    mps_ok = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_ok:
            return torch.device("mps")
        return torch.device("cpu")
    if pref == "cuda" and not torch.cuda.is_available():
        raise ConfigError("Device 'cuda' was requested but no CUDA GPU is available.")
    if pref == "mps" and not mps_ok:
        raise ConfigError("Device 'mps' was requested but Apple MPS is not available.")
    return torch.device(pref)


def configure_threads(default: int | None = None) -> int:
    """Set torch's intra-op thread count once, from ``$EOS_TORCH_THREADS`` or ``default``.

    Why: on a small machine that is also doing other work (a Streamlit server, a UMAP fit, another
    job), torch's OpenMP threads spin-wait for each other, and a 2-thread SmallCNN step measured
    30-50x slower than a 1-thread one on a loaded 2-core box; on an idle box 2 threads are ~1.6x
    faster at 28x28. So the CLI keeps torch's default unless told, and the app passes a lower one.

    Returns the thread count in force.
    """
    env = os.environ.get("EOS_TORCH_THREADS", "").strip()
    n = int(env) if env.isdigit() and int(env) > 0 else default
    if n is not None and n != torch.get_num_threads():
        torch.set_num_threads(int(n))
    return torch.get_num_threads()


@dataclass(frozen=True)
class Accel:
    """How phase 1 trains on its device; the defaults (everything off) are the CPU behaviour.

    Attributes
    ----------
    bf16 : bool
        Forward passes under ``torch.autocast(dtype=torch.bfloat16)``; the loss, the optimizer and
        the saved embeddings stay float32.
    channels_last : bool or None
        Convert the model to channels-last (True) or classic NCHW (False); None leaves it as built
        (the models are built channels-last).
    fused_optimizer : bool
        ``torch.optim.SGD(fused=True)``: one kernel for all parameters (CUDA only).
    compile : str or None
        ``torch.compile`` mode of the training forward/backward, or None for eager.
    """

    bf16: bool = False
    channels_last: bool | None = None
    fused_optimizer: bool = False
    compile: str | None = None


def compile_mode_from_env() -> str | None:
    """``$EOS_COMPILE``: unset/``0`` -> None (eager), ``1`` -> ``"default"``, or a mode name."""
    value = os.environ.get("EOS_COMPILE", "").strip().lower()
    if value in ("", "0", "false", "no"):
        return None
    if value in ("1", "true", "yes"):
        return "default"
    if value not in COMPILE_MODES:
        raise ConfigError(f"EOS_COMPILE must be 0, 1 or one of {', '.join(COMPILE_MODES)}, got {value!r}.")
    return value


def accel_for(device: torch.device) -> Accel:
    """Phase 1's speed settings for ``device``: all on for CUDA (compile only if ``$EOS_COMPILE``).

    On CPU and MPS nothing changes, so results there stay bit-identical to eager float32 training.
    bf16 needs a GPU that supports it (Ampere or newer); older GPUs train in float32.
    """
    if torch.device(device).type != "cuda":
        return Accel()
    return Accel(bf16=torch.cuda.is_bf16_supported(), channels_last=True, fused_optimizer=True,
                 compile=compile_mode_from_env())
