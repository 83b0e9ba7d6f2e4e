"""Map points: the point tables pages 2 and 3 hand to :func:`ui.map_component.map_chart`
(:func:`gap_points`, :func:`synthetic_points`, :func:`segment_frame`, :func:`class_colors`). The 2-D
coordinates come from the run's saved map (``ui.selection.run_map``); this module only arranges them.

Point ids follow one scheme (see :mod:`ui.selection`): train row ``r`` -> ``r``, test row ``r`` ->
``n_train + r``, synthetic row ``s`` -> ``n_train + n_test + s``; ``image`` holds the id of the real
image to show (a synthetic point's base) and ``partner_image`` a synthetic point's partner."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from eos_core.data import snapshot_subsample
from ui.figures.common import class_color


def class_colors(classes: Sequence[str]) -> dict[str, str]:
    """Class name -> the app's colour of that class (the one palette, :func:`ui.figures.common.class_color`)."""
    return {str(name): class_color(c) for c, name in enumerate(classes)}


def capped_rows(y: np.ndarray, cap: int | None, *, seed: int = 0) -> np.ndarray:
    """At most about ``cap`` rows, every class kept and small classes whole (``eos_core.data._subsample``)."""
    y = np.asarray(y)
    return np.arange(len(y)) if cap is None or len(y) <= cap else snapshot_subsample(y, int(cap), seed)


def gap_points(
    train_xy: np.ndarray, train_y: np.ndarray, test_xy: np.ndarray, test_y: np.ndarray, *,
    classes: Sequence[str], train_pred: np.ndarray, test_pred: np.ndarray,
    gap_train: np.ndarray | None = None, gap_test: np.ndarray | None = None,
    cap: int | None = None, seed: int = 0,
) -> pd.DataFrame:
    """Page 2's map points for ``map_chart``: train then test, each capped at ``cap`` (minorities whole).

    Returns
    -------
    DataFrame
        ``id, row, label, x, y, class_name, split, pred, correct, gap, image`` (``image`` = ``id``).
    """
    names = np.asarray([str(c) for c in classes], dtype=object)
    n_train = len(train_y)
    frames = []
    for split, xy, y, pred, gap, off in (("train", train_xy, train_y, train_pred, gap_train, 0),
                                         ("test", test_xy, test_y, test_pred, gap_test, n_train)):
        y = np.asarray(y).astype(int)
        rows = capped_rows(y, cap, seed=seed)
        pr = np.asarray(pred).astype(int)[rows]
        xy = np.asarray(xy)
        frames.append(pd.DataFrame({
            "id": rows + off, "row": rows, "label": y[rows], "x": xy[rows, 0], "y": xy[rows, 1],
            "class_name": names[y[rows]], "split": split, "pred": names[pr], "correct": pr == y[rows],
            "gap": (np.asarray(gap, np.float32)[rows] if gap is not None else np.nan), "image": rows + off,
        }))
    return pd.concat(frames, ignore_index=True)


def synthetic_points(
    *, train_xy: np.ndarray, train_y: np.ndarray, test_xy: np.ndarray, test_y: np.ndarray,
    syn_xy: np.ndarray, syn_y: np.ndarray, base: np.ndarray | None, partner: np.ndarray | None,
    classes: Sequence[str], show: Sequence[int], cap: int, context: bool, seed: int = 0,
) -> pd.DataFrame:
    """Page 3's map points for one oversampler.

    Real training and test points of the ``show`` classes (each split capped at ``cap``, minorities
    whole), the synthetic points of those classes that are on the map (capped at ``cap``, uniformly),
    the **enemies** (partners from other classes: always drawn, as training points of their class) and,
    with ``context``, up to ``cap`` other training points.

    Returns
    -------
    DataFrame
        ``id, row, label, x, y, class_name, split, image, partner_image`` (``row``: row within its split).
    """
    names = np.asarray([str(c) for c in classes], dtype=object)
    train_y, test_y, syn_y = (np.asarray(a).astype(int) for a in (train_y, test_y, syn_y))
    n_train, n_test = len(train_y), len(test_y)
    show = np.asarray(list(show), int)
    placed = np.isfinite(syn_xy[:, 0]) if len(syn_xy) else np.zeros(0, bool)
    keep = np.flatnonzero(np.isin(syn_y, show) & placed)
    if len(keep) > cap:
        keep = np.sort(np.random.default_rng(seed).choice(keep, size=int(cap), replace=False))
    has_prov = base is not None and partner is not None and len(base) == len(syn_y) and len(syn_y) > 0
    real = np.flatnonzero(np.isin(train_y, show))
    real = real[capped_rows(train_y[real], cap, seed=seed)]
    extra = [np.unique(np.asarray(partner)[keep])] if has_prov and len(keep) else []
    if context:
        other = np.flatnonzero(~np.isin(train_y, show))
        extra.append(other[capped_rows(train_y[other], cap, seed=seed + 1)])
    if extra:
        real = np.union1d(real, np.concatenate(extra)).astype(int)
    test = np.flatnonzero(np.isin(test_y, show))
    test = test[capped_rows(test_y[test], cap, seed=seed)]

    def frame(split: str, rows: np.ndarray, xy: np.ndarray, y: np.ndarray, off: int) -> pd.DataFrame:
        return pd.DataFrame({"id": rows + off, "row": rows, "label": y[rows], "x": xy[rows, 0], "y": xy[rows, 1],
                             "class_name": names[y[rows]], "split": split, "image": rows + off, "partner_image": -1})

    syn = frame("synthetic", keep, np.asarray(syn_xy), syn_y, n_train + n_test)
    syn["image"] = np.asarray(base)[keep] if has_prov else -1
    syn["partner_image"] = np.asarray(partner)[keep] if has_prov else -1
    return pd.concat([frame("train", real, np.asarray(train_xy), train_y, 0),
                      frame("test", test, np.asarray(test_xy), test_y, n_train), syn], ignore_index=True)


def segment_frame(train_xy: np.ndarray, base: np.ndarray, partner: np.ndarray, rows: np.ndarray) -> pd.DataFrame:
    """``x0, y0, x1, y1`` of the base -> partner segments of synthetic rows ``rows`` (plain copies skipped)."""
    rows = np.asarray(rows, int)
    b, p = np.asarray(base, int)[rows], np.asarray(partner, int)[rows]
    b, p = b[b != p], p[b != p]
    xy = np.asarray(train_xy)
    return pd.DataFrame({"x0": xy[b, 0], "y0": xy[b, 1], "x1": xy[p, 0], "y1": xy[p, 1]})
