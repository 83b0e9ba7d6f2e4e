"""The map component in a real browser: hover shows the point's image, click / box / lasso return ids to Python.

Runs ``ui/map_component/demo_app.py`` (2,001 synthetic points, ten classes at ratio 100, digit images) in
headless Chromium. Screenshots go to ``test-artifacts/e2e/map_*.png``. Run alone with
``.venv/bin/python -m pytest -m e2e tests/e2e/test_map.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from .harness import ARTIFACTS, StreamlitServer
from .map_helpers import (
    all_point_xy,
    choose_dragmode,
    drag,
    drawn_selection,
    hover,
    map_frame,
    plot_area,
    point_xy,
    wait_plot_ready,
)

pytestmark = pytest.mark.e2e

N = 2000


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    """``streamlit run ui/map_component/demo_app.py`` (the shared server runs app.py)."""
    served = tmp_path_factory.mktemp("map-served")
    with StreamlitServer(ARTIFACTS / "map_streamlit.log", script="ui/map_component/demo_app.py",
                         env={"EOS_MAP_COMPONENT_DIR": str(served)}) as server:
        server.wait_healthy()
        yield server


@pytest.fixture(scope="module")
def points():
    from ui.map_component.demo import demo_points

    return demo_points(N)


@pytest.fixture(scope="module")
def images():
    from ui.map_component.demo import demo_images

    return demo_images()[0]


def canvas_gray(frame, k: int) -> np.ndarray:
    data = frame.evaluate(f"""() => {{ const c = document.querySelectorAll('#tip canvas')[{k}];
        return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }}""")
    px = int(round((len(data) // 4) ** 0.5))
    return np.asarray(data, dtype=np.uint8).reshape(px, px, 4)[..., 0]


def wait_selected(page, frame, count: int, mode: str) -> None:
    """Python shows the selection the component sent (count and mode)."""
    from playwright.sync_api import expect

    try:
        expect(page.get_by_text(f"Selected: {count} points")).to_be_visible()
        expect(page.get_by_text(f"(mode: {mode})")).to_be_visible()
    except AssertionError as err:
        shown = page.get_by_text("Selected:").inner_text()
        raise AssertionError(f"expected {count} ({mode}); page says {shown!r}; map says "
                             f"{frame.inner_text('#status')!r}") from err


def inside_polygon(xy: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd ray casting, (N, 2) points in a closed (M, 2) polygon."""
    x, y = xy[:, 0], xy[:, 1]
    inside = np.zeros(len(xy), bool)
    for (x1, y1), (x2, y2) in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xint = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < xint)
    return inside


