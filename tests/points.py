"""Hand-made embeddings for the gap tests: points on a horizontal line."""

from __future__ import annotations

import numpy as np


def pts(*xs: float, y: float = 0.0) -> np.ndarray:
    """Points on the horizontal line at height ``y``, as float32 (n, 2) embeddings."""
    return np.array([[x, y] for x in xs], dtype=np.float32)
