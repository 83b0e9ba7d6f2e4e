"""Pure-Python side of the map component: column packing, class styles and thumbnail sprite sheets.

Nothing here imports streamlit, so it is unit-tested directly. The browser fetches, once per map, a JSON
file (:func:`write_data`) with

* the point columns as base64 little-endian typed arrays (``x``, ``y``, ``gap`` float32; ``cls`` and
  ``pred`` int16 codes into ``class_names``; ``split`` uint8 codes into :data:`SPLITS`; ``correct`` int8
  with -1 = unknown; ``img``/``img2`` int32 slots in the sprite sheets, -1 = none) — about 25 bytes a
  point, a few times smaller and much faster to parse than JSON;
* the ids as a JSON list (ints or strings, returned unchanged on selection);
* per-class styles: draw order by class size descending (the smallest class is drawn last, on top),
  opacity falling with class size, and an outline on minority points, so a 3-point class is never buried
  under a 6,000-point one;
* sprite sheets: PNG files of ``cols x cols`` thumbnails written under the component's served folder,
  fetched by the browser only when a point of that sheet is hovered.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ui.figures.common import class_color

SPLITS: tuple[str, ...] = ("train", "test", "synthetic")
# Marker per split, as plotly symbol names (all three exist in scattergl) and as legend glyphs.
SPLIT_SYMBOLS: dict[str, str] = {"train": "circle", "test": "square", "synthetic": "diamond"}
COLOR_BY: tuple[str, ...] = ("class", "split", "pred", "correct", "gap")

SHEET_COLS = 32  # thumbnails per sheet row: 1,024 a sheet, ~0.3-0.8 MB of PNG for 28-32 px images
MAX_THUMB_PX = 32


def b64(a: np.ndarray) -> str:
    """Base64 of an array's little-endian bytes (what the browser views as a typed array)."""
    return base64.b64encode(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False).tobytes()).decode()


def class_styles(counts: Sequence[int]) -> list[dict]:
    """Draw order and look of each class so that small classes stay visible.

    Parameters
    ----------
    counts : sequence of int, shape (C,)
        Points per class on the map (class code = position).

    Returns
    -------
    list of dict, one per class in draw order (first drawn = bottom)
        ``code``; ``opacity`` from 0.9 (smallest class) down to 0.35 (largest) linearly in size
        rank order; ``outline`` True for classes below the median count (a dark ring on every point).
        Ties keep code order; the largest class is drawn first.
    """
    counts = np.asarray(counts, dtype=np.int64)
    c = len(counts)
    order = sorted(range(c), key=lambda i: (-counts[i], i))
    median = float(np.median(counts)) if c else 0.0
    out = []
    for rank, code in enumerate(order):
        frac = rank / (c - 1) if c > 1 else 1.0  # 0 = largest class, 1 = smallest
        out.append({"code": int(code), "opacity": round(0.35 + 0.55 * frac, 3),
                    "outline": bool(counts[code] < median)})
    return out


@dataclass(frozen=True)
class Sprites:
    """Where the browser finds the thumbnail of slot ``s``: sheet ``s // per_sheet``, cell ``s % per_sheet``."""

    url: str  # relative to the component's index.html
    px: int
    cols: int
    count: int
    channels: int

    def as_args(self) -> dict:
        return {"url": self.url, "px": self.px, "cols": self.cols, "per_sheet": self.cols * self.cols,
                "count": self.count, "channels": self.channels}


