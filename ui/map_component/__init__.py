"""An embedding map for Streamlit with image hover, click/box/lasso selection that returns ids to Python.

Why a custom component
----------------------
``st.plotly_chart`` sends no hover events (so no image on hover) and Streamlit turns click selection off
in lasso mode. This component is plain HTML + JS (no npm build) over **plotly.js served offline** from
the installed ``plotly`` wheel (``plotly/package_data/plotly.min.js`` is copied next to
``frontend/index.html`` in the served folder: Streamlit refuses symlinks that leave a component's root).
Alternatives weighed (see README.md here): Embedding Atlas's Streamlit component and Bokeh via
``streamlit-bokeh`` add packages and a second plotting stack for what plotly.js, already installed,
does once hover and selection events reach Python.

Python API
----------
``map_chart(points, images=None, *, color_by="class", key=None, height=560, class_colors=None,
title=None) -> dict`` — see :func:`map_chart`.
"""

from __future__ import annotations

import filecmp
import hashlib
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import plotly
import streamlit.components.v1 as components

from ui.map_component.packing import (
    COLOR_BY,
    b64,
    data_token,
    fetch_images,
    image_slots,
    pack_points,
    write_data,
    write_sprites,
)

__all__ = ["map_chart", "served_dir", "COLOR_BY"]

_FRONTEND = Path(__file__).resolve().parent / "frontend"
_PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
_EMPTY = {"ids": [], "mode": None, "seq": 0}


def served_dir() -> Path:
    """The folder Streamlit serves for this component: frontend files, plotly.min.js and sprite sheets.

    ``$EOS_MAP_COMPONENT_DIR`` or ``~/.cache/eos-explorer/map_component``; (re)filled when its copies
    differ from the sources, so an upgraded plotly or an edited frontend is picked up at import.
    """
    root = Path(os.environ.get("EOS_MAP_COMPONENT_DIR") or Path.home() / ".cache" / "eos-explorer" / "map_component")
    root.mkdir(parents=True, exist_ok=True)
    for src in [*sorted(_FRONTEND.iterdir()), _PLOTLY_JS]:
        dst = root / src.name
        if src.is_file() and not (dst.exists() and filecmp.cmp(src, dst, shallow=False)):
            tmp = dst.with_suffix(dst.suffix + ".tmp")
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)  # atomic: a browser never reads a half-written file
    return root


_ROOT = served_dir()
_component = components.declare_component("eos_map", path=str(_ROOT))


def map_chart(
    points: pd.DataFrame,
    images: np.ndarray | Callable[[np.ndarray], np.ndarray] | None = None,
    *,
    color_by: str = "class",
    key: str | None = None,
    height: int = 560,
    class_colors: dict[str, str] | None = None,
    title: str | None = None,
    segments: pd.DataFrame | None = None,
    class_sizes: dict[str, int] | None = None,
) -> dict:
    """Draw an embedding map; return the current selection.

    Parameters
    ----------
    points : DataFrame, N rows
        ``id`` (int or str, unique), ``x``, ``y`` (float), ``class_name`` (str), ``split`` ("train", "test"
        or "synthetic"); optional ``pred`` (predicted class name), ``correct`` (bool), ``gap`` (float, e.g.
        distance to the nearest same-class training point), ``image`` (int row of ``images``; for a
        synthetic point its base's image), ``partner_image`` (int row; a synthetic point's partner), -1 or
        NaN = no image.
    images : ndarray (M, H, W) / (M, H, W, 3) / (M, C, H, W), or callable rows -> such an array, optional
        uint8, or floats in [0, 1]. Only rows referenced by ``image``/``partner_image`` are read; they are
        written once per distinct map as PNG sprite sheets the browser fetches on first hover of a sheet.
    color_by : {"class", "split", "pred", "correct", "gap"}
        Initial colouring; the map's own menu switches it without a rerun.
    key : str, optional
        Streamlit widget key (give one per map on a page).
    height : int
        Pixel height of the map.
    class_colors : dict, optional
        class name -> CSS colour (else a default palette).
    title : str, optional
    segments : DataFrame, optional
        ``x0, y0, x1, y1`` (base -> partner) drawn as dashed lines over the points, the partner end
        marked ×; sent with every rerun (keep it to a few hundred rows). Changing only the segments
        redraws the map without re-sending the points.

    class_sizes : dict, optional
        class name -> size that sets draw order, opacity, outline and legend order (smallest class on top
        and first), e.g. training images per class; default the points per class on the map.

    Returns
    -------
    dict
        ``{"ids": [...], "mode": "click" | "box" | "lasso" | "search" | None, "seq": int}``: the ids of the
        selected points (values of ``points["id"]``, same type) — a click selects one point, a box or lasso
        selects all visible points inside, a double click or an empty selection clears; ``seq`` increases
        with every new selection.
    """
    if color_by not in COLOR_BY:
        raise ValueError(f"color_by must be one of {COLOR_BY}, got {color_by!r}")
    token, url, sprites = _prepared(points, images, class_colors, class_sizes)
    seg = ([] if segments is None or segments.empty else
           np.round(segments[["x0", "y0", "x1", "y1"]].to_numpy(np.float64), 5).ravel().tolist())
    value = _component(data={"token": token, "url": url}, sprites=sprites, color_by=color_by,
                       height=int(height), title=title or "", segments=seg,
                       key=key, default=_EMPTY)
    return value if isinstance(value, dict) else dict(_EMPTY)


# Fingerprint of (points, colours, sizes, images given) -> (token, url, sprites) of maps already written: a
# rerun (every click or selection) with the same points skips packing, thumbnails and hashing (~0.25 s at
# 100,000 points). The points' ``image`` columns name the images, so the images themselves are not hashed.
_PREPARED: OrderedDict[str, tuple[str, str, dict | None]] = OrderedDict()
_PREPARED_MAX = 16
_PREPARED_LOCK = threading.Lock()  # sessions run in threads


def _prepared(points: pd.DataFrame, images, class_colors, class_sizes) -> tuple[str, str, dict | None]:
    h = hashlib.blake2b(digest_size=16)
    h.update(pd.util.hash_pandas_object(points, index=False).to_numpy().tobytes())
    h.update(repr((list(points.columns), sorted((class_colors or {}).items()), sorted((class_sizes or {}).items()),
                   images is None)).encode())
    key = h.hexdigest()
    with _PREPARED_LOCK:
        hit = _PREPARED.get(key)
        if hit is not None and (_ROOT / hit[1]).exists():  # the data file may have been pruned meanwhile
            _PREPARED.move_to_end(key)
            return hit
    data = pack_points(points, class_colors=class_colors, class_sizes=class_sizes)
    sprites = None
    if images is not None:
        rows, img, img2 = image_slots(points)
        data["img"], data["img2"] = b64(img), b64(img2)
        thumbs = fetch_images(images, rows)
        data["token"] = data_token(data, thumbs)
        if len(rows):
            sprites = write_sprites(thumbs, _ROOT, data["token"]).as_args()
    else:
        data["token"] = data_token(data, None)
    url = write_data(data, _ROOT)
    out = (data["token"], url, sprites)
    with _PREPARED_LOCK:
        _PREPARED[key] = out
        while len(_PREPARED) > _PREPARED_MAX:
            _PREPARED.popitem(last=False)
    return out
