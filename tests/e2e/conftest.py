"""Fixtures for the real-browser test: a `streamlit run app.py` server and a headless Chromium.

The browser is the distribution's Chromium (Debian package ``chromium``) driven by the
``playwright`` Python package through ``executable_path``: nothing is downloaded (never run
``playwright install``). When either is missing the test is skipped with the reason.
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
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    """``streamlit run app.py`` in its own process group, logging to a file."""

    def __init__(self, runs_dir: Path, log_path: Path, *, env: dict | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.runs_dir = runs_dir
        self.log_path = log_path
        full_env = dict(os.environ, **(env or {}))
        full_env["EOS_RUNS_DIR"] = str(runs_dir)  # EOS_DATA_DIR is inherited as is
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        self._log = open(log_path, "w")  # noqa: SIM115 — closed in stop()
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(self.port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=full_env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_healthy(self, timeout: float = 60.0) -> float:
        """Seconds from launch until ``/_stcore/health`` answers ``ok``."""
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
            time.sleep(0.05)
        raise RuntimeError(f"streamlit did not become healthy within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 60) -> str:
        try:
            self._log.flush()
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
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
        self._log.close()


@pytest.fixture(scope="module")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("Chromium not found (Debian: apt-get install chromium); the browser test needs it")
    return path


@pytest.fixture(scope="module")
def playwright_api():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright Python package is not installed (pip install -r requirements-dev.txt)")
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright_api, chromium_path, tmp_path_factory):
    """A headless Chromium with a fresh user-data dir (a persistent context is the way to pass one)."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    context = playwright_api.chromium.launch_persistent_context(
        str(profile), executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 900}, device_scale_factor=1,
    )
    try:
        yield context
    finally:
        context.close()


@pytest.fixture(scope="module")
def streamlit_server(tmp_path_factory):
    """A running app on a free port with an empty, temporary run store; always stopped."""
    runs = tmp_path_factory.mktemp("eos-e2e-runs")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    server = StreamlitServer(runs, ARTIFACTS / "streamlit.log")
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()