def _thumbs(images: np.ndarray, px: int) -> np.ndarray:
    """(M, H, W[, C]) uint8 -> (M, px, px[, C]) by PIL box filtering when larger than ``px``."""
    if images.shape[1] <= px and images.shape[2] <= px:
        return images
    return np.stack([np.asarray(Image.fromarray(im).resize((px, px), Image.BOX)) for im in images])


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Images as uint8 (M, H, W) or (M, H, W, 3); floats in [0, 1] are scaled by 255."""
    a = np.asarray(images)
    if a.ndim == 4 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim == 4 and a.shape[1] in (1, 3) and a.shape[-1] not in (1, 3):  # CHW -> HWC
        a = np.moveaxis(a, 1, -1)
        a = a[..., 0] if a.shape[-1] == 1 else a
    if a.ndim not in (3, 4):
        raise ValueError(f"images must be (M, H, W) or (M, H, W, 3), got shape {a.shape}")
    if a.dtype != np.uint8:
        a = np.clip(np.rint(a.astype(np.float32) * (255.0 if a.max(initial=0) <= 1.0 else 1.0)), 0, 255)
        a = a.astype(np.uint8)
    return a


def sheet_array(thumbs: np.ndarray, cols: int = SHEET_COLS) -> np.ndarray:
    """Tile (n <= cols*cols, px, px[, C]) thumbnails row-major into one (rows*px, cols*px[, C]) sheet."""
    n, px = thumbs.shape[0], thumbs.shape[1]
    rows = max(1, -(-n // cols))
    sheet = np.zeros((rows * px, cols * px) + thumbs.shape[3:], np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        sheet[r * px:(r + 1) * px, c * px:(c + 1) * px] = thumbs[i]
    return sheet


def write_sprites(images: np.ndarray, root: Path, token: str, *, px: int = MAX_THUMB_PX,
                  cols: int = SHEET_COLS) -> Sprites:
    """Write thumbnail sheets ``root/sprites/<token>/<k>.png`` once (a ``done`` marker makes it idempotent)."""
    images = to_uint8(images)
    thumbs = _thumbs(images, px)
    tpx = int(thumbs.shape[1])
    channels = 1 if thumbs.ndim == 3 else int(thumbs.shape[3])
    rel = f"sprites/{token}/"
    out = root / rel
    per = cols * cols
    if not (out / "done").exists():
        out.mkdir(parents=True, exist_ok=True)
        for k in range(0, max(len(thumbs), 1), per):
            buf = io.BytesIO()
            Image.fromarray(sheet_array(thumbs[k:k + per], cols)).save(buf, "PNG", compress_level=1)
            (out / f"{k // per}.png").write_bytes(buf.getvalue())
        (out / "done").write_text(str(len(thumbs)))
    return Sprites(url=rel, px=tpx, cols=cols, count=len(thumbs), channels=channels)


def pack_points(points: pd.DataFrame, *, class_colors: dict[str, str] | None = None,
                class_sizes: dict[str, int] | None = None) -> dict:
    """Columns of ``points`` as the browser's typed arrays (see the module docstring).

    Parameters
    ----------
    points : DataFrame, N rows
        Required ``id``, ``x``, ``y``, ``class_name``, ``split`` (one of :data:`SPLITS`); optional ``pred``
        (a class name), ``correct`` (bool), ``gap`` (float), ``image`` and ``partner_image`` (int rows into
        the ``images`` given to :func:`ui.map_component.map_chart`, -1 = none).
    class_colors : dict, optional
        class name -> CSS colour; missing classes take the app palette (``ui.figures.common.class_color``) by
        order of appearance.

    class_sizes : dict, optional
        class name -> size that orders and styles the classes (e.g. training images per class, so a class
        padded with synthetic points still ranks as the minority it is); the legend then reads
        ``"name · n=size"``. Default: the number of points per class on the map, legend ``"name (count)"``.

    Returns
    -------
    dict
        JSON-ready ``args["data"]``; ``class_names`` ordered by first appearance in ``points``.
    """
    missing = [c for c in ("id", "x", "y", "class_name", "split") if c not in points.columns]
    if missing:
        raise ValueError(f"points lacks column(s) {', '.join(missing)}")
    n = len(points)
    names = [str(v) for v in pd.unique(points["class_name"].astype(str))]
    if "pred" in points.columns:
        names += [str(v) for v in pd.unique(points["pred"].dropna().astype(str)) if str(v) not in names]
    cls = pd.Categorical(points["class_name"].astype(str), categories=names).codes.astype(np.int16)
    bad = set(pd.unique(points["split"].astype(str))) - set(SPLITS)
    if bad:
        raise ValueError(f"split must be one of {SPLITS}, got {sorted(bad)}")
    split = pd.Categorical(points["split"].astype(str), categories=list(SPLITS)).codes.astype(np.uint8)
    if "pred" in points.columns:
        p = points["pred"]
        p = p.where(p.isna(), p.astype(str))
        pred = pd.Categorical(p, categories=names).codes.astype(np.int16)  # NaN -> -1
    else:
        pred = np.full(n, -1, np.int16)
    if "correct" in points.columns:
        c = points["correct"]
        corr = np.where(c.isna().to_numpy(), -1, c.fillna(False).astype(bool).to_numpy()).astype(np.int8)
    else:
        corr = np.full(n, -1, np.int8)
    gap = points["gap"].to_numpy(np.float32) if "gap" in points.columns else np.full(n, np.nan, np.float32)
    counts = np.bincount(cls, minlength=len(names))
    if class_sizes:
        sizes = np.asarray([int(class_sizes.get(nm, counts[i])) for i, nm in enumerate(names)], np.int64)
        labels = [f"{nm} · n={sz}" for nm, sz in zip(names, sizes, strict=True)]
    else:
        sizes, labels = counts, [f"{nm} ({c})" for nm, c in zip(names, counts, strict=True)]
    colors = [(class_colors or {}).get(nm, class_color(i)) for i, nm in enumerate(names)]  # the app's one palette
    ids = points["id"].tolist()
    ids = [int(v) for v in ids] if pd.api.types.is_integer_dtype(points["id"]) else [str(v) for v in ids]
    return {
        "n": n, "ids": ids, "class_names": names, "class_counts": counts.tolist(), "class_colors": colors,
        "class_labels": labels,
        "styles": class_styles(sizes), "splits": list(SPLITS), "symbols": [SPLIT_SYMBOLS[s] for s in SPLITS],
        "x": b64(points["x"].to_numpy(np.float32)), "y": b64(points["y"].to_numpy(np.float32)),
        "cls": b64(cls), "split": b64(split), "pred": b64(pred), "correct": b64(corr), "gap": b64(gap),
        "has": {"pred": bool((pred >= 0).any()), "correct": bool((corr >= 0).any()),
                "gap": bool(np.isfinite(gap).any())},
    }


def image_slots(points: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map the ``image``/``partner_image`` rows used by the points to dense sprite slots.

    Returns
    -------
    rows : ndarray (M,), int64
        The distinct image rows referenced, ascending (slot s shows image row ``rows[s]``).
    img, img2 : ndarray (N,), int32
        Each point's slot for ``image`` and ``partner_image`` (-1 = none).
    """
    n = len(points)
    a = points["image"].fillna(-1).to_numpy(np.int64) if "image" in points.columns else np.full(n, -1)
    b = (points["partner_image"].fillna(-1).to_numpy(np.int64) if "partner_image" in points.columns
         else np.full(n, -1))
    both = np.concatenate([a, b])
    rows = np.unique(both[both >= 0])
    slot = np.full(n, -1, np.int32), np.full(n, -1, np.int32)
    for src, dst in ((a, slot[0]), (b, slot[1])):
        ok = src >= 0
        dst[ok] = np.searchsorted(rows, src[ok])
    return rows, slot[0], slot[1]


