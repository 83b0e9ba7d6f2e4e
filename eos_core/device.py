"""Device choice: CUDA, then Apple MPS, then CPU — never hard-coded."""

from __future__ import annotations

import torch

from .errors import ConfigError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


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
    import os

    env = os.environ.get("EOS_TORCH_THREADS", "").strip()
    n = int(env) if env.isdigit() and int(env) > 0 else default
    if n is not None and n != torch.get_num_threads():
        torch.set_num_threads(int(n))
    return torch.get_num_threads()
