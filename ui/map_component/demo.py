"""Synthetic map data for the demo page, the browser test and the bench (no download, no training).

Ten classes on a circle with an exponential imbalance profile (ratio 100 by default), test points spread
wider than train (the gap), minority test points scattering into neighbours, and synthetic points between
two training points of a minority class. Images are scikit-learn's embedded 8x8 digits, upscaled to 24 px.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from sklearn.datasets import load_digits


def demo_images(px: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 digit images as uint8 (1797, px, px) (nearest upscaling) and their labels."""
    dig = load_digits()
    im = np.rint(dig.images / 16.0 * 255).astype(np.uint8)
    rep = px // 8
    return np.repeat(np.repeat(im, rep, axis=1), rep, axis=2), dig.target.astype(np.int64)


def demo_points(n: int = 2000, *, ratio: float = 100.0, seed: int = 0) -> pd.DataFrame:
    """About ``n`` points (70 % train, 20 % test, 10 % synthetic) with every column ``map_chart`` reads."""
    rng = np.random.default_rng(seed)
    _, labels = demo_images()
    by_class = [np.flatnonzero(labels == c) for c in range(10)]
    share = ratio ** (-np.arange(10) / 9.0)
    n_train = np.maximum(3, np.rint(0.7 * n * share / share.sum())).astype(int)
    n_test = np.maximum(5, np.rint(0.2 * n * np.full(10, 0.1))).astype(int)
    n_syn_total = int(0.1 * n)
    deficit = n_train.max() - n_train
    n_syn = np.rint(n_syn_total * deficit / max(deficit.sum(), 1)).astype(int)
    centres = 6.0 * np.stack([np.cos(np.arange(10) * 2 * np.pi / 10), np.sin(np.arange(10) * 2 * np.pi / 10)], 1)
    rows = []
    for c in range(10):
        xy = centres[c] + rng.normal(0, 1.0, (n_train[c], 2))
        img = rng.choice(by_class[c], n_train[c])
        rows.append(pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "cls": c, "split": "train", "image": img,
                                  "partner_image": -1}))
        # Minority test points spread wider (the generalisation gap grows as the class shrinks).
        spread = 1.0 + 1.5 * c / 9.0
        xy = centres[c] + rng.normal(0, spread, (n_test[c], 2))
        rows.append(pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "cls": c, "split": "test",
                                  "image": rng.choice(by_class[c], n_test[c]), "partner_image": -1}))
        if n_syn[c]:
            tr = rows[-2]
            a, b = rng.integers(0, n_train[c], n_syn[c]), rng.integers(0, n_train[c], n_syn[c])
            r = rng.random(n_syn[c])[:, None]
            pa, pb = tr[["x", "y"]].to_numpy()[a], tr[["x", "y"]].to_numpy()[b]
            xy = pa + r * (pb - pa)
            rows.append(pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "cls": c, "split": "synthetic",
                                      "image": tr["image"].to_numpy()[a], "partner_image": tr["image"].to_numpy()[b]}))
    df = pd.concat(rows, ignore_index=True)
    xy = df[["x", "y"]].to_numpy()
    pred = np.argmin(((xy[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    df["class_name"] = "digit " + df["cls"].astype(str)
    df["pred"] = "digit " + pd.Series(pred).astype(str)
    df["correct"] = pred == df["cls"].to_numpy()
    gap = np.full(len(df), np.nan)
    for c in range(10):
        train = (df["cls"] == c) & (df["split"] == "train")
        other = (df["cls"] == c) & (df["split"] != "train")
        if other.any():
            gap[other.to_numpy()] = cKDTree(xy[train.to_numpy()]).query(xy[other.to_numpy()])[0]
    df["gap"] = gap
    df["id"] = np.arange(len(df))
    return df[["id", "x", "y", "class_name", "split", "pred", "correct", "gap", "image", "partner_image"]]