def fetch_images(images: np.ndarray | Callable[[np.ndarray], np.ndarray], rows: np.ndarray) -> np.ndarray:
    """``images[rows]`` for an array, ``images(rows)`` for a callable; empty (0, 1, 1) when no rows."""
    if len(rows) == 0:
        return np.zeros((0, 1, 1), np.uint8)
    return to_uint8(images(rows) if callable(images) else np.asarray(images)[rows])


def write_data(data: dict, root: Path) -> str:
    """Write the packed columns once as ``root/data/<token>.json``; return that URL (relative to index.html).

    The browser fetches it once per map, so a Streamlit rerun (every click) sends a few hundred bytes of
    component arguments instead of the columns (4 MB at 100,000 points).
    """
    rel = f"data/{data['token']}.json"
    path = root / rel
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, separators=(",", ":")))
        os.replace(tmp, path)
        prune(root)
    return rel


def prune(root: Path, keep: int = 64) -> None:
    """Keep the ``keep`` most recently written maps (data files and sprite folders) under ``root``."""
    for sub, pattern in (("data", "*.json"), ("sprites", "*")):
        entries = sorted((root / sub).glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[keep:]:
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)


def data_token(data: dict, thumbs: np.ndarray | None) -> str:
    """A content hash naming one map (its sprite folder, and the browser's "same data, keep the view" test)."""
    h = hashlib.blake2b(digest_size=12)
    for key in ("x", "y", "cls", "split", "pred", "correct", "gap", "img", "img2"):
        h.update(data.get(key, "").encode())
    h.update(repr((data["ids"], data["n"], data["class_names"], data["class_colors"], data["class_labels"])).encode())
    if thumbs is not None:
        h.update(repr(thumbs.shape).encode())
        h.update(np.ascontiguousarray(thumbs).data)
    return h.hexdigest()
