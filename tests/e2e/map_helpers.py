"""Driving the map component (``ui/map_component``) in a browser: its frame, point pixels, hover and drags.

Shared by ``test_map.py`` (the standalone demo) and ``test_pages_map.py`` (the app's pages). The map
draws with plotly.js inside a same-origin iframe and exposes ``window.__eosMap`` (its state and
``pointPixel(id)``) for tests.

Drags are the fragile part on a loaded machine: Chromium merges the mouse moves that arrive within one
frame, so a fast lasso can reach plotly as a few points (a degenerate polygon, an empty selection), and
a plot that moves on the page (a Streamlit rerun changing the layout above it) during a drag puts the
drag somewhere else. So :func:`wait_plot_ready` waits for the app to be idle, the drag mode to be set and
the plot to stand still, and :func:`drag` lets a frame pass after every mouse move.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .harness import map_drawn, wait_idle, wait_layout_stable

if TYPE_CHECKING:
    from playwright.sync_api import ElementHandle, Frame, Page

Point = tuple[float, float]
NEXT_FRAME = "() => new Promise((resolve) => requestAnimationFrame(() => resolve()))"


def map_frame(page: Page, key: str | None = None, timeout_ms: float = 120_000) -> tuple[ElementHandle, Frame]:
    """The iframe element and frame of the map with widget key ``key`` (the page's only map: None), once drawn."""
    from playwright.sync_api import expect

    expect(map_drawn(page, key), f"the map {key or ''} did not draw").to_be_attached(timeout=timeout_ms)
    el = page.locator(f".st-key-{key} iframe" if key else "iframe").first.element_handle()
    frame = el.content_frame()
    assert frame is not None
    return el, frame


def point_xy(el: ElementHandle, frame: Frame, pid: int) -> Point:
    """Page pixel of the point with id ``pid``."""
    box, xy = el.bounding_box(), frame.evaluate(f"window.__eosMap.pointPixel({int(pid)})")
    return box["x"] + xy["x"], box["y"] + xy["y"]


def plot_area(el: ElementHandle, frame: Frame) -> tuple[float, float, float, float]:
    """Page pixels ``(x, y, width, height)`` of the plot's axes area."""
    box = el.bounding_box()
    pa = frame.evaluate("""() => { const gd = document.getElementById('plot'), fl = gd._fullLayout,
        r = gd.getBoundingClientRect(); return [r.left + fl._size.l, r.top + fl._size.t, fl._size.w, fl._size.h]; }""")
    return box["x"] + pa[0], box["y"] + pa[1], pa[2], pa[3]


def _mouse_off_plot(page: Page, el: ElementHandle, frame: Frame) -> None:
    """Move the mouse just outside the plot's axes (inside the iframe), so the next hover is a new one."""
    from playwright.sync_api import expect

    x0, y0, _, _ = plot_area(el, frame)
    page.mouse.move(x0 - 8, y0 - 8)
    expect(frame.locator("#tip")).not_to_have_attribute("data-state", "ready")


def hover_shows(page: Page, el: ElementHandle, frame: Frame, pid: int, timeout_ms: float = 30_000) -> int:
    """Hover the pixel of point ``pid``; the id of the point whose image the map then shows.

    Another point drawn on top of ``pid`` is the one plotly hovers there, so the id can differ.
    """
    from playwright.sync_api import expect

    _mouse_off_plot(page, el, frame)
    x, y = point_xy(el, frame, pid)
    page.mouse.move(x, y)  # one move: the only point plotly hovers is the one under the cursor
    tip = frame.locator("#tip")
    expect(tip).to_have_attribute("data-state", "ready", timeout=timeout_ms)
    return int(tip.get_attribute("data-id"))


def hover(page: Page, el: ElementHandle, frame: Frame, pid: int, timeout_ms: float = 30_000) -> None:
    """Hover point ``pid`` and wait for its image in the map's tooltip (the point must not be covered)."""
    shown = hover_shows(page, el, frame, pid, timeout_ms)
    assert shown == int(pid), f"hovering #{pid} shows #{shown} (another point on top)"


def visible_point(page: Page, el: ElementHandle, frame: Frame, ids: list[int]) -> int:
    """The first of ``ids`` (at most 40 tried) that plotly hovers at its own pixel (not covered by another)."""
    for pid in ids[:40]:
        if hover_shows(page, el, frame, pid) == int(pid):
            return int(pid)
    raise AssertionError("no hoverable point")


def wait_plot_ready(page: Page, el: ElementHandle, frame: Frame, dragmode: str | None = None) -> None:
    """Wait until a drag on the map will land where it is aimed.

    The app is idle (no rerun about to change the page's layout), the map's current data is drawn,
    plotly's drag mode is ``dragmode`` (``"select"`` or ``"lasso"``; its modebar button is active) and
    the plot has kept its place and size for a few frames.
    """
    from playwright.sync_api import expect

    wait_idle(page)
    expect(frame.locator("body")).to_have_attribute("data-ready", frame.evaluate("window.__eosMap.state.token"))
    if dragmode is not None:
        expect(frame.locator(f'.modebar-btn[data-val="{dragmode}"]')).to_have_class(re.compile(r"\bactive\b"))
    wait_layout_stable(page)
    wait_layout_stable(frame)


def choose_dragmode(page: Page, el: ElementHandle, frame: Frame, dragmode: str) -> None:
    """Click the modebar button of ``dragmode`` and wait until a drag will use it."""
    frame.click(f'.modebar-btn[data-val="{dragmode}"]')
    wait_plot_ready(page, el, frame, dragmode)


def drag(page: Page, frame: Frame, pts: list[Point], steps: int = 3) -> None:
    """Press at ``pts[0]``, move through the others (``steps`` moves per segment), release.

    A frame passes after every move, so plotly receives each move as its own event even when the
    machine is busy (Chromium coalesces the moves that arrive within one frame).
    """
    page.mouse.move(*pts[0])
    frame.evaluate(NEXT_FRAME)
    page.mouse.down()
    frame.evaluate(NEXT_FRAME)
    last = pts[0]
    for p in pts[1:]:
        for k in range(1, steps + 1):
            page.mouse.move(last[0] + (p[0] - last[0]) * k / steps, last[1] + (p[1] - last[1]) * k / steps)
            frame.evaluate(NEXT_FRAME)
        last = p
    page.mouse.up()


def wait_selection_mode(frame: Frame, mode: str | None, timeout_ms: float = 30_000) -> int:
    """Wait until the map has sent a ``mode`` selection to Python (None: the selection was cleared);
    the number of points selected.

    The mode lives only in the map's JavaScript state (the status line shows the count alone).
    """
    want = "null" if mode is None else f"'{mode}'"
    try:
        frame.wait_for_function(f"window.__eosMap.state.mode === {want}", timeout=timeout_ms)
    except Exception as err:
        raise AssertionError(f"no {mode} selection; map state: " + str(frame.evaluate(
            "[window.__eosMap.state.mode, window.__eosMap.state.selected.length, "
            "document.getElementById('plot')._fullLayout.dragmode]"))) from err
    return int(frame.evaluate("window.__eosMap.state.selected.length"))


def all_point_xy(el: ElementHandle, frame: Frame) -> dict[int, Point]:
    """Page pixel of every point of the map, by id (one round trip instead of one per point)."""
    box = el.bounding_box()
    got = frame.evaluate("""() => { const d = window.__eosMap.state.d, gd = document.getElementById('plot'),
        fl = gd._fullLayout, r = gd.getBoundingClientRect(), out = [];
        for (let i = 0; i < d.n; i++) out.push([d.ids[i], r.left + fl._size.l + fl.xaxis.l2p(d.x[i]),
                                               r.top + fl._size.t + fl.yaxis.l2p(d.y[i])]);
        return out; }""")
    return {int(i): (box["x"] + x, box["y"] + y) for i, x, y in got}


def drawn_selection(frame: Frame, mode: str, timeout_ms: float = 30_000) -> dict:
    """The selection plotly keeps in its layout (data coordinates) after a ``mode`` ("box", "lasso") drag.

    Plotly adds it to ``layout.selections`` through a relayout that can finish after the mouse is released
    (and after the map sent the selection), so both are waited for.
    """
    wait_selection_mode(frame, mode, timeout_ms)
    frame.wait_for_function("(() => { const s = document.getElementById('plot').layout.selections;"
                            " return !!(s && s.length); })()", timeout=timeout_ms)
    return frame.evaluate("document.getElementById('plot').layout.selections[0]")
