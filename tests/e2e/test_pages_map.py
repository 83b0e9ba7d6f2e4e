"""The map on the real app pages (issue 9) in headless Chromium, after a tiny digits run made by the CLI.

*Embedding gap*: hover a point and see its image, click a point and see its card (image, nearest training
images), drag a box and a lasso and see the selection summary, the paged image grid and the CSV button.
*Synthetic inspector*: hover a synthetic point (base and partner images), click it (its provenance card),
segments drawn for every method that interpolates. A Fashion-MNIST ρ=100 map (2 epochs, 600 images in the
largest class) shows every class: each class's own colour in at least 50 pixels of the plot.
Screenshots: ``test-artifacts/e2e/pages_map_*.png``.

Run alone: ``.venv/bin/python -m pytest -m e2e tests/e2e/test_pages_map.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from .conftest import ARTIFACTS, ROOT, StreamlitServer

pytestmark = pytest.mark.e2e

RUNNING = '[data-testid="stStatusWidgetRunningIcon"]'
METHODS = "eos,smote,bsmote,adasyn,ros"


def make_run(runs: Path, *args: str) -> str:
    """A run made by the CLI, which saves its UMAP map with it (as the app's training job does)."""
    env = dict(os.environ, EOS_RUNS_DIR=str(runs))
    out = subprocess.run([sys.executable, "-m", "eos_core", "run", "--runs-dir", str(runs), *args],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    run_id = sorted(p.name for p in runs.iterdir() if p.is_dir() and p.name[:1].isdigit())[-1]
    assert (runs / run_id / "projection_umap.npz").exists()  # page 2 opens it without a job
    return run_id


@pytest.fixture(scope="module")
def digits_server(tmp_path_factory):
    runs = tmp_path_factory.mktemp("pages-map-runs")
    run_id = make_run(runs, "--dataset", "digits", "--ratio", "20", "--epochs", "3", "--head-epochs", "2",
                      "--methods", METHODS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    server = StreamlitServer(runs, ARTIFACTS / "pages_map_streamlit.log")
    server.runs = runs  # the verdict test reads the stored files
    try:
        server.wait_healthy()
        yield server, run_id
    finally:
        server.stop()


def wait_idle(page, timeout_s: float = 90.0, quiet_s: float = 0.75) -> None:
    deadline, quiet = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        if page.locator(RUNNING).count():
            quiet = None
        elif quiet is None:
            quiet = time.monotonic()
        elif time.monotonic() - quiet >= quiet_s:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the app was still running after {timeout_s:.0f} s")


def map_frame(page, key: str, timeout_s: float = 120.0):
    """The iframe element and frame of the map with widget key ``key``, once drawn."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        el = page.query_selector(f".st-key-{key} iframe")
        frame = el.content_frame() if el else None
        if frame is not None and frame.evaluate("document.body && document.body.dataset.ready || ''"):
            return el, frame
        page.wait_for_timeout(150)
    raise AssertionError(f"the map {key} did not draw")


def point_xy(el, frame, pid) -> tuple[float, float]:
    box, xy = el.bounding_box(), frame.evaluate(f"window.__eosMap.pointPixel({int(pid)})")
    return box["x"] + xy["x"], box["y"] + xy["y"]


def plot_area(el, frame) -> tuple[float, float, float, float]:
    box = el.bounding_box()
    pa = frame.evaluate("""() => { const gd = document.getElementById('plot'), fl = gd._fullLayout,
        r = gd.getBoundingClientRect(); return [r.left + fl._size.l, r.top + fl._size.t, fl._size.w, fl._size.h]; }""")
    return box["x"] + pa[0], box["y"] + pa[1], pa[2], pa[3]


def ids_where(frame, split: str) -> list[int]:
    """Ids of the map's points of one split, smallest class first."""
    return frame.evaluate(f"""() => {{ const d = window.__eosMap.state.d, s = d.splits.indexOf('{split}');
        const rank = new Map(d.styles.map((st, r) => [st.code, r]));
        const out = []; for (let i = 0; i < d.n; i++) if (d.split[i] === s) out.push([-rank.get(d.cls[i]), d.ids[i]]);
        out.sort((a, b) => a[0] - b[0]); return out.map((p) => p[1]); }}""")


def hover(page, el, frame, pid, timeout_ms: int = 20000) -> None:
    x, y = point_xy(el, frame, pid)
    page.mouse.move(x - 25, y - 25)
    page.mouse.move(x, y, steps=5)
    frame.wait_for_selector(f'#tip[data-state="ready"][data-id="{int(pid)}"]', timeout=timeout_ms)


def drag(page, frame, pts: list[tuple[float, float]], mode: str) -> int:
    """Drag a box or lasso through ``pts``; the number of points the map selected."""
    page.mouse.move(*pts[0])
    page.mouse.down()
    for p in pts[1:]:
        page.mouse.move(*p, steps=3)
    page.mouse.up()
    try:
        frame.wait_for_function(f"window.__eosMap.state.mode === '{mode}'", timeout=20000)
    except Exception as err:
        page.screenshot(path=str(ARTIFACTS / f"pages_map_{mode}_failed.png"))
        raise AssertionError(f"no {mode} selection; map state: " + str(frame.evaluate(
            "[window.__eosMap.state.mode, window.__eosMap.state.selected.length, "
            "document.getElementById('plot')._fullLayout.dragmode]")) + f" dragged {pts[:2]}") from err
    return int(frame.evaluate("window.__eosMap.state.selected.length"))


def visible_point(page, el, frame, ids: list[int]) -> int:
    """The first id whose point is the one plotly hovers at its own pixel (not covered by another)."""
    for pid in ids[:40]:
        try:
            hover(page, el, frame, pid, timeout_ms=3000)
            return int(pid)
        except Exception:  # noqa: BLE001 — another point on top: try the next one
            continue
    raise AssertionError("no hoverable point")


def test_gap_page_hover_click_box_lasso(browser, digits_server) -> None:
    server, run_id = digits_server
    page = browser.new_page()
    try:
        page.set_viewport_size({"width": 1400, "height": 1300})  # the whole map and panel in view
        page.goto(f"{server.url}/gap?run={run_id}")
        el, frame = map_frame(page, "gap_map")
        wait_idle(page)
        assert "UMAP" in frame.evaluate("window.__eosMap.state.title")
        # Hover: the point's image in the map (a non-blank thumbnail).
        pid = visible_point(page, el, frame, ids_where(frame, "test"))
        assert f"#{pid}" in frame.inner_text("#tip")
        assert frame.evaluate("""() => { const c = document.querySelector('#tip canvas');
            const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            return Array.from(px).some((v, i) => i % 4 < 3 && v > 0); }""")
        page.screenshot(path=str(ARTIFACTS / "pages_map_gap_hover.png"))
        # Click: the card with that id, its image and its nearest training images.
        page.mouse.click(*point_xy(el, frame, pid))
        card = page.locator(".st-key-gap_sel_card")
        card.wait_for(timeout=30000)
        assert f"#{pid}" in card.inner_text()
        page.get_by_text("Nearest real training points").wait_for(timeout=30000)
        wait_idle(page)
        assert card.locator("img").count() == 1 and page.locator('[data-testid="stImage"] img').count() >= 1 + 8
        page.screenshot(path=str(ARTIFACTS / "pages_map_gap_click.png"))
        # Box over the middle of the map: the summary table, the grid and the CSV button.
        frame.click('.modebar-btn[data-val="select"]')
        x0, y0, w, h = plot_area(el, frame)
        n_box = drag(page, frame, [(x0 + 0.1 * w, y0 + 0.1 * h), (x0 + 0.9 * w, y0 + 0.9 * h)], "box")
        assert n_box > 48
        page.get_by_text(f"{n_box:,} points selected (box)").wait_for(timeout=30000)
        wait_idle(page)
        assert page.locator('.st-key-gap_sel_multi [data-testid="stDataFrame"]').count() == 1
        assert page.locator(".st-key-gap_sel_csv").count() == 1
        assert page.locator('.st-key-gap_sel_multi [data-testid="stImage"] img').count() == 48  # page 1 of the grid
        page.screenshot(path=str(ARTIFACTS / "pages_map_gap_box.png"), full_page=True)
        # Next page of the grid.
        page.locator(".st-key-gap_sel_page button[data-testid='stNumberInputStepUp']").click()
        wait_idle(page)
        assert page.locator(".st-key-gap_sel_page input").input_value() == "2"
        # Lasso: a polygon over the left half.
        frame.click('.modebar-btn[data-val="lasso"]')
        x0, y0, w, h = plot_area(el, frame)  # the page may have scrolled to the page input
        page.mouse.dblclick(x0 + 0.02 * w, y0 + 0.02 * h)  # a double click clears the box first
        frame.wait_for_function("window.__eosMap.state.mode === null", timeout=20000)
        cx, cy, rx, ry = x0 + 0.35 * w, y0 + 0.5 * h, 0.3 * w, 0.4 * h
        n_lasso = drag(page, frame, [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 25)],
                       "lasso")
        assert n_lasso > 0
        page.get_by_text(f"{n_lasso:,} points selected (lasso)").wait_for(timeout=30000)
        wait_idle(page)
        assert page.locator(".st-key-gap_sel_page input").count() == 0 or \
            page.locator(".st-key-gap_sel_page input").input_value() == "1"  # a new selection starts on page 1
        page.screenshot(path=str(ARTIFACTS / "pages_map_gap_lasso.png"), full_page=True)
    finally:
        page.close()


def test_synthetic_page_segments_hover_and_card(browser, digits_server) -> None:
    server, run_id = digits_server
    page = browser.new_page()
    try:
        page.set_viewport_size({"width": 1400, "height": 1300})
        page.goto(f"{server.url}/synthetic?run={run_id}")
        el, frame = map_frame(page, "syn_sel_eos")
        map_frame(page, "syn_sel_smote")
        wait_idle(page)
        n_seg = frame.evaluate("window.__eosMap.state.segments.length") // 4
        assert n_seg == 40  # the default sample of segments
        legend = frame.evaluate("document.querySelector('.legend').textContent")
        assert "synthetic" in legend and "base → partner" in legend
        syn = ids_where(frame, "synthetic")
        pid = visible_point(page, el, frame, syn[::-1])
        assert frame.locator("#tip canvas").count() == 2 and "partner" in frame.inner_text("#tip")
        page.screenshot(path=str(ARTIFACTS / "pages_map_synthetic_hover.png"))
        page.mouse.click(*point_xy(el, frame, pid))
        card = page.locator(".st-key-syn_panel_eos_card")
        card.wait_for(timeout=30000)
        text = card.inner_text()
        assert f"#{pid}" in text and "r = " in text and "partner" in text
        wait_idle(page)
        page.screenshot(path=str(ARTIFACTS / "pages_map_synthetic_click.png"), full_page=True)
        # Every method side by side: segments for the interpolating ones, none for ROS (and it says so).
        ms = page.locator(".st-key-syn_methods")
        for label in ("Borderline-SMOTE", "ADASYN", "ROS"):
            ms.click()
            page.get_by_role("option", name=label, exact=True).click()
            wait_idle(page)
        page.keyboard.press("Escape")
        for key in ("syn_sel_bsmote", "syn_sel_adasyn"):
            _, f = map_frame(page, key)
            assert f.evaluate("window.__eosMap.state.segments.length") > 0, key
        _, f = map_frame(page, "syn_sel_ros")
        assert f.evaluate("window.__eosMap.state.segments.length") == 0
        page.get_by_text("ROS adds copies of real points").wait_for(timeout=10000)
        wait_idle(page)
        page.screenshot(path=str(ARTIFACTS / "pages_map_synthetic_all_methods.png"), full_page=True)
    finally:
        page.close()


def _stored_verdict(runs: Path, run_id: str) -> dict:
    """The engine's verdict on the files the runs stored: ``run_id``'s gap and every run's heads (one per seed)."""
    import json

    from eos_core.evaluation import verdict

    def read(rid: str, name: str) -> dict:
        return json.loads((runs / rid / f"{name}.json").read_text())

    ids = [p.name for p in sorted(runs.iterdir()) if (p / "methods.json").exists()]
    return verdict(read(run_id, "gap"), [read(r, "methods") for r in ids], classes=read(run_id, "phase1")["classes"])


def _verdict_text(page, part: str) -> str:
    """The verdict sentence of one part as the browser shows it (the paragraph after its heading)."""
    paragraphs = page.locator(f".st-key-verdict_{part} p").all_inner_texts()
    return paragraphs[-1].strip()


def test_heads_verdict_matches_the_stored_numbers_and_follows_the_seeds(browser, digits_server) -> None:
    """*Head accuracy* opens with the verdict: its sentences are the engine's on the stored run, every
    number in them a stored value; the button trains the missing seeds and the verdict becomes a call
    without a reload (the seeds section reruns the page when its job ends)."""
    from verdict_check import check_sentences

    server, run_id = digits_server
    page = browser.new_page()
    try:
        page.set_viewport_size({"width": 1400, "height": 1000})
        page.goto(f"{server.url}/heads?run={run_id}")
        page.locator(".st-key-verdict_oversampling").wait_for(timeout=60000)
        wait_idle(page)
        expected = _stored_verdict(server.runs, run_id)
        assert expected["oversampling"]["call"] == "not yet a verdict"
        shown = {p: _verdict_text(page, p) for p in ("gap", "oversampling")}
        assert shown == {p: expected[p]["sentence"] for p in ("gap", "oversampling")}
        check_sentences(expected, shown)
        page.screenshot(path=str(ARTIFACTS / "pages_map_heads_verdict.png"))
        page.get_by_role("button", name="Train 2 more seeds of this configuration for a verdict").click()
        page.get_by_text("This page updates itself").first.wait_for(timeout=60000)
        calls = ("EOS ahead.", "EOS behind.", "No clear difference.")
        page.wait_for_function(  # no reload: the page must change by itself
            "calls => calls.some(c => (document.querySelector('.st-key-verdict_oversampling') || {}).innerText"
            "?.includes(c))", arg=list(calls), timeout=600000, polling=1000)
        wait_idle(page)
        expected = _stored_verdict(server.runs, run_id)
        assert expected["oversampling"]["seeds"] == 3
        shown = {p: _verdict_text(page, p) for p in ("gap", "oversampling")}
        assert shown == {p: expected[p]["sentence"] for p in ("gap", "oversampling")}
        check_sentences(expected, shown)
        page.screenshot(path=str(ARTIFACTS / "pages_map_heads_verdict_3_seeds.png"), full_page=True)
        page.goto(f"{server.url}/gap?run={run_id}")
        page.locator(".st-key-verdict_gap").wait_for(timeout=60000)
        map_frame(page, "gap_map")
        wait_idle(page)
        assert _verdict_text(page, "gap") == expected["gap"]["sentence"]
        page.screenshot(path=str(ARTIFACTS / "pages_map_gap_verdict.png"))
    finally:
        page.close()


@pytest.mark.skipif(not (Path(os.environ.get("EOS_DATA_DIR", "/nonexistent")) / "FashionMNIST").exists(),
                    reason="Fashion-MNIST not found under $EOS_DATA_DIR")
def test_fashion_mnist_ratio_100_map_shows_every_class(browser, tmp_path_factory) -> None:
    runs = tmp_path_factory.mktemp("pages-map-fashion")
    run_id = make_run(runs, "--dataset", "fashion-mnist", "--ratio", "100", "--max-per-class", "600",
                      "--epochs", "2", "--head-epochs", "1", "--methods", "eos", "--no-gap-snapshots")
    server = StreamlitServer(runs, ARTIFACTS / "pages_map_fashion_streamlit.log")
    page = browser.new_page()
    try:
        server.wait_healthy()
        page.goto(f"{server.url}/gap?run={run_id}")
        el, frame = map_frame(page, "gap_map", timeout_s=240)
        wait_idle(page)
        page.mouse.move(5, 5)
        page.wait_for_timeout(500)
        shot = ARTIFACTS / "pages_map_fashion_r100.png"
        el.screenshot(path=str(shot))
        from PIL import Image

        rgb = np.asarray(Image.open(shot).convert("RGB")).astype(int)
        # Every class's own colour (blended with white at its opacity) in at least 50 pixels of the plot area.
        # (Translucent points over other points blend into other colours, so this is a lower bound.)
        info = frame.evaluate("""() => { const d = window.__eosMap.state.d, gd = document.getElementById('plot'),
            fl = gd._fullLayout, r = gd.getBoundingClientRect();
            return { colors: d.class_colors, names: d.class_names, styles: d.styles,
                     area: [r.left + fl._size.l, r.top + fl._size.t, fl._size.w, fl._size.h] }; }""")
        x, y, w, h = (int(round(v)) for v in info["area"])
        plot = rgb[y:y + h, x:x + w]
        opacity = {st["code"]: st["opacity"] for st in info["styles"]}
        pixels = {}
        for code, (name, col) in enumerate(zip(info["names"], info["colors"], strict=True)):
            ref = np.array([opacity[code] * int(col[k:k + 2], 16) + (1 - opacity[code]) * 255 for k in (1, 3, 5)])
            pixels[name] = int((np.abs(plot - ref).max(-1) <= 25).sum())
        print("pixels of each class's colour:", pixels)
        assert len(pixels) == 10 and min(pixels.values()) >= 50, pixels
    finally:
        page.close()
        server.stop()
