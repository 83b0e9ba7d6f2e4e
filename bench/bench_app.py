"""Benchmark the Streamlit app in a real browser (headless Chromium driven by playwright).

Timed (median of the repeats; every value is in the JSON):

(a) **Cold start**: from launching ``streamlit run app.py`` (a fresh process; a fresh browser
    context, so an empty HTTP cache) to a usable *Setup & train* page. Split into: server healthy;
    widgets shown (the Train button and the class-size caption); **usable** — a click on the "step"
    profile, issued as soon as the widgets show, answered (the caption changed); the class-size
    chart drawn; the first script run finished (``script_finished`` on the websocket; ``app.py``'s
    torch warm-up runs a few seconds later, in a timed fragment, see ``ui.warmup``). Also the server's
    CPU seconds until usable and the browser renderer's busy time (CDP ``Performance.getMetrics``) until
    the chart is drawn. Goal: usable <= 5 s.
(b) **Page switch with cached results**: a digits run made beforehand with the engine
    (``eos_core.pipeline.run_pipeline``, few epochs, every oversampler); the app computes and saves
    its UMAP map on a first visit of *Embedding gap*, then every page is visited once. Then, cycling
    through the sidebar, a click until the page's charts are drawn **and** its script run has
    finished; with the server CPU and renderer busy time of each switch. Goal: <= 1 s.
(c) **Saved UMAP map**: in the same cycles, from the click on *Embedding gap* to the map component
    drawn (the saved UMAP map, checked by its title). Goal: <= 0.5 s.
(d) **Map interactions** (issue 9) on ``ui/map_component/demo_app.py?n=100000&panel=1`` — the map
    component with the app's selection panel (:func:`ui.selection.selection_panel`) over 100,000 points:
    first paint of the map (navigation to the map drawn), hover → image shown in the map (first hover of
    a sprite sheet and later ones), click → the point's card, and a lasso around ~5,000 points → the
    summary and the first page of the image grid. Goals: first paint <= 5 s, hover <= 0.2 s, click
    <= 1 s, lasso of 5,000 <= 1.5 s.

It also profiles what the first page pays for, in one fresh process (imports of the app modules,
the digits load, the torch import of the warm-up; plus ``-X importtime`` cumulative figures).

Usage::

    .venv/bin/python bench/bench_app.py            # writes bench/results/app_cpu.json (~2 min)
    .venv/bin/python bench/bench_app.py --cold 3 --cycles 5 --epochs 5
    .venv/bin/python bench/bench_app.py --cold-only --out /tmp/a.json
    .venv/bin/python bench/bench_app.py --opt runner.postScriptGC=false --out /tmp/nogc.json
    .venv/bin/python bench/bench_app.py --app /tmp/variant/app.py --out /tmp/v.json   # pages/ beside it

Wall-clock figures depend on the machine's load (server and browser share the CPUs): the JSON
records the load average, and the CPU-time columns are the load-independent part.
Needs Debian's ``chromium`` and the ``playwright`` package (never run ``playwright install``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.metadata as md
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The browser tests' harness (tests/e2e/harness.py): the same server class, Chromium and its flags.
from tests.e2e.harness import VIEWPORT, StreamlitServer, find_chromium, launch_browser  # noqa: E402

GOALS = {"cold_start_interactive_s": 5.0, "page_switch_s": 1.0, "saved_map_s": 0.5, "map_first_paint_100k_s": 5.0,
         "map_hover_image_s": 0.2, "map_click_card_s": 1.0, "map_lasso_5000_grid_s": 1.5}
# sidebar label, page title, chart keys drawn when the page is complete (MAP_KEYS: map components)
PAGES = [
    ("Setup & train", "Setup & train", ["counts_chart"]),
    ("Embedding gap", "Embedding gap", ["gap_map", "gap_bars", "gap_epochs"]),
    ("Synthetic inspector", "Synthetic inspector", ["syn_sel_eos", "syn_sel_smote", "syn_closure"]),
    ("Head accuracy", "Head accuracy", ["recall_heatmap"]),
]
MAP_KEYS = {"gap_map", "syn_sel_eos", "syn_sel_smote"}
# The saved UMAP map is shown (the map component's title, inside its same-origin iframe).
UMAP_SHOWN_JS = """() => { const f = document.querySelector('.st-key-gap_map iframe'), w = f && f.contentWindow;
    return !!(w && w.__eosMap && w.__eosMap.state.title && w.__eosMap.state.title.startsWith('UMAP')
              && w.document.body.dataset.ready); }"""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# =============================================================================================
# server and browser helpers


class AppServers:
    """How this benchmark starts ``streamlit run``: the app script (``--app``) and extra options (``--opt``)."""

    app: Path = ROOT / "app.py"
    options: list[str] = []  # extra "--section.option value" pairs

    @classmethod
    def app_server(cls, runs_dir: Path, log_path: Path) -> StreamlitServer:
        """The app on ``runs_dir``, run from its own folder (a variant's ``app_pages/`` beside it)."""
        return StreamlitServer(log_path, script=cls.app, runs_dir=runs_dir, options=cls.options, cwd=cls.app.parent)

    @classmethod
    def map_server(cls, log_path: Path) -> StreamlitServer:
        """``ui/map_component/demo_app.py``: the map with the app's selection panel."""
        demo = ROOT / "ui" / "map_component" / "demo_app.py"
        return StreamlitServer(log_path, script=demo, runs_dir=Path(tempfile.gettempdir()), options=cls.options,
                               cwd=demo.parent)


class ScriptWatcher:
    """Timestamps (perf_counter) of ``script_finished`` messages on the page's websocket."""

    def __init__(self, page) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self._msg = ForwardMsg
        self.finished: list[tuple[float, int]] = []
        page.on("websocket", self._attach)

    def _attach(self, ws) -> None:
        ws.on("framereceived", self._frame)

    def _frame(self, payload) -> None:
        if not isinstance(payload, (bytes, bytearray)):
            return
        msg = self._msg()
        try:
            msg.ParseFromString(bytes(payload))
        except Exception:  # noqa: BLE001 — not a ForwardMsg
            return
        if msg.WhichOneof("type") == "script_finished":
            self.finished.append((time.perf_counter(), msg.script_finished))

    def wait_finished_after(self, page, t0: float, timeout: float = 120.0, any_status: bool = False) -> float:
        ok = (self._msg.FINISHED_SUCCESSFULLY,)
        if any_status:  # an interrupted first run (a click during it) ends "early for rerun"
            ok = (self._msg.FINISHED_SUCCESSFULLY, self._msg.FINISHED_EARLY_FOR_RERUN)
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            for t, status in self.finished:
                if t >= t0 and status in ok:
                    return t
            page.wait_for_timeout(10)
        raise TimeoutError("no script_finished within the timeout")


def _drawn_js(key: str) -> str:
    if key in MAP_KEYS:
        return (f"(() => {{ const f = document.querySelector('.st-key-{key} iframe'), d = f && f.contentDocument; "
                "return !!(d && d.body && d.body.dataset.ready); })()")
    return f"!!document.querySelector('.st-key-{key} .js-plotly-plot .main-svg')"


def charts_drawn_js(title: str | None, keys: list[str]) -> str:
    cond = " && ".join(_drawn_js(k) for k in keys) or "true"
    if title:
        cond = (f"[...document.querySelectorAll('h1')].some(h => h.innerText.trim() === {json.dumps(title)})"
                f" && {cond}")
    return f"() => {cond}"


class RendererMetrics:
    """Chromium's own counters for the page's renderer main thread (CDP ``Performance``)."""

    def __init__(self, page) -> None:
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Performance.enable")

    def snapshot(self) -> dict[str, float]:
        return {m["name"]: m["value"] for m in self.cdp.send("Performance.getMetrics")["metrics"]}

    @staticmethod
    def delta(a: dict, b: dict) -> dict[str, float]:
        return {"renderer_task_s": b["TaskDuration"] - a["TaskDuration"],
                "renderer_script_s": b["ScriptDuration"] - a["ScriptDuration"]}


def problems(page) -> list[str]:
    out = []
    for sel in ('[data-testid="stException"]', '[data-testid="stAlertContentError"]'):
        loc = page.locator(sel)
        out += [loc.nth(i).inner_text()[:300] for i in range(loc.count())]
    return out


def summary(values: list[float]) -> dict:
    return {"median_s": statistics.median(values), "min_s": min(values), "max_s": max(values),
            "values_s": [round(v, 4) for v in values]}


# =============================================================================================
# (a) cold start


def cold_start(browser, runs_dir: Path, log_path: Path) -> dict:
    """Launch → healthy → widgets shown → a click answered; the chart and the first run's end too."""
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    watcher = ScriptWatcher(page)
    metrics = RendererMetrics(page)
    server = AppServers.app_server(runs_dir, log_path)
    try:
        healthy = server.wait_healthy()
        m0 = metrics.snapshot()
        page.goto(server.url + "/", wait_until="commit", timeout=60_000)
        caption_js = """() => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
                              .some(c => c.innerText.includes('training images'))"""
        page.wait_for_function(
            "() => !!document.querySelector('.st-key-train_button button') && (" + caption_js + ")()",
            polling="raf", timeout=120_000)
        widgets = time.perf_counter() - server.started
        # Interact at once: the "step" profile changes the class sizes and their caption.
        caption = page.locator('[data-testid="stCaptionContainer"]', has_text="training images").first
        before = caption.inner_text()
        page.locator(".st-key-setup_profile").get_by_text("step", exact=True).click()
        page.wait_for_function(
            """(before) => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
                 .some(c => c.innerText.includes('training images') && c.innerText !== before)""",
            arg=before, polling="raf", timeout=120_000)
        interactive = time.perf_counter() - server.started
        page.wait_for_function(charts_drawn_js(None, ["counts_chart"]), polling="raf", timeout=120_000)
        chart = time.perf_counter() - server.started
        renderer = RendererMetrics.delta(m0, metrics.snapshot())["renderer_task_s"]
        cpu_at_interactive = server.cpu_s()
        watcher.wait_finished_after(page, server.started, any_status=True)
        first_done = watcher.finished[0][0] - server.started
        return {"healthy_s": healthy, "widgets_s": widgets, "interactive_s": interactive,
                "chart_drawn_s": chart, "first_run_finished_s": first_done,
                "server_cpu_at_interactive_s": cpu_at_interactive, "renderer_busy_to_chart_s": renderer,
                "loadavg_1min": os.getloadavg()[0], "problems": problems(page)}
    finally:
        ctx.close()
        server.stop()


# =============================================================================================
# (b) + (c) page switches on a saved run


def make_run(runs_dir: Path, epochs: int) -> tuple[str, float]:
    from eos_core.config import RunConfig, TrainConfig
    from eos_core.pipeline import run_pipeline
    from eos_core.store import RunStore

    t = time.perf_counter()
    # no map: (b) measures the app computing it on the first visit, as for a run saved without one
    res = run_pipeline(RunConfig(train=TrainConfig(epochs=epochs)), store=RunStore(runs_dir), with_map=False)
    return res.phase1.run_id, time.perf_counter() - t


def switch_to(page, watcher: ScriptWatcher, label: str, title: str, keys: list[str],
              first_key: str | None = None, server: StreamlitServer | None = None,
              metrics: RendererMetrics | None = None) -> dict:
    nav = page.locator('[data-testid="stSidebarNav"] a', has_text=label)
    m0 = metrics.snapshot() if metrics else None
    c0 = server.cpu_s() if server else None
    t0 = time.perf_counter()
    nav.click()
    out = {}
    if first_key:
        page.wait_for_function(charts_drawn_js(title, [first_key]), polling="raf", timeout=60_000)
        out["first_chart_s"] = time.perf_counter() - t0
    page.wait_for_function(charts_drawn_js(title, keys), polling="raf", timeout=120_000)
    out["drawn_s"] = time.perf_counter() - t0
    out["finished_s"] = watcher.wait_finished_after(page, t0) - t0
    out["complete_s"] = max(out["drawn_s"], out["finished_s"])
    if metrics:
        page.wait_for_timeout(300)  # let the last frames settle before reading the counters
        out.update(RendererMetrics.delta(m0, metrics.snapshot()))
    if server:
        out["server_cpu_s"] = server.cpu_s() - c0
    out["problems"] = problems(page)
    return out


def page_switches(browser, runs_dir: Path, log_path: Path, cycles: int) -> dict:
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    watcher = ScriptWatcher(page)
    metrics = RendererMetrics(page)
    server = AppServers.app_server(runs_dir, log_path)
    try:
        server.wait_healthy()
        page.goto(server.url + "/", timeout=60_000)
        page.wait_for_function(charts_drawn_js("Setup & train", ["counts_chart"]), polling="raf", timeout=120_000)
        # First visit of Embedding gap: PCA preview while the UMAP map is computed and saved.
        t = time.perf_counter()
        page.locator('[data-testid="stSidebarNav"] a', has_text="Embedding gap").click()
        page.wait_for_function(UMAP_SHOWN_JS, polling=200, timeout=300_000)
        first_map = time.perf_counter() - t
        log(f"first visit of Embedding gap: UMAP map computed and shown after {first_map:.1f} s")
        # Warm every page once.
        for label, title, keys in PAGES:
            switch_to(page, watcher, label, title, keys)
        rows: dict[str, list[dict]] = {title: [] for _, title, _ in PAGES}
        for c in range(cycles):
            for label, title, keys in PAGES:
                r = switch_to(page, watcher, label, title, keys,
                              first_key="gap_map" if title == "Embedding gap" else None,
                              server=server, metrics=metrics)
                if title == "Embedding gap":
                    r["map_kind"] = "umap" if page.evaluate(UMAP_SHOWN_JS) else "not umap"
                rows[title].append(r)
            log(f"cycle {c + 1}/{cycles}: " + ", ".join(f"{t} {rs[-1]['complete_s']:.2f}s" for t, rs in rows.items()))
        return {"first_map_visit_s": first_map, "rows": rows}
    finally:
        ctx.close()
        server.stop()


# =============================================================================================
# (d) map interactions at 100,000 points


def _map_frame(page, timeout_s: float = 300.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        el = page.query_selector(".st-key-demo iframe")
        frame = el.content_frame() if el else None
        if frame is not None and frame.evaluate("document.body && document.body.dataset.ready || ''"):
            return el, frame
        page.wait_for_timeout(20)
    raise RuntimeError("the map did not draw")


def _pixels(el, frame) -> tuple[list, list]:
    """Page pixel (x, y) of every point, and the plot area (x, y, w, h) in page pixels."""
    box = el.bounding_box()
    got = frame.evaluate("""() => { const s = window.__eosMap.state, d = s.d, gd = document.getElementById('plot'),
        fl = gd._fullLayout, r = gd.getBoundingClientRect(), xs = [], ys = [];
        for (let i = 0; i < d.n; i++) { xs.push(r.left + fl._size.l + fl.xaxis.l2p(d.x[i]));
                                        ys.push(r.top + fl._size.t + fl.yaxis.l2p(d.y[i])); }
        return { xs, ys, ids: d.ids, area: [r.left + fl._size.l, r.top + fl._size.t, fl._size.w, fl._size.h] }; }""")
    import numpy as np

    xy = np.c_[np.asarray(got["xs"]) + box["x"], np.asarray(got["ys"]) + box["y"]]
    a = got["area"]
    return xy, got["ids"], (a[0] + box["x"], a[1] + box["y"], a[2], a[3])


def map_interactions(browser, log_path: Path, n: int, repeats: int) -> dict:
    import numpy as np

    ctx = browser.new_context(viewport={"width": 1400, "height": 1300})
    page = ctx.new_page()
    server = AppServers.map_server(log_path)
    out: dict = {"n_points": n}
    try:
        server.wait_healthy()
        t0 = time.perf_counter()
        page.goto(f"{server.url}/?n={n}&panel=1", timeout=120_000)
        el, frame = _map_frame(page)
        out["first_paint_s"] = time.perf_counter() - t0
        out["browser_times_ms"] = frame.evaluate("window.__eosMap.times")
        page.wait_for_timeout(1000)
        xy, ids, (ax, ay, aw, ah) = _pixels(el, frame)
        out["n_points"] = len(ids)
        rng = np.random.default_rng(0)
        # Hover: points whose pixel no other point shares closely (so plotly picks exactly that one).
        inside = (xy[:, 0] > ax + 5) & (xy[:, 0] < ax + aw - 150) & (xy[:, 1] > ay + 5) & (xy[:, 1] < ay + ah - 5)
        cand = rng.permutation(np.flatnonzero(inside))[:400]
        hovers, hovered = [], []
        for i in cand:
            if len(hovers) >= repeats:
                break
            page.mouse.move(xy[i, 0] - 30, xy[i, 1] - 30)
            page.wait_for_timeout(150)
            t = time.perf_counter()
            page.mouse.move(xy[i, 0], xy[i, 1])
            try:
                frame.wait_for_selector('#tip[data-state="ready"]', timeout=3000)
            except Exception:  # noqa: BLE001 — another point picked or none: try the next one
                continue
            hovers.append(time.perf_counter() - t)
            hovered.append(i)
        out["hover_image"] = summary(hovers) if hovers else None
        # Click -> the card (the selection panel's, drawn by a rerun).
        clicks = []
        for i in hovered[:repeats]:
            pid = ids[i]
            page.mouse.move(xy[i, 0] - 30, xy[i, 1] - 30)
            page.mouse.move(xy[i, 0], xy[i, 1])
            try:
                frame.wait_for_selector(f'#tip[data-state="ready"][data-id="{pid}"]', timeout=3000)
            except Exception:  # noqa: BLE001
                continue
            t = time.perf_counter()
            page.mouse.down()
            page.mouse.up()
            try:
                page.locator(".st-key-demo_sel_card", has_text=f"#{pid} ").wait_for(timeout=30_000)
            except Exception:  # noqa: BLE001
                continue
            clicks.append(time.perf_counter() - t)
        out["click_card"] = summary(clicks) if clicks else None
        # Lasso around ~5,000 points: a 24-gon whose radius is chosen on the points' pixels.
        frame.click('.modebar-btn[data-val="lasso"]')
        lassos, counts = [], []
        for rep in range(repeats):
            c = xy[rng.choice(np.flatnonzero(inside))]
            d = np.hypot(*(xy - c).T)
            r = float(np.sort(d)[min(5000, len(d) - 1)])
            poly = [(c[0] + r * np.cos(a), c[1] + r * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 25)]
            poly = [(min(max(x, ax + 2), ax + aw - 2), min(max(y, ay + 2), ay + ah - 2)) for x, y in poly]
            page.mouse.dblclick(ax + 3, ay + 3)  # clear the previous selection
            page.wait_for_timeout(1500)
            page.mouse.move(*poly[0])
            page.mouse.down()
            for p in poly[1:]:
                page.mouse.move(*p, steps=2)
            t = time.perf_counter()
            page.mouse.up()
            frame.wait_for_function("window.__eosMap.state.mode === 'lasso'", timeout=30_000)
            k = int(frame.evaluate("window.__eosMap.state.selected.length"))
            page.locator(".st-key-demo_sel_multi", has_text=f"{k:,} points selected").wait_for(timeout=60_000)
            page.wait_for_function("""() => document.querySelectorAll(
                '.st-key-demo_sel_multi [data-testid="stImage"] img').length >= 48
                && [...document.querySelectorAll('.st-key-demo_sel_multi [data-testid="stImage"] img')]
                   .every(im => im.complete)""", polling="raf", timeout=60_000)
            lassos.append(time.perf_counter() - t)
            counts.append(k)
            log(f"lasso {rep + 1}/{repeats}: {k} points -> grid in {lassos[-1]:.2f} s")
        out["lasso_grid"] = summary(lassos)
        out["lasso_points"] = counts
        out["loadavg_1min"] = os.getloadavg()[0]
        out["problems"] = problems(page)
        return out
    finally:
        ctx.close()
        server.stop()


# =============================================================================================
# profile of the first page's costs

PROFILE_SCRIPT = r"""
import json, sys, time
sys.path.insert(0, %(root)r)
t = {}


def step(name, fn):
    t0 = time.perf_counter()
    fn()
    t[name] = time.perf_counter() - t0


step("import streamlit", lambda: __import__("streamlit"))
step("import ui.figures (pandas, plotly)", lambda: __import__("ui.figures.maps"))
step("import ui.state, ui.cache", lambda: [__import__(m) for m in ("ui.state", "ui.cache")])
step("import ui.map_component, ui.selection", lambda: [__import__(m) for m in ("ui.map_component", "ui.selection")])
step("import eos_core.config/imbalance/data",
     lambda: [__import__(m) for m in ("eos_core.config", "eos_core.data._imbalance", "eos_core.data._datasets")])
step("load_dataset('digits') (imports sklearn)",
     lambda: sys.modules["eos_core.data._datasets"].load_dataset("digits"))
step("import eos_core.pipeline (torch; deferred warm-up)", lambda: __import__("eos_core.pipeline"))
step("import umap (numba, pynndescent)", lambda: __import__("umap"))
print("PROFILE" + json.dumps(t))
"""


def profile_first_page() -> dict:
    code = PROFILE_SCRIPT % {"root": str(ROOT)}
    res = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    steps = {}
    for line in res.stdout.splitlines():
        if line.startswith("PROFILE"):
            steps = json.loads(line[len("PROFILE"):])
    heavy = {}
    for line in res.stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = [p.strip() for p in line[len("import time:"):].split("|")]
        if len(parts) != 3 or not parts[1].isdigit():
            continue
        name = parts[2]
        if name in ("streamlit", "pandas", "plotly", "plotly.graph_objects", "sklearn", "scipy", "torch",
                    "torchvision", "umap", "numba", "pynndescent", "faiss", "imblearn", "ui.figures", "ui.state",
                    "ui.map_component", "ui.selection"):
            heavy.setdefault(name, int(parts[1]) / 1e6)
    return {"steps_s": steps, "importtime_cumulative_s": heavy}


# =============================================================================================
# report


def machine_info(chromium: str) -> dict:
    try:
        cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")),
                   platform.processor())
    except OSError:
        cpu = platform.processor()
    try:
        chromium_version = subprocess.run([chromium, "--version"], capture_output=True, text=True,
                                          timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        chromium_version = None
    versions = {}
    for pkg in ("streamlit", "plotly", "pandas", "numpy", "torch", "umap-learn", "numba", "scikit-learn",
                "playwright"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    return {
        "platform": platform.platform(), "python": platform.python_version(), "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1),
        "chromium": chromium_version, "versions": versions,
        "loadavg_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def verdict(value: float, goal: float) -> str:
    return "✅" if value <= goal else "❌"


def markdown(r: dict) -> str:
    rows = ["| measure | median (s) | min–max (s) | goal (s) | met |", "|---|---:|---:|---:|:-:|"]

    def row(name, s, goal=None):
        if s is None:
            rows.append(f"| {name} | not measured | | | |")
            return
        g = f"{goal:g}" if goal is not None else "—"
        ok = verdict(s["median_s"], goal) if goal is not None else ""
        rows.append(f"| {name} | {s['median_s']:.2f} | {s['min_s']:.2f}–{s['max_s']:.2f} | {g} | {ok} |")

    mp = r.get("map")
    if mp:
        n = f"{mp['n_points']:,}"
        row(f"(d) first paint of a {n}-point map (navigation → drawn)", summary([mp["first_paint_s"]]),
            GOALS["map_first_paint_100k_s"])
        row(f"(d) hover → the point's image in the map ({n} points)", mp["hover_image"], GOALS["map_hover_image_s"])
        row(f"(d) click → the point's card ({n} points)", mp["click_card"], GOALS["map_click_card_s"])
        pts = mp.get("lasso_points") or [0]
        row(f"(d) lasso of {min(pts):,}–{max(pts):,} points → summary + first grid page", mp["lasso_grid"],
            GOALS["map_lasso_5000_grid_s"])
    if "cold_start" not in r:
        return "\n".join(rows)
    a = r["cold_start"]["summary"]

    row("(a) launch → server healthy", a["healthy_s"])
    row("(a) launch → widgets shown (Train button, class-size caption)", a["widgets_s"])
    row("(a) launch → **usable** (a click on the profile answered)", a["interactive_s"],
        GOALS["cold_start_interactive_s"])
    row("(a) launch → class-size chart drawn", a["chart_drawn_s"])
    row("(a) launch → first script run finished (torch warm-up deferred)", a["first_run_finished_s"])
    row("(a) server CPU used until usable (process user+sys)", a["server_cpu_at_interactive_s"])
    row("(a) browser renderer busy until the chart is drawn", a["renderer_busy_to_chart_s"])
    ps = r.get("page_switch")
    if not ps:
        return "\n".join(rows)
    for title, s in ps["summary"].items():
        row(f"(b) switch → {title} (charts drawn + run finished)", s, GOALS["page_switch_s"])
    row("(c) switch → Embedding gap: saved UMAP map node present", ps["saved_map"], GOALS["saved_map_s"])
    rows += ["", "| page switch | server CPU (s) | browser renderer busy (s) | charts drawn (s) | run finished (s) |",
             "|---|---:|---:|---:|---:|"]
    for title, rs in ps["rows"].items():
        med = {k: statistics.median(x[k] for x in rs) for k in ("server_cpu_s", "renderer_task_s", "drawn_s",
                                                                 "finished_s") if all(k in x for x in rs)}
        nan = float("nan")
        rows.append(f"| {title} | {med.get('server_cpu_s', nan):.2f} | {med.get('renderer_task_s', nan):.2f} | "
                    f"{med['drawn_s']:.2f} | {med['finished_s']:.2f} |")
    return "\n".join(rows)


class _ColdOnly(Exception):
    pass


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cold", type=int, default=3, help="cold-start repeats")
    ap.add_argument("--cycles", type=int, default=5, help="page-switch cycles over the four pages")
    ap.add_argument("--epochs", type=int, default=5, help="epochs of the digits run made for (b) and (c)")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--opt", action="append", default=[], metavar="SECTION.OPTION=VALUE",
                    help="extra streamlit option for every server, e.g. --opt runner.postScriptGC=false")
    ap.add_argument("--cold-only", action="store_true", help="only (a), the cold start")
    ap.add_argument("--map-only", action="store_true", help="only (d), the map interactions")
    ap.add_argument("--map-n", type=int, default=100_000, help="points on the map of (d)")
    ap.add_argument("--map-repeats", type=int, default=5, help="repeats of each interaction of (d)")
    ap.add_argument("--app", default=str(ROOT / "app.py"), help="the app script (pages/ beside it)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "app_cpu.json"))
    args = ap.parse_args(argv)

    chromium = find_chromium()
    if chromium is None:
        print("Chromium not found: apt-get install chromium", file=sys.stderr)
        return 2
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("playwright not installed: .venv/bin/pip install -r requirements-dev.txt", file=sys.stderr)
        return 2

    AppServers.app = Path(args.app).resolve()
    for o in args.opt:
        name, _, value = o.partition("=")
        AppServers.options += [f"--{name}", value]

    t_all = time.perf_counter()
    results = {"date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
               "machine": machine_info(chromium), "goals_s": GOALS,
               "setup": {"viewport": VIEWPORT, "cold_repeats": args.cold, "switch_cycles": args.cycles,
                         "run": {"dataset": "digits", "epochs": args.epochs, "methods": "all (default)"},
                         "app": (str(AppServers.app.relative_to(ROOT)) if AppServers.app.is_relative_to(ROOT)
                                 else str(AppServers.app)),
                         "streamlit_options": AppServers.options,
                         "notes": "fresh server process and fresh browser context (empty HTTP cache) per cold "
                                  "start; OS file cache warm after the first; Chromium launched once, not timed"}}
    work = Path(tempfile.mkdtemp(prefix="eos-bench-app-"))
    try:
        if not args.no_profile:
            log("profiling the first page's imports …")
            results["profile"] = profile_first_page()
        with sync_playwright() as pw:
            browser = launch_browser(pw, chromium)
            try:
                # (d) — the map at scale, first: the other parts leave the OS caches warm for nothing here
                log(f"map interactions on {args.map_n:,} points …")
                results["map"] = map_interactions(browser, work / "map.log", args.map_n, args.map_repeats)
                if args.map_only:
                    raise _ColdOnly
                # (a) — an empty run store, as on a first start
                reps = []
                for i in range(args.cold):
                    r = cold_start(browser, work / f"runs-cold-{i}", work / f"cold-{i}.log")
                    log(f"cold start {i + 1}/{args.cold}: " + ", ".join(
                        f"{k.removesuffix('_s')} {v:.2f}" for k, v in r.items() if isinstance(v, float)))
                    reps.append(r)
                keys = ["healthy_s", "widgets_s", "interactive_s", "chart_drawn_s", "first_run_finished_s",
                        "server_cpu_at_interactive_s", "renderer_busy_to_chart_s"]
                results["cold_start"] = {
                    "repeats": reps,
                    "summary": {k: summary([r[k] for r in reps]) for k in keys},
                }
                # (b) + (c)
                if args.cold_only:
                    raise _ColdOnly
                runs = work / "runs"
                log(f"training a {args.epochs}-epoch digits run with the engine …")
                run_id, secs = make_run(runs, args.epochs)
                log(f"run {run_id} in {secs:.1f} s")
                sw = page_switches(browser, runs, work / "switch.log", args.cycles)
                results["page_switch"] = {
                    "run_id": run_id, "run_seconds": secs, "first_map_visit_s": sw["first_map_visit_s"],
                    "rows": sw["rows"],
                    "summary": {t: summary([x["complete_s"] for x in rs]) for t, rs in sw["rows"].items()},
                    "drawn_summary": {t: summary([x["drawn_s"] for x in rs]) for t, rs in sw["rows"].items()},
                    "saved_map": summary([x["first_chart_s"] for x in sw["rows"]["Embedding gap"]]),
                    "loadavg_1min_end": os.getloadavg()[0],
                }
            except _ColdOnly:
                pass
            finally:
                browser.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["total_s"] = time.perf_counter() - t_all
    results["machine"]["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(markdown(results))
    m = results["machine"]
    print(f"\n{results['date']} · {m['cpu']} · {m['cpu_count']} CPUs · streamlit {m['versions']['streamlit']} · "
          f"{m['chromium']} · total {results['total_s']:.0f} s · {out}")
    if "profile" in results:
        print("\nFirst-page costs (one process, in order):")
        for k, v in results["profile"]["steps_s"].items():
            print(f"  {v:6.2f} s  {k}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
