"""Python side of the map component: column packing, class styles, image slots and sprite sheets."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ui.map_component.packing import (
    class_styles,
    image_slots,
    pack_points,
    sheet_array,
    to_uint8,
    write_sprites,
)


def _decode(s: str, dtype) -> np.ndarray:
    return np.frombuffer(base64.b64decode(s), dtype=np.dtype(dtype).newbyteorder("<"))


def _points() -> pd.DataFrame:
    return pd.DataFrame({
        "id": [10, 11, 12, 13, 14],
        "x": [0.5, 1.25, -2.0, 3.0, 0.0],
        "y": [1.0, -1.0, 0.25, 2.0, 5.5],
        "class_name": ["cat", "cat", "dog", "cat", "bird"],
        "split": ["train", "test", "train", "synthetic", "test"],
        "pred": ["cat", "dog", "dog", None, "cat"],
        "correct": [True, False, True, None, False],
        "gap": [np.nan, 0.5, np.nan, 1.5, 2.0],
        "image": [4, 2, 0, 4, -1],
        "partner_image": [-1, -1, -1, 0, -1],
    })


def test_pack_points_columns_round_trip():
    d = pack_points(_points())
    assert d["n"] == 5
    assert d["ids"] == [10, 11, 12, 13, 14]
    assert d["class_names"] == ["cat", "dog", "bird"]  # first appearance
    assert d["class_counts"] == [3, 1, 1]
    np.testing.assert_array_equal(_decode(d["x"], np.float32), np.float32([0.5, 1.25, -2.0, 3.0, 0.0]))
    np.testing.assert_array_equal(_decode(d["y"], np.float32), np.float32([1.0, -1.0, 0.25, 2.0, 5.5]))
    np.testing.assert_array_equal(_decode(d["cls"], np.int16), [0, 0, 1, 0, 2])
    np.testing.assert_array_equal(_decode(d["split"], np.uint8), [0, 1, 0, 2, 1])
    np.testing.assert_array_equal(_decode(d["pred"], np.int16), [0, 1, 1, -1, 0])
    np.testing.assert_array_equal(_decode(d["correct"], np.int8), [1, 0, 1, -1, 0])
    np.testing.assert_array_equal(_decode(d["gap"], np.float32), np.float32([np.nan, 0.5, np.nan, 1.5, 2.0]))
    assert d["has"] == {"pred": True, "correct": True, "gap": True}
    assert d["splits"] == ["train", "test", "synthetic"]
    assert d["symbols"] == ["circle", "square", "diamond"]
    assert d["class_colors"] == ["#1f77b4", "#ff7f0e", "#2ca02c"]
    assert pack_points(_points(), class_colors={"dog": "#000000"})["class_colors"][1] == "#000000"


def test_pack_points_optional_columns_and_string_ids():
    p = _points()[["id", "x", "y", "class_name", "split"]].assign(id=["a", "b", "c", "d", "e"])
    d = pack_points(p)
    assert d["ids"] == ["a", "b", "c", "d", "e"]
    np.testing.assert_array_equal(_decode(d["pred"], np.int16), [-1] * 5)
    np.testing.assert_array_equal(_decode(d["correct"], np.int8), [-1] * 5)
    assert d["has"] == {"pred": False, "correct": False, "gap": False}


def test_pack_points_rejects_bad_input():
    with pytest.raises(ValueError, match="lacks column"):
        pack_points(_points().drop(columns="split"))
    with pytest.raises(ValueError, match="split must be one of"):
        pack_points(_points().assign(split="val"))


def test_class_styles_draw_smallest_last():
    styles = class_styles([500, 5, 60, 5, 1000])
    # Largest first (bottom), smallest last (top); ties keep code order.
    assert [s["code"] for s in styles] == [4, 0, 2, 1, 3]
    assert [s["opacity"] for s in styles] == [0.35, 0.487, 0.625, 0.762, 0.9]
    # Outline below the median count (60): the two 5-point classes.
    assert [s["outline"] for s in styles] == [False, False, False, True, True]
    assert class_styles([7]) == [{"code": 0, "opacity": 0.9, "outline": False}]


def test_image_slots_dense_and_shared():
    rows, img, img2 = image_slots(_points())
    np.testing.assert_array_equal(rows, [0, 2, 4])
    np.testing.assert_array_equal(img, [2, 1, 0, 2, -1])
    np.testing.assert_array_equal(img2, [-1, -1, -1, 0, -1])


def test_sheet_array_tiles_row_major():
    thumbs = np.arange(5 * 2 * 2, dtype=np.uint8).reshape(5, 2, 2)
    sheet = sheet_array(thumbs, cols=3)
    assert sheet.shape == (4, 6)
    np.testing.assert_array_equal(sheet[0:2, 2:4], thumbs[1])
    np.testing.assert_array_equal(sheet[2:4, 2:4], thumbs[4])
    np.testing.assert_array_equal(sheet[2:4, 4:6], 0)  # unused cell


def test_to_uint8_layouts():
    f = np.full((2, 1, 4, 4), 0.5, np.float32)  # (M, C=1, H, W) floats in [0, 1]
    out = to_uint8(f)
    assert out.shape == (2, 4, 4) and out.dtype == np.uint8 and out[0, 0, 0] == 128
    rgb = to_uint8(np.zeros((1, 3, 4, 4), np.uint8))
    assert rgb.shape == (1, 4, 4, 3)


def test_write_sprites_reads_back(tmp_path):
    rng = np.random.default_rng(0)
    ims = rng.integers(0, 256, (1030, 28, 28), dtype=np.uint8)
    sp = write_sprites(ims, tmp_path, "tok", cols=32)
    assert sp.as_args() == {"url": "sprites/tok/", "px": 28, "cols": 32, "per_sheet": 1024, "count": 1030,
                            "channels": 1}
    s0 = np.asarray(Image.open(tmp_path / "sprites/tok/0.png"))
    s1 = np.asarray(Image.open(tmp_path / "sprites/tok/1.png"))
    assert s0.shape == (32 * 28, 32 * 28) and s1.shape == (28, 32 * 28)
    np.testing.assert_array_equal(s0[28:56, 5 * 28:6 * 28], ims[37])  # slot 37: row 1, column 5
    np.testing.assert_array_equal(s1[:, 28:56], ims[1025])
    # Larger images are box-filtered to 32 px; colour stays colour.
    big = write_sprites(np.full((2, 64, 64, 3), 200, np.uint8), tmp_path, "rgb")
    assert (big.px, big.channels) == (32, 3)
    assert np.asarray(Image.open(tmp_path / "sprites/rgb/0.png")).shape == (32, 32 * 32, 3)


def test_map_chart_without_a_streamlit_session(tmp_path, monkeypatch):
    from ui.map_component import _ROOT, map_chart

    ims = np.arange(5 * 4 * 4, dtype=np.uint8).reshape(5, 4, 4)
    out = map_chart(_points(), ims, key="t")
    assert out == {"ids": [], "mode": None, "seq": 0}
    assert (_ROOT / "plotly.min.js").stat().st_size > 1_000_000  # served offline from the plotly wheel
    assert any((_ROOT / "sprites").glob("*/0.png"))
    assert any((_ROOT / "data").glob("*.json"))
    with pytest.raises(ValueError, match="color_by"):
        map_chart(_points(), color_by="size")


def test_class_sizes_set_order_and_legend_and_default_palette_is_the_apps():
    from ui.figures.common import class_color

    pts = _points()  # on the map: cat 3, dog 2, bird 1
    data = pack_points(pts, class_sizes={"cat": 5, "dog": 500, "bird": 50})
    assert data["class_labels"] == ["cat · n=5", "dog · n=500", "bird · n=50"]
    assert [s["code"] for s in data["styles"]] == [1, 2, 0]  # dog (largest) drawn first, cat (smallest) on top
    assert data["class_colors"] == [class_color(0), class_color(1), class_color(2)]
    plain = pack_points(pts)
    assert plain["class_labels"] == ["cat (3)", "dog (1)", "bird (1)"]


def test_map_chart_reuses_a_prepared_map_for_the_same_points(monkeypatch):
    import ui.map_component as mc

    calls = []
    real = mc.pack_points
    monkeypatch.setattr(mc, "pack_points", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(mc, "_component", lambda **kw: kw["data"])
    pts = _points().assign(x=lambda d: d["x"] + 1000.0)  # a map no other test prepared
    images = np.zeros((5, 8, 8), np.uint8)
    first = mc.map_chart(pts, images)
    second = mc.map_chart(pts.copy(), images)
    assert calls == [1] and first == second  # packed once; same token and data file
    mc.map_chart(pts.assign(y=pts["y"] + 1.0), images)
    assert calls == [1, 1]  # other points: packed again
