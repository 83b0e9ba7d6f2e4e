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
