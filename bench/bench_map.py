"""Benchmark the map component in headless Chromium on its demo page (``ui/map_component/demo_app.py``).

Timed, wall clock from the test driver (playwright round trips included, a few ms):

* **first paint** of an N-point map: from ``page.goto`` to the plot drawn in the component
  (``body[data-ready]``), cold (first load: demo data built, sprite sheets written) and warm (a fresh page,
  Streamlit's cache and the sheets already there); plus, inside the frame, the unpack and plotly draw times;
* **hover-to-image**: mouse onto a point until its thumbnail is drawn in the tooltip (first hover of a
  sheet fetches the PNG sheet; later hovers on the same sheet do not) — median over several points;
* **zoom**: a ``Plotly.relayout`` to a 4x zoom until the next animation frame — median;
* **click-to-card**: click on a point until the map has sent the selection (``click_in_map``) and until Python's
  answer (``Selected: 1 points`` and its id) is shown;
* **lasso of ~5,000 points**: mouse up of a lasso drawn around ~5,000 points until the map has sent the ids
  (``lasso_in_map``) and until Python shows the count and the per-class summary table.
A screenshot of each map goes to ``test-artifacts/bench/map_<n>.png``.

Usage::

    .venv/bin/python bench/bench_map.py                 # 2,000 and 100,000 points -> bench/results/map.json
    .venv/bin/python bench/bench_map.py --sizes 100000 --out /tmp/m.json
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from common import ROOT, machine, write_result

SHOTS = ROOT / "test-artifacts" / "bench"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def start_server(port: int, served: str, log: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1", EOS_MAP_COMPONENT_DIR=served)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "ui/map_component/demo_app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True,  # noqa: SIM115
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"demo server did not start; see {log}")


def open_map(page, url: str, timeout_s: float = 300.0):
    t0 = time.perf_counter()
    page.goto(url)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        el = page.query_selector("iframe")
        frame = el.content_frame() if el else None
        if frame is not None and frame.evaluate("document.body.dataset.ready || ''"):
            return el, frame, time.perf_counter() - t0
        page.wait_for_timeout(20)
    raise RuntimeError("the map did not draw")


def pixel(el, frame, pid) -> tuple[float, float]:
    box = el.bounding_box()
    p = frame.evaluate(f"window.__eosMap.pointPixel({int(pid)})")
    return box["x"] + p["x"], box["y"] + p["y"]


def bench_size(browser, url: str, n: int, points) -> dict:
    out: dict = {"n_points": int(len(points))}
    page = browser.new_page()
    el, frame, cold = open_map(page, f"{url}/?n={n}")
    out["first_paint_cold_s"] = round(cold, 3)
    page.close()
    paints, inner = [], []
    for _ in range(3):
        page = browser.new_page()
        el, frame, t = open_map(page, f"{url}/?n={n}")
        paints.append(t)
        page.wait_for_timeout(300)
        # Where the time goes: page start -> component frame created -> plotly.js loaded -> args -> drawn.
        t = frame.evaluate("""() => { const r = performance.getEntriesByType('resource')
            .find((e) => e.name.includes('plotly.min.js'));
            return Object.assign({origin: performance.timeOrigin, plotlyEnd: r ? r.responseEnd : null,
                                  plotlyMs: r ? r.duration : null}, window.__eosMap.times); }""")
        t["frameStart"] = t["origin"] - page.evaluate("performance.timeOrigin")
        inner.append(t)
        page.close()
    out["first_paint_warm_s"] = round(statistics.median(paints), 3)
    out["first_paint_warm_all_s"] = [round(v, 3) for v in paints]
    out["frame_unpack_ms"] = round(statistics.median(t["unpackMs"] for t in inner), 1)
    out["frame_draw_ms"] = round(statistics.median(t["drawMs"] for t in inner), 1)
    out["breakdown_ms"] = {  # medians, from the page's navigation start
        "frame_created": round(statistics.median(t["frameStart"] for t in inner)),
        "plotly_js_loaded": round(statistics.median(t["frameStart"] + t["plotlyEnd"] for t in inner)),
        "plotly_js_fetch": round(statistics.median(t["plotlyMs"] for t in inner)),
        "plotly_js_run": round(statistics.median(t["frameStart"] + t["mapJs"] for t in inner)),
        "args_received": round(statistics.median(t["frameStart"] + t["firstRender"] for t in inner)),
        "painted": round(statistics.median(t["frameStart"] + t["painted"] for t in inner)),
    }

    page = browser.new_page()
    el, frame, _ = open_map(page, f"{url}/?n={n}")
    page.wait_for_timeout(500)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"map_{n}.png"))
    # Hover: smallest-class train points (drawn on top) spread over different sprite sheets.
    rng = np.random.default_rng(0)
    cand = points[points["split"] != "synthetic"]["id"].to_numpy()
    first, again = [], []
    for pid in rng.choice(cand, 6, replace=False):
        for store in (first, again):
            x, y = pixel(el, frame, pid)
            page.mouse.move(5, 5)  # off the map: the tooltip hides
            frame.wait_for_function("document.getElementById('tip').dataset.state !== 'ready'")
            t0 = time.perf_counter()
            page.mouse.move(x, y)
            try:
                frame.wait_for_selector('#tip[data-state="ready"]', timeout=15000)
                store.append(time.perf_counter() - t0)
            except Exception:  # another point on top of this one: not this point's tooltip
                pass
    out["hover_to_image_first_ms"] = round(1000 * statistics.median(first), 1) if first else None
    out["hover_to_image_cached_ms"] = round(1000 * statistics.median(again), 1) if again else None
    out["hover_samples"] = [len(first), len(again)]

    zooms = []
    for k in range(5):
        zooms.append(frame.evaluate("""(k) => new Promise((res) => {
            const gd = document.getElementById('plot');
            const xa = gd._fullLayout.xaxis.range, ya = gd._fullLayout.yaxis.range;
            const f = k % 2 ? 4 : 0.25, cx = (xa[0] + xa[1]) / 2, cy = (ya[0] + ya[1]) / 2;
            const hx = (xa[1] - xa[0]) / 2 / f, hy = (ya[1] - ya[0]) / 2 / f, t0 = performance.now();
            Plotly.relayout(gd, {'xaxis.range': [cx - hx, cx + hx], 'yaxis.range': [cy - hy, cy + hy]})
              .then(() => requestAnimationFrame(() => res(performance.now() - t0))); })""", k + 1))
    out["zoom_ms"] = round(statistics.median(zooms), 1)
    frame.evaluate("Plotly.relayout(document.getElementById('plot'), "
                   "{'xaxis.autorange': true, 'yaxis.autorange': true})")
    page.wait_for_timeout(500)

    # Click-to-card on a point of the smallest class (on top).
    smallest = points["class_name"].value_counts().idxmin()
    pid = int(points[(points["class_name"] == smallest) & (points["split"] == "train")]["id"].iloc[0])
    x, y = pixel(el, frame, pid)
    page.mouse.move(x, y)
    seq = frame.evaluate("window.__eosMap.state.seq")
    t0 = time.perf_counter()
    page.mouse.click(x, y)
    frame.wait_for_function(f"window.__eosMap.state.seq > {seq}", timeout=60000)
    out["click_in_map_ms"] = round(1000 * (time.perf_counter() - t0), 1)
    page.get_by_text("(mode: click)").wait_for(timeout=60000)  # the id may be a point drawn over this one
    page.get_by_text("ids: ").wait_for(timeout=60000)
    out["click_to_card_ms"] = round(1000 * (time.perf_counter() - t0), 1)

    # Lasso around ~5,000 points (a circle around the densest class centre, radius from the data).
    if len(points) >= 8000:
        big = points["class_name"].value_counts().idxmax()
        sub = points[points["class_name"] == big]
        c = np.array([sub["x"].median(), sub["y"].median()])
        d = np.hypot(points["x"] - c[0], points["y"] - c[1]).to_numpy()
        radius = float(np.sort(d)[4999])
        verts = [[float(c[0] + radius * np.cos(a)), float(c[1] + radius * np.sin(a))]
                 for a in np.linspace(0, 2 * np.pi, 33)]
        px = frame.evaluate("""(vs) => { const gd = document.getElementById('plot'), fl = gd._fullLayout,
            r = gd.getBoundingClientRect();
            return vs.map(([x, y]) => [r.left + fl._size.l + fl.xaxis.l2p(x),
                                       r.top + fl._size.t + fl.yaxis.l2p(y)]); }""",
                            verts)
        frame.click('.modebar-btn[data-val="lasso"]')
        box = el.bounding_box()
        page.mouse.move(box["x"] + px[0][0], box["y"] + px[0][1])
        page.mouse.down()
        for vx, vy in px[1:]:
            page.mouse.move(box["x"] + vx, box["y"] + vy, steps=2)
        seq = frame.evaluate("window.__eosMap.state.seq")
        t0 = time.perf_counter()
        page.mouse.up()
        frame.wait_for_function(f"window.__eosMap.state.seq > {seq}", timeout=120000)
        out["lasso_in_map_ms"] = round(1000 * (time.perf_counter() - t0), 1)
        page.get_by_text("(mode: lasso)").wait_for(timeout=120000)
        page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=60000)
        out["lasso_to_summary_ms"] = round(1000 * (time.perf_counter() - t0), 1)
        out["lasso_selected"] = int(frame.evaluate("window.__eosMap.state.selected.length"))
    page.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="2000,100000")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))
    from ui.map_component.demo import demo_points

    served = tempfile.mkdtemp(prefix="eos-map-bench-")
    log = Path(served) / "streamlit.log"
    port = 8600 + os.getpid() % 300
    proc = start_server(port, served, log)
    result = {"machine": machine(), "browser": "Debian chromium, headless, --disable-gpu (SwiftShader WebGL)",
              "page": "ui/map_component/demo_app.py", "sizes": {}}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
            ctx = browser.new_context(viewport={"width": 1400, "height": 900}, device_scale_factor=1)
            for n in (int(s) for s in args.sizes.split(",")):
                result["sizes"][str(n)] = r = bench_size(ctx, f"http://127.0.0.1:{port}", n, demo_points(n))
                print(n, r, flush=True)
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    result["served_plotly_js_bytes"] = (Path(served) / "plotly.min.js").stat().st_size
    if args.out:
        Path(args.out).write_text(__import__("json").dumps(result, indent=1))
        print("wrote", args.out)
    else:
        print("wrote", write_result("map", result))


if __name__ == "__main__":
    main()