def test_map_hover_click_box_lasso(page, demo_server, points, images):
    from playwright.sync_api import expect

    page.goto(f"{demo_server.url}/?n={N}")
    el, frame = map_frame(page)
    wait_plot_ready(page, el, frame)  # drawn, laid out and standing still: the pixels below are final
    page.screenshot(path=str(ARTIFACTS / "map_classes.png"))
    assert frame.evaluate("document.getElementById('status').dataset.selected") == "0"

    # Every class visible: its points' centre pixels show its own (opacity-blended) colour somewhere.
    shot = ARTIFACTS / "map_classes.png"
    from PIL import Image

    rgb = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    styles = {s["code"]: s for s in frame.evaluate("window.__eosMap.state.d.styles")}
    names = frame.evaluate("window.__eosMap.state.d.class_names")
    colors = frame.evaluate("window.__eosMap.state.d.class_colors")
    visible, pixel = {}, all_point_xy(el, frame)
    for code, name in enumerate(names):
        col = np.array([int(colors[code][i:i + 2], 16) for i in (1, 3, 5)])
        want = styles[code]["opacity"] * col + (1 - styles[code]["opacity"]) * 255
        ids = points.loc[points["class_name"] == name, "id"].to_numpy()
        hits = 0
        for pid in ids:
            x, y = pixel[int(pid)]
            hits += np.abs(rgb[int(round(y)), int(round(x))] - want).max() <= 40
        visible[name] = hits / len(ids)
    assert all(v > 0.2 for v in visible.values()), visible
    smallest = names[max(styles, key=lambda c: styles[c]["opacity"])]
    assert visible[smallest] > 0.8, visible  # drawn last: nothing else covers the smallest class

    # Hover a point of the smallest class: its own image in the map.
    minority = points[(points["class_name"] == smallest) & (points["split"] == "train")].iloc[0]
    hover(page, el, frame, minority["id"])
    np.testing.assert_array_equal(canvas_gray(frame, 0), images[int(minority["image"])])
    page.screenshot(path=str(ARTIFACTS / "map_hover.png"))
    # A synthetic point shows its base and its partner.
    syn = points[points["split"] == "synthetic"].iloc[-1]
    hover(page, el, frame, syn["id"])
    np.testing.assert_array_equal(canvas_gray(frame, 0), images[int(syn["image"])])
    np.testing.assert_array_equal(canvas_gray(frame, 1), images[int(syn["partner_image"])])
    assert "partner" in frame.inner_text("#tip")
    page.screenshot(path=str(ARTIFACTS / "map_hover_synthetic.png"))

    # A plain click (default drag mode: zoom) selects the point and Python gets its id.
    x, y = point_xy(el, frame, minority["id"])
    page.mouse.click(x, y)
    wait_selected(page, frame, 1, "click")
    expect(page.get_by_text(f"ids: {int(minority['id'])}")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "map_click.png"))

    # Box: the same count as the points inside the dragged rectangle.
    choose_dragmode(page, el, frame, "select")
    x0, y0, w, h = plot_area(el, frame)
    drag(page, frame, [(x0 + 0.55 * w, y0 + 0.45 * h), (x0 + 0.85 * w, y0 + 0.8 * h)], steps=12)
    # Plotly keeps the drawn selection in data coordinates; the ids sent must be the points inside it.
    sel = drawn_selection(frame, "box")
    assert sel["type"] == "rect"
    xs, ys = points["x"].to_numpy(), points["y"].to_numpy()
    inside = ((xs >= min(sel["x0"], sel["x1"])) & (xs <= max(sel["x0"], sel["x1"]))
              & (ys >= min(sel["y0"], sel["y1"])) & (ys <= max(sel["y0"], sel["y1"])))
    expect_box = int(inside.sum())
    assert expect_box > 20
    wait_selected(page, frame, expect_box, "box")
    assert sorted(frame.evaluate("window.__eosMap.state.selected")) == sorted(points["id"][inside].tolist())
    assert frame.evaluate("document.getElementById('status').dataset.selected") == str(expect_box)
    page.screenshot(path=str(ARTIFACTS / "map_box.png"))

    # Lasso: a hexagon drawn with the mouse; the count equals the points inside that polygon.
    choose_dragmode(page, el, frame, "lasso")
    x0, y0, w, h = plot_area(el, frame)
    cx, cy, rx, ry = x0 + 0.3 * w, y0 + 0.5 * h, 0.18 * w, 0.25 * h
    drag(page, frame, [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 25)],
         steps=2)
    path = drawn_selection(frame, "lasso")["path"]
    verts = np.array([[float(v) for v in p.split(",")] for p in path.strip("MZ").split("L")])
    inside = inside_polygon(np.c_[xs, ys], verts)
    expect_lasso = int(inside.sum())
    assert expect_lasso > 20
    wait_selected(page, frame, expect_lasso, "lasso")
    assert sorted(frame.evaluate("window.__eosMap.state.selected")) == sorted(points["id"][inside].tolist())
    page.screenshot(path=str(ARTIFACTS / "map_lasso.png"))

    # Search by id selects that point.
    frame.fill("#search", str(int(syn["id"])))
    frame.press("#search", "Enter")
    wait_selected(page, frame, 1, "search")
    assert "found #" in frame.inner_text("#status")
