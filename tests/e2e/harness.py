"""The browser-test harness: a ``streamlit run`` server, headless Chromium, a seeded run store and page waits.

Used by the pytest fixtures of ``tests/e2e/conftest.py`` (one server and one browser for the whole test
run) and by ``bench/bench_app.py`` (its own servers, timed). It imports neither pytest nor playwright at
module level, so a benchmark can import it on a machine without them and say what is missing.

The browser is the distribution's Chromium (Debian package ``chromium``) driven by the ``playwright``
Python package through ``executable_path``: nothing is downloaded (never run ``playwright install``).

Waiting: every wait here is a Playwright state wait (``expect``, ``Locator.wait_for``), never a fixed
sleep, so a test is as fast as the app on an idle machine and only slower, not flaky, on a loaded one.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Frame, Page, Playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}

# Streamlit marks its app root with the script's state ("initial", "running", "notRunning", ...).
APP_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
APP_BUSY = '[data-testid="stApp"]:not([data-test-script-state="notRunning"])'
EXCEPTION = '[data-testid="stException"]'
ERROR_BOX = '[data-testid="stAlertContentError"]'

# The run every test finds in the shared store (the same as ``python -m eos_core run --dataset digits
# --ratio 20 --epochs 3 --head-epochs 2 --methods eos,smote,bsmote,adasyn,ros``): small enough to train
# in seconds, with every oversampler that draws segments on *Synthetic inspector*.
SEED_RUN = {"dataset": "digits", "ratio": 20.0, "epochs": 3, "head_epochs": 2,
            "methods": ["eos", "smote", "bsmote", "adasyn", "ros"]}


def find_chromium() -> str | None:
    """Debian's Chromium (``/usr/bin/chromium``), else the first ``chromium`` on ``PATH``; None if absent."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def launch_browser(playwright: Playwright, executable: str | None = None) -> Browser:
    """A headless Chromium; callers open a fresh context (cookies, cache) per test or per measurement."""
    return playwright.chromium.launch(executable_path=executable or find_chromium(), headless=True,
                                      args=CHROMIUM_ARGS)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the server binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux ``/proc``), 0.0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class StreamlitServer:
    """``streamlit run <script>`` on a free port of 127.0.0.1, in its own process group, logging to a file.

    Parameters
    ----------
    log_path : Path
        The server's stdout and stderr.
    script : str or Path
        The Streamlit script, relative to ``cwd`` (``app.py``; ``ui/map_component/demo_app.py`` for the map demo).
    runs_dir : Path, optional
        Exported as ``EOS_RUNS_DIR`` (the app's run store); ``EOS_DATA_DIR`` and the rest are inherited.
    env : dict, optional
        Extra environment variables.
    options : sequence of str
        Extra ``streamlit run`` arguments, e.g. ``["--runner.postScriptGC", "false"]``.
    cwd : Path, optional
        Working directory of the server, the repository root by default.

    The process starts in the constructor; :meth:`wait_healthy` waits for it. Use it as a context
    manager, or call :meth:`stop`, so that no server outlives its test.
    """

    def __init__(self, log_path: Path, *, script: str | Path = "app.py", runs_dir: Path | None = None,
                 env: dict[str, str] | None = None, options: Sequence[str] = (), cwd: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.runs_dir = runs_dir
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        full_env = dict(os.environ, **(env or {}))
        if runs_dir is not None:
            full_env["EOS_RUNS_DIR"] = str(runs_dir)
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        self._log = open(self.log_path, "w")  # noqa: SIM115 — closed in stop()
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
             "--server.port", str(self.port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false", *options],
            cwd=cwd or ROOT, env=full_env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def __enter__(self) -> StreamlitServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_healthy(self, timeout: float = 90.0) -> float:
        """Seconds from launch until ``/_stcore/health`` answers; RuntimeError (with the log) otherwise.

        An HTTP health check is the only way to know the port is served, so this one wait polls.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"streamlit did not become healthy within {timeout:.0f} s:\n{self.log_tail()}")

    def cpu_s(self) -> float:
        """CPU seconds the server process has used so far."""
        return proc_cpu_s(self.proc.pid)

    def log_tail(self, n: int = 60) -> str:
        """The last ``n`` lines of the server's log (for assertion messages)."""
        try:
            self._log.flush()
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except (OSError, ValueError):
            return "(no log)"

    def stop(self) -> None:
        """SIGTERM to the process group, SIGKILL after 15 s; idempotent."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(10)
        if not self._log.closed:
            self._log.close()


def train_run(runs_dir: Path, *, dataset: str, ratio: float, epochs: int, head_epochs: int, methods: list[str],
              max_per_class: int | None = None, gap_snapshots: bool = True) -> str:
    """Train one run (seed 0) with the engine into ``runs_dir``, with its UMAP map, as the CLI's ``run`` does.

    Runs in the calling process: the test process pays for the torch import once, not once per run.

    Returns
    -------
    str
        The run's id; the run is finished, with ``methods.json`` and ``projection_umap.npz``.
    """
    import torch

    from eos_core import DataConfig, HeadConfig, RunConfig, RunStore, TrainConfig, run_pipeline

    cfg = RunConfig(data=DataConfig(dataset=dataset, ratio=float(ratio), max_per_class=max_per_class),
                    train=TrainConfig(epochs=epochs, gap_snapshots=gap_snapshots), head=HeadConfig(epochs=head_epochs),
                    methods=list(methods)).with_seed(0)
    # One torch thread, unless $EOS_TORCH_THREADS says otherwise: beside the server and Chromium on a busy
    # 2-core box, torch's second OpenMP thread spin-waits (a Fashion-MNIST run: 23 s with one, 37-67 s with two).
    threads = torch.get_num_threads()
    env = os.environ.get("EOS_TORCH_THREADS", "")
    torch.set_num_threads(int(env) if env.isdigit() and int(env) > 0 else 1)
    try:
        run_id = run_pipeline(cfg, store=RunStore(runs_dir), data_dir=os.environ.get("EOS_DATA_DIR")).phase1.run_id
    finally:
        torch.set_num_threads(threads)
    # The pages open the saved map without a job; a run without it would test the map job instead.
    if not (runs_dir / run_id / "projection_umap.npz").exists():
        raise RuntimeError(f"the run {run_id} has no UMAP map")
    return run_id


def seed_store(runs_dir: Path) -> str:
    """Train :data:`SEED_RUN` into ``runs_dir``; its run id."""
    return train_run(runs_dir, **SEED_RUN)


# ---------------------------------------------------------------------------------------------- page waits

# Installed in every test's browser context (conftest.py): in the app's top document, when the script
# last became idle and when the user last did something that can start a run (an input event, or a
# component sending its value). Inputs inside a component's iframe reach Python only as that message.
IDLE_TRACKER = """(() => {
    if (window !== window.top) return;
    const s = window.__eosIdle = { since: null, input: 0 };
    const mark = () => { s.input = performance.now(); };
    for (const t of ['pointerdown', 'pointerup', 'click', 'keydown', 'input', 'change']) {
        window.addEventListener(t, mark, true);
    }
    window.addEventListener('message', (e) => {
        if (e.data && e.data.isStreamlitMessage && e.data.type === 'streamlit:setComponentValue') mark();
    }, true);
    let app = null;
    const update = () => {
        app = app && app.isConnected ? app : document.querySelector('[data-testid="stApp"]');
        const idle = !!app && app.getAttribute('data-test-script-state') === 'notRunning';
        if (!idle) s.since = null; else if (s.since === null) s.since = performance.now();
    };
    new MutationObserver(update).observe(document, { subtree: true, childList: true, attributes: true,
                                                     attributeFilter: ['data-test-script-state'] });
})()"""
QUIET_JS = """(quiet) => { const s = window.__eosIdle;
    return s.since !== null && performance.now() - Math.max(s.since, s.input) >= quiet; }"""


def track_idle(context: BrowserContext) -> None:
    """Let :func:`wait_idle` on this context's pages count the idle time before it is called."""
    context.add_init_script(script=IDLE_TRACKER)


def wait_idle(page: Page, timeout_s: float = 90.0, quiet_s: float = 0.75) -> None:
    """Wait until the app's script has not been running for ``quiet_s`` seconds.

    A widget change reaches the server a moment after the click, and a finished run can trigger the
    next one (a component's value, a fragment), so one "not running" sample is not enough: the state
    must stay idle for ``quiet_s``. On a page with the :func:`track_idle` script, the quiet time counts
    from the later of the script's last run and the last input, so a page already idle (after an
    ``expect`` that waited for a rerun's result) returns at once; elsewhere it counts from this call.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    timeout_msg = f"the app was still running after {timeout_s:.0f} s"
    if page.evaluate("() => !!window.__eosIdle"):
        try:
            page.wait_for_function(QUIET_JS, arg=quiet_s * 1000, timeout=timeout_s * 1000)
        except PlaywrightTimeout:
            raise AssertionError(timeout_msg) from None
        return
    deadline = time.monotonic() + timeout_s
    while True:
        left_ms = (deadline - time.monotonic()) * 1000
        if left_ms <= 0:
            raise AssertionError(timeout_msg)
        try:
            page.locator(APP_IDLE).wait_for(state="attached", timeout=left_ms)
        except PlaywrightTimeout:
            raise AssertionError(timeout_msg) from None
        try:
            page.locator(APP_BUSY).wait_for(state="attached", timeout=quiet_s * 1000)
        except PlaywrightTimeout:
            return  # quiet for quiet_s


def wait_layout_stable(page: Page | Frame, frames: int = 5) -> None:
    """Wait until the page's (or frame's) plots keep their size for ``frames`` animation frames (re-laid out)."""
    page.evaluate("""(need) => new Promise((resolve) => {
        const sizes = () => Array.from(document.querySelectorAll('.js-plotly-plot, iframe'),
                                       (e) => { const r = e.getBoundingClientRect(); return r.width + 'x' + r.height; })
                                  .join(',') + '|' + document.documentElement.scrollHeight;
        let last = sizes(), same = 0;
        const tick = () => { const now = sizes(); same = now === last ? same + 1 : 0; last = now;
                             if (same >= need) resolve(); else requestAnimationFrame(tick); };
        requestAnimationFrame(tick);
    })""", frames)


def problems_on(page: Page) -> list[str]:
    """The texts of every Streamlit exception and error box on the page."""
    out = []
    for sel, what in ((EXCEPTION, "exception"), (ERROR_BOX, "error box")):
        for text in page.locator(sel).all_inner_texts():
            out.append(f"{what}: {text[:500]}")
    return out


def full_page_screenshot(page: Page, path: Path) -> None:
    """A screenshot of the whole page.

    Streamlit scrolls inside its own container, so a plain full-page shot only covers the viewport:
    the viewport grows to the content height first, and shrinks back after.
    """
    height = page.evaluate("""() => {
        let h = document.documentElement.scrollHeight;
        for (const el of document.querySelectorAll('main, section, div')) {
            const oy = getComputedStyle(el).overflowY;
            if ((oy === 'auto' || oy === 'scroll') && el.scrollHeight > el.clientHeight + 4) {
                h = Math.max(h, el.scrollHeight);
            }
        }
        return h;
    }""")
    size = page.viewport_size or VIEWPORT
    path.parent.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": size["width"], "height": int(min(max(height + 40, size["height"]), 12000))})
    wait_layout_stable(page)  # Plotly re-lays out responsive charts
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)


def chart(page: Page, key: str) -> Any:
    """The locator of the drawn Plotly chart (its SVG layers) of the element with widget key ``key``."""
    return page.locator(f".st-key-{key} .js-plotly-plot .main-svg").first


def map_drawn(page: Page, key: str | None = None) -> Any:
    """The locator of a map component's ``<body>`` once its first plot is drawn (``body[data-ready]``)."""
    iframe = page.locator(f".st-key-{key} iframe" if key else "iframe").first
    return iframe.content_frame.locator('body[data-ready]:not([data-ready=""])')
